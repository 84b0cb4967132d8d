"""Windows of N real bars of one symbol of a run, for the chart page's browsing.

A window is counted in bars, not in clock time: "120 bars" from Friday 20:00 are Friday's last
bars and Monday's first, never a weekend of nothing. ``bar_window_locate`` answers where such a
window starts and ends (the first and last bar's timestamps), where the windows before and
after it begin, and the symbol's first and last bar in the run, so that First / Previous /
Next / Last step over nights, weekends and holidays.

Bars are those the charts draw: the run's recorded bars, or, for a run recorded with
``record=trades``, the security master's bars within the run's dates (searched in spans that
widen until enough bars are found).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from backtests.charts import loading
from backtests.models import ProcessedBar, RecordedBar, Run
from ostsite.errors import InvalidInput

MAX_WINDOW_BARS = 50_000  # the interactive chart draws this many (charts.columns)
POSITIONS = ("first", "last")
ONE_ANCHOR = "give one of start_ns, end_ns or position"
BARS_INVALID = f"bars must be a whole number from 1 to {MAX_WINDOW_BARS}"
_LOWEST, _HIGHEST = -(2**63), 2**63 - 1
# Security-master searches: spans of (factor x bars) bar periods, widened until enough bars.
_SEARCH_FACTORS = (3, 30, 300, 3000)


@dataclass(frozen=True)
class BarWindow:
    """A window of bars of one symbol; timestamps are UTC ns, None where there is none."""

    symbol: str
    bars: int  # bars in the window (fewer than asked at the ends of the data)
    start_ns: int | None  # the window's first bar
    end_ns: int | None  # its last bar
    previous_end_ns: int | None  # the bar just before the window (Previous ends there)
    next_start_ns: int | None  # the bar just after it (Next starts there)
    data_start_ns: int | None  # the symbol's first bar in the run
    data_end_ns: int | None  # its last bar

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _RecordedTimes:
    """Bar times from the run's recorded bars (index run, time, symbol)."""

    def __init__(self, model: type, run: Run, symbol: str) -> None:
        self.rows = model.objects.filter(run=run, symbol=symbol)

    def after(self, ts: int, count: int) -> list[int]:
        """Up to ``count`` bar times at or after ``ts``, ascending."""
        rows = self.rows.filter(ts_event_ns__gte=ts).order_by("ts_event_ns")
        return list(rows.values_list("ts_event_ns", flat=True)[:count])

    def before(self, ts: int, count: int) -> list[int]:
        """Up to ``count`` bar times at or before ``ts``, ascending."""
        rows = self.rows.filter(ts_event_ns__lte=ts).order_by("-ts_event_ns")
        return list(rows.values_list("ts_event_ns", flat=True)[:count])[::-1]


class _SecmasterTimes:
    """Bar times from the security master within the run's dates (trades-only runs)."""

    def __init__(self, run: Run, symbol: str) -> None:
        self.feed = loading._secmaster_feed(run, [symbol])
        lo = self.feed.start_ns if self.feed is not None else None
        hi = self.feed.end_ns if self.feed is not None else None
        self.lo = lo if lo is not None else _LOWEST
        self.hi = hi - 1 if hi is not None else _HIGHEST  # inclusive
        self.step = self.feed.bar_period.nanoseconds if self.feed is not None else 1
        self._bounds = self._coverage() if self.feed is not None else None

    def _coverage(self) -> tuple[int, int] | None:
        from backtests.feeds import DEFAULT_SYMBOL_TYPE
        from secmaster.models import SymbolCoverage

        row = (
            SymbolCoverage.objects.filter(
                publisher_id=self.feed.publisher_id,
                rtype=self.feed.bar_period.rtype,
                symbol_type=DEFAULT_SYMBOL_TYPE,
                symbol__in=self.feed.symbols,
            )
            .values_list("min_ts", "max_ts")
            .first()
        )
        return (max(row[0], self.lo), min(row[1], self.hi)) if row else None

    def _times(self, lo: int, hi: int) -> list[int]:
        """Bar times in [lo, hi] (inclusive), ascending."""
        if lo > hi:
            return []
        return [row[0] for row in loading._feed_rows(self.feed, lo, hi + 1)]

    def after(self, ts: int, count: int) -> list[int]:
        if self._bounds is None:
            return []
        lo, end = max(ts, self._bounds[0]), self._bounds[1]
        for factor in (*_SEARCH_FACTORS, None):
            hi = end if factor is None else min(end, lo + factor * count * self.step)
            found = self._times(lo, hi)
            if len(found) >= count or hi >= end:
                return found[:count]
        return []

    def before(self, ts: int, count: int) -> list[int]:
        if self._bounds is None:
            return []
        start, hi = self._bounds[0], min(ts, self._bounds[1])
        for factor in (*_SEARCH_FACTORS, None):
            lo = start if factor is None else max(start, hi - factor * count * self.step)
            found = self._times(lo, hi)
            if len(found) >= count or lo <= start:
                return found[-count:] if count else []
        return []


def _bar_times(run: Run, symbol: str) -> _RecordedTimes | _SecmasterTimes:
    for model in (ProcessedBar, RecordedBar):
        if model.objects.filter(run=run, symbol=symbol).exists():
            return _RecordedTimes(model, run, symbol)
    return _SecmasterTimes(run, symbol)


def _first(times: list[int]) -> int | None:
    return times[0] if times else None


def _last(times: list[int]) -> int | None:
    return times[-1] if times else None


def bar_window_locate(
    *,
    run_id: str,
    symbol: str,
    bars: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
    position: str | None = None,
) -> BarWindow:
    """The window of ``bars`` bars of ``symbol`` that starts at the first bar at or after
    ``start_ns``, or ends at the last bar at or before ``end_ns``, or is the first / last
    window of the data (``position``; the first when nothing is given).

    Raises ``NotFound`` for an unknown run or a symbol not in it, ``InvalidInput`` when more
    than one anchor is given or ``bars`` is out of range.
    """
    anchors = [a for a in (start_ns, end_ns, position) if a is not None]
    if len(anchors) > 1:
        raise InvalidInput(ONE_ANCHOR, fields={"start_ns": ONE_ANCHOR})
    if isinstance(bars, bool) or not isinstance(bars, int) or not 1 <= bars <= MAX_WINDOW_BARS:
        raise InvalidInput(BARS_INVALID, fields={"bars": BARS_INVALID})
    run = loading.run_get(run_id)
    loading.symbol_check(run, symbol)
    times = _bar_times(run, symbol)
    if end_ns is None and position == "last":
        end_ns = _HIGHEST
    if end_ns is not None:
        found = times.before(end_ns, bars + 1)
        window = found[-bars:]
        previous_end = found[0] if len(found) > bars else None
        next_start = _first(times.after(end_ns + 1, 1)) if end_ns < _HIGHEST else None
    else:
        found = times.after(_LOWEST if start_ns is None else start_ns, bars + 1)
        window = found[:bars]
        next_start = found[bars] if len(found) > bars else None
        previous_end = _last(times.before(start_ns - 1, 1)) if start_ns is not None else None
    return BarWindow(
        symbol=symbol,
        bars=len(window),
        start_ns=_first(window),
        end_ns=_last(window),
        previous_end_ns=previous_end,
        next_start_ns=next_start,
        data_start_ns=_first(times.after(_LOWEST, 1)),
        data_end_ns=_last(times.before(_HIGHEST, 1)),
    )
