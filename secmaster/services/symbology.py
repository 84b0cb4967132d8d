"""Symbology: parse Databento's symbology.json, merge mappings into the security master.

A symbol maps to one source instrument on the UTC dates in [start_date, end_date). Intervals of
the same symbol and instrument that overlap are merged into one; intervals of the same symbol
that overlap with *different* instruments are refused, because a bar date would then resolve to
two instruments.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable

from django.db import connections

from ostsite.errors import InvalidInput
from secmaster.dbn_reading import MappingInterval
from secmaster.models import SymbologyMapping
from secmaster.services.instruments import instruments_ensure
from secmaster.symbol_rules import INSTRUMENT_ID_MAX, instrument_id_valid, shown, symbol_problem

DB = "secmaster"
IN_CHUNK = 500

MSG_SYMBOLOGY_JSON = "{source}: invalid JSON: {error}"
MSG_SYMBOLOGY_ROOT = "{source}: expected an object with a 'result' object of symbols"
MSG_SYMBOLOGY_LIST = "{source}: mappings of symbol {symbol!r} must be a list"
MSG_SYMBOLOGY_ENTRY = "{source}: symbol {symbol!r} mapping {index}: {problem}"
MSG_SYMBOLOGY_DEPTH = "{source}: invalid JSON: nested too deeply"
MSG_SYMBOLOGY_SYMBOL = "{source}: symbol {symbol} is refused: {problem}"
MSG_SYMBOLOGY_INSTRUMENT = (
    "{source}: symbol {symbol} maps to instrument id {value}, which is not a DBN instrument id"
    " (a whole number from 0 to {maximum})"
)
MSG_SYMBOLOGY_OVERLAP = (
    "symbology conflict in {source}: symbol {symbol!r} ({symbol_type}) maps to instrument "
    "{first_id} on [{first_start}, {first_end}) and to instrument {second_id} on "
    "[{second_start}, {second_end}), which overlap"
)


class SymbologyError(InvalidInput):
    """symbology.json is malformed, or its mappings contradict each other or the database."""


def _parse_date(value: object, key: str) -> dt.date:
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a date string YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{key}' is not a date YYYY-MM-DD: {value!r}") from None


def symbology_parse(raw: bytes | str, *, source: str) -> list[MappingInterval]:
    """Mapping intervals from a symbology.json document ({"result": {symbol: [{d0, d1, s}]}})."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SymbologyError(MSG_SYMBOLOGY_JSON.format(source=source, error=exc)) from exc
    except RecursionError:
        raise SymbologyError(MSG_SYMBOLOGY_DEPTH.format(source=source)) from None
    if not isinstance(document, dict) or not isinstance(document.get("result"), dict):
        raise SymbologyError(MSG_SYMBOLOGY_ROOT.format(source=source))
    intervals: list[MappingInterval] = []
    for symbol, entries in document["result"].items():
        _check_symbol(symbol, source)
        if not isinstance(entries, list):
            raise SymbologyError(MSG_SYMBOLOGY_LIST.format(source=source, symbol=symbol))
        for index, entry in enumerate(entries):
            try:
                intervals.append(_parse_entry(symbol, entry))
            except ValueError as exc:
                raise SymbologyError(
                    MSG_SYMBOLOGY_ENTRY.format(
                        source=source, symbol=symbol, index=index, problem=exc
                    )
                ) from exc
    return intervals


def _parse_entry(symbol: str, entry: object) -> MappingInterval:
    if not isinstance(entry, dict):
        raise ValueError("must be an object with d0, d1 and s")
    missing = [key for key in ("d0", "d1", "s") if key not in entry]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    start, end = _parse_date(entry["d0"], "d0"), _parse_date(entry["d1"], "d1")
    if end < start:
        raise ValueError(f"d1 {end} is before d0 {start}")
    target = entry["s"]
    if isinstance(target, str) and target.isascii() and target.isdigit() and len(target) <= 20:
        target = int(target)
    if not instrument_id_valid(target):
        shown_target = shown(target) if isinstance(target, str) else repr(target)[:60]
        raise ValueError(
            f"'s' must be an instrument id from 0 to {INSTRUMENT_ID_MAX}, got {shown_target}"
        )
    return MappingInterval(symbol, target, start, end)


def _check_symbol(symbol: object, source: str) -> None:
    problem = symbol_problem(symbol)
    if problem is not None:
        text = shown(symbol) if isinstance(symbol, str) else repr(symbol)
        raise SymbologyError(
            MSG_SYMBOLOGY_SYMBOL.format(source=source, symbol=text, problem=problem)
        )


Key = tuple[dt.date, dt.date, int]  # (start, end, source instrument id)


