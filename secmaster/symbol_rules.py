"""What a stored symbol and instrument id must be, so that a request can name them.

A backtest request, a preset and the coverage API take a symbol as a string that they strip of
surrounding whitespace, of at most ``SYMBOL_MAX_LENGTH`` characters, without NUL and encodable
as UTF-8 (``backtests.services.backtest_spec``, ``secmaster.services.presets``). Ingest refuses
a symbol no such request could name: empty, with spaces at either end (the request's stripped
symbol would never equal it), longer than the limit, with a control character (NUL, line
breaks, ...), or holding a lone surrogate (no database stores it).

DBN records carry instrument ids as unsigned 32-bit integers, so a mapping to any other id
(negative, or beyond 2**32 - 1) could never resolve a bar.
"""

from __future__ import annotations

import unicodedata

SYMBOL_MAX_LENGTH = 100
INSTRUMENT_ID_MAX = 2**32 - 1
SHOWN_CHARACTERS = 40

SYMBOL_NOT_STRING = "it is not a string"
SYMBOL_EMPTY = "it is empty"
SYMBOL_OUTER_SPACE = "it has whitespace at its start or end, which requests strip"
SYMBOL_TOO_LONG = f"it is longer than {SYMBOL_MAX_LENGTH} characters"
SYMBOL_CONTROL = "it holds the control character U+{code:04X}"
SYMBOL_SURROGATE = "it holds the lone surrogate U+{code:04X}, which no database stores"


def symbol_problem(symbol: object) -> str | None:
    """Why no request could name ``symbol`` (a phrase for a message), or None if one can."""
    if not isinstance(symbol, str):
        return SYMBOL_NOT_STRING
    if not symbol:
        return SYMBOL_EMPTY
    if len(symbol) > SYMBOL_MAX_LENGTH:
        return SYMBOL_TOO_LONG
    if symbol != symbol.strip():
        return SYMBOL_OUTER_SPACE
    for character in symbol:
        category = unicodedata.category(character)
        if category == "Cc":
            return SYMBOL_CONTROL.format(code=ord(character))
        if category == "Cs":
            return SYMBOL_SURROGATE.format(code=ord(character))
    return None


def instrument_id_valid(value: object) -> bool:
    """Whether ``value`` is an int a DBN record can carry as its instrument id."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INSTRUMENT_ID_MAX
    )


def shown(text: str) -> str:
    """``repr`` of ``text`` cut to ``SHOWN_CHARACTERS`` for a one-line message."""
    if len(text) <= SHOWN_CHARACTERS:
        return repr(text)
    return f"{text[:SHOWN_CHARACTERS]!r}... ({len(text):,} characters)"
