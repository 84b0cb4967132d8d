"""How numbers and times are shown to people (the admin; the pages do the same in api.js).

One rule for every figure, so that a value is never shown as a different one:

- ``number_text``: ``decimals`` places (2 by default), thousands separated by commas, float
  noise rounded away (``76.03000000000017`` -> ``76.03``). A value below 1 in size keeps two
  significant digits, so a small non-zero value never reads as zero (``-0.003`` -> ``-0.003``,
  ``0.0123`` -> ``0.012``), up to ``MAX_DECIMALS`` places; ``None`` and NaN are "—".
- ``utc_text``: a UTC nanosecond timestamp as ``YYYY-MM-DD HH:MM:SS UTC``, computed in integers
  (nanoseconds exceed a float's precision); a value outside the calendar is shown as is.
- ``duration_text``: seconds as ``1 h 5 min``, ``3 min 20 s``, ``42 s`` or ``0.3 s``.

``static/js/api.js`` (``OST.num``, ``OST.nsToDateTime``, ``OST.duration``) follows the same
rules; ``tests/test_formatting.py`` checks both against the same hand-written cases.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

MISSING = "—"
MAX_DECIMALS = 10
NS_PER_SECOND = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decimals_for(value: float, decimals: int = 2) -> int:
    """Decimal places that show ``value`` with ``decimals`` places, or two significant
    digits when it is below 1 in size (trailing zeros beyond ``decimals`` are dropped)."""
    size = abs(value)
    if size == 0 or size >= 1:
        return decimals
    return min(MAX_DECIMALS, max(decimals, 1 - math.floor(math.log10(size))))


def number_text(value: object, *, decimals: int = 2) -> str:
    """``value`` as people read it (see the module docstring); "—" when it is not a number."""
    if value is None or isinstance(value, bool):
        return MISSING
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MISSING
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    places = decimals_for(number, decimals)
    # Half away from zero on the shortest decimal that reads back as the float (2.675, not
    # 2.67499999...), as the browsers' Intl.NumberFormat does: the pages show the same.
    rounded = Decimal(repr(number)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{places}f}"
    if places > decimals:  # extra places only for small values: drop their trailing zeros
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0").ljust(decimals, "0")
        text = f"{whole}.{fraction}" if fraction else whole
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]  # -0.00
    return text


def utc_text(ts_ns: object, *, seconds: bool = True) -> str:
    """A UTC nanosecond timestamp as ``YYYY-MM-DD HH:MM[:SS] UTC``; "—" for None."""
    if ts_ns is None or isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        return MISSING
    try:
        moment = _EPOCH + timedelta(microseconds=ts_ns // 1000)
    except OverflowError:  # outside the calendar: the raw number rather than a failure
        return str(ts_ns)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def duration_text(seconds: object) -> str:
    """A duration in seconds as ``2 h 5 min``, ``3 min 20 s``, ``42 s`` or ``0.3 s``."""
    if seconds is None or isinstance(seconds, bool):
        return MISSING
    try:
        total = float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MISSING
    if not math.isfinite(total) or total < 0:
        return MISSING
    if total < 10:
        return f"{total:.1f} s" if total % 1 else f"{total:.0f} s"
    whole = round(total)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def ns_duration_text(start_ns: object, end_ns: object) -> str:
    """The time from ``start_ns`` to ``end_ns`` (UTC ns) as ``duration_text``; "—" if unknown."""
    if not isinstance(start_ns, int) or not isinstance(end_ns, int):
        return MISSING
    return duration_text(max(0, end_ns - start_ns) / NS_PER_SECOND)
