"""Finer bars from the security master, for the ``intrabar`` fill model; and tick sizes.

``SecmasterFinerBars`` implements the engine's ``FinerBars`` protocol for a
``SecmasterDatafeed``: a symbol resolves to its instrument through the feed's own symbology
spans (the same instrument the run's bar came from), and the bars of the finer period are read
with one query per ambiguous bar: the ``ohlcv`` rows of the interval along the table's primary
key (a minute or an hour), or the columnar blocks for a day (``bar_columns_read``). Decoding a
whole day's block of 1-second bars costs about 10 ms; 60 rows cost a fraction of a millisecond.

Under 1-minute bars the finer period is 1-second; under hourly and daily bars it is 1-second
where the interval has 1-second bars, else 1-minute. 1-second bars have nothing finer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connections

from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from backtests.engine.ticks import tick_size_infer
from secmaster.bar_blocks import BarColumns, block_span_ns
from secmaster.services.bar_blocks import bar_columns_read

FINER_PERIODS: dict[BarPeriod, tuple[BarPeriod, ...]] = {
    BarPeriod.SECOND: (),
    BarPeriod.MINUTE: (BarPeriod.SECOND,),
    BarPeriod.HOUR: (BarPeriod.SECOND, BarPeriod.MINUTE),
    BarPeriod.DAY: (BarPeriod.SECOND, BarPeriod.MINUTE),
}
ROWS_READ_MAX_NS = 3_600_000_000_000  # intervals up to an hour are read from ohlcv rows
TICK_SAMPLE_BARS = 20_000  # bars of a symbol whose prices give its tick size
PRICE_DIVISOR = 1e9


class SecmasterFinerBars:
    """Finer bars of a ``SecmasterDatafeed``'s symbols (``FinerBars`` protocol)."""

    def __init__(self, *, feed: Any) -> None:
        self.feed = feed
        self.periods = FINER_PERIODS[feed.bar_period]
        self._spans: dict[str, list] | None = None
        self.reads = 0  # queries made (for benchmarks)

    def finer_bars(self, symbol: str, start_ns: int, end_ns: int) -> Sequence[BarReceived]:
        span = self._span_at(symbol, start_ns)
        if span is None:
            return []
        end_ns = min(end_ns, span.end_ns)
        for period in self.periods:
            bars = self._read(symbol, span.instrument_id, period, start_ns, end_ns)
            if bars:
                return bars
        return []

    def _span_at(self, symbol: str, ts: int) -> Any:
        if self._spans is None:
            with connections[self.feed.using].cursor() as cursor:
                spans = self.feed.symbol_spans(cursor)
            self._spans = {}
            for span in spans:
                self._spans.setdefault(span.symbol, []).append(span)
        for span in self._spans.get(symbol, ()):
            if span.start_ns <= ts < span.end_ns:
                return span
        return None

    def _read(
        self, symbol: str, instrument_id: int, period: BarPeriod, start_ns: int, end_ns: int
    ) -> list[BarReceived]:
        """The bars of [start_ns, end_ns): a short range (a minute, an hour) straight from
        ``ohlcv`` along its primary key, a long one from the columnar blocks."""
        using = self.feed.using
        self.reads += 1
        with connections[using].cursor() as cursor:
            if end_ns - start_ns <= ROWS_READ_MAX_NS:
                cursor.execute(
                    "SELECT ts_event, open, high, low, close, volume FROM ohlcv"
                    " WHERE instrument_id = %s AND rtype = %s AND ts_event >= %s"
                    " AND ts_event < %s ORDER BY ts_event",
                    [instrument_id, period.rtype, start_ns, end_ns],
                )
                # int / 1e9: one IEEE division, as the datafeed converts the run's own bars
                return [
                    BarReceived(t, t, symbol, period, o / 1e9, h / 1e9, low / 1e9, c / 1e9, v)
                    for t, o, h, low, c, v in cursor.fetchall()
                ]
            columns = bar_columns_read(
                cursor=cursor,
                vendor=connections[using].vendor,
                instrument_id=instrument_id,
                rtype=period.rtype,
                start_ns=start_ns,
                end_ns=end_ns,
            )
        return _bar_tuples(symbol, period, columns)


def _bar_tuples(symbol: str, period: BarPeriod, bars: BarColumns) -> list[BarReceived]:
    ts = bars.ts.tolist()
    return [
        BarReceived(t, t, symbol, period, o, h, low, c, v)
        for t, o, h, low, c, v in zip(
            ts,
            (bars.open / PRICE_DIVISOR).tolist(),
            (bars.high / PRICE_DIVISOR).tolist(),
            (bars.low / PRICE_DIVISOR).tolist(),
            (bars.close / PRICE_DIVISOR).tolist(),
            bars.volume.tolist(),
            strict=True,
        )
    ]


def tick_sizes_read(*, feed: Any) -> dict[str, float]:
    """Each symbol's tick size as the prices of its first bars in the feed's range show it
    (``engine.ticks.tick_size_infer``); symbols whose prices do not tell are left out."""
    using = feed.using
    rtype = feed.bar_period.rtype
    size = block_span_ns(rtype)
    prices: dict[str, list[np.ndarray]] = {}
    counted: dict[str, int] = {}
    with connections[using].cursor() as cursor:
        for span in feed.symbol_spans(cursor):
            if counted.get(span.symbol, 0) >= TICK_SAMPLE_BARS or not span.counts:
                continue
            blocks = sorted(span.counts)
            last, total = blocks[0], 0
            for block in blocks:
                last, total = block, total + span.counts[block]
                if counted.get(span.symbol, 0) + total >= TICK_SAMPLE_BARS:
                    break
            bars = bar_columns_read(
                cursor=cursor,
                vendor=connections[using].vendor,
                instrument_id=span.instrument_id,
                rtype=rtype,
                start_ns=span.start_ns,
                end_ns=min(span.end_ns, (last + 1) * size),
            )
            prices.setdefault(span.symbol, []).extend((bars.open, bars.high, bars.low, bars.close))
            counted[span.symbol] = counted.get(span.symbol, 0) + len(bars)
    ticks = {}
    for symbol, parts in prices.items():
        tick = tick_size_infer(np.concatenate(parts))
        if tick is not None:
            ticks[symbol] = tick
    return ticks