def _merge_symbol(symbol: str, symbol_type: str, keys: Iterable[Key], source: str) -> set[Key]:
    """Merge overlapping same-instrument intervals; refuse overlaps between instruments.

    Empty intervals (start == end) resolve no date and are dropped.
    """
    by_instrument: dict[int, list[Key]] = defaultdict(list)
    for key in set(keys):
        if key[0] < key[1]:
            by_instrument[key[2]].append(key)
    merged: list[Key] = []
    for instrument, items in by_instrument.items():
        items.sort()
        start, end = items[0][0], items[0][1]
        for next_start, next_end, _ in items[1:]:
            if next_start < end:
                end = max(end, next_end)
            else:
                merged.append((start, end, instrument))
                start, end = next_start, next_end
        merged.append((start, end, instrument))
    merged.sort()
    for i, first in enumerate(merged):
        for second in merged[i + 1 :]:
            if second[0] >= first[1]:
                break
            if second[2] != first[2]:
                raise SymbologyError(
                    MSG_SYMBOLOGY_OVERLAP.format(
                        source=source,
                        symbol=symbol,
                        symbol_type=symbol_type,
                        first_id=first[2],
                        first_start=first[0],
                        first_end=first[1],
                        second_id=second[2],
                        second_start=second[0],
                        second_end=second[1],
                    )
                )
    return set(merged)


def _existing(publisher_id: int, symbol_type: str, symbols: list[str]) -> dict[str, set[Key]]:
    found: dict[str, set[Key]] = defaultdict(set)
    for i in range(0, len(symbols), IN_CHUNK):
        rows = SymbologyMapping.objects.using(DB).filter(
            publisher_id=publisher_id, symbol_type=symbol_type, symbol__in=symbols[i : i + IN_CHUNK]
        )
        for symbol, start, end, sid in rows.values_list(
            "symbol", "start_date", "end_date", "source_instrument_id"
        ):
            found[symbol].add((start, end, sid))
    return found


def symbology_store(
    *,
    publisher_id: int,
    symbol_type: str,
    intervals: Iterable[MappingInterval],
    source: str,
) -> set[str]:
    """Merge ``intervals`` into the symbology table; returns the symbols they name.

    Symbols no request could name and instrument ids no DBN record carries are refused
    (``secmaster.symbol_rules``) before anything is read or written. Call inside the
    caller's transaction: a conflict raises SymbologyError before any row of this call is
    written, and the caller's rollback discards everything else.
    """
    new: dict[str, set[Key]] = defaultdict(set)
    for interval in intervals:
        _check_symbol(interval.symbol, source)
        if not instrument_id_valid(interval.source_instrument_id):
            raise SymbologyError(
                MSG_SYMBOLOGY_INSTRUMENT.format(
                    source=source,
                    symbol=shown(interval.symbol),
                    value=interval.source_instrument_id,
                    maximum=INSTRUMENT_ID_MAX,
                )
            )
        new[interval.symbol].add(
            (interval.start_date, interval.end_date, interval.source_instrument_id)
        )
    if not new:
        return set()
    symbols = sorted(new)
    existing = _existing(publisher_id, symbol_type, symbols)
    final = {
        symbol: _merge_symbol(symbol, symbol_type, new[symbol] | existing[symbol], source)
        for symbol in symbols
    }
    to_delete = [(s, k) for s in symbols for k in sorted(existing[s] - final[s])]
    to_insert = [(s, k) for s in symbols for k in sorted(final[s] - existing[s])]
    instruments_ensure(
        publisher_id=publisher_id, source_ids=sorted({k[2] for s in symbols for k in final[s]})
    )
    with connections[DB].cursor() as cursor:
        cursor.executemany(
            "DELETE FROM symbology WHERE publisher_ref = %s AND symbol = %s AND symbol_type = %s"
            " AND start_date = %s AND end_date = %s AND source_instrument_id = %s",
            [(publisher_id, s, symbol_type, k[0], k[1], k[2]) for s, k in to_delete],
        )
        cursor.executemany(
            "INSERT INTO symbology (publisher_ref, symbol, symbol_type, source_instrument_id,"
            " start_date, end_date) VALUES (%s, %s, %s, %s, %s, %s)",
            [(publisher_id, s, symbol_type, k[2], k[0], k[1]) for s, k in to_insert],
        )
    _instrument_symbols_fill(publisher_id, symbol_type, final)
    return set(symbols)


def _instrument_symbols_fill(
    publisher_id: int, symbol_type: str, final: dict[str, set[Key]]
) -> None:
    """Give each symbol's latest instrument the symbol, where no instrument holds it yet.

    Instruments are unique per (publisher, symbol, symbol_type), so a symbol that moved to a new
    instrument names only one of them; the symbology table stays the full record.
    """
    rows = []
    for symbol in sorted(final):
        if not final[symbol]:
            continue
        latest = max(final[symbol])
        rows.append(
            (symbol, symbol_type, publisher_id, latest[2], publisher_id, symbol, symbol_type)
        )
    with connections[DB].cursor() as cursor:
        cursor.executemany(
            "UPDATE instruments SET symbol = %s, symbol_type = %s"
            " WHERE publisher_ref = %s AND source_instrument_id = %s AND symbol IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM instruments AS other WHERE other.publisher_ref = %s"
            " AND other.symbol = %s AND other.symbol_type = %s)",
            rows,
        )
