"""The security master as a datafeed: bars of the subscribed symbols, streamed in time order.

Each symbol resolves, through the symbology intervals [start_date, end_date) of its UTC dates,
to instrument *spans*: (symbol, instrument, [start_ns, end_ns)). The bars of a span come as
int64 columns from the security master's columnar blocks (``secmaster.services.bar_blocks``:
one compressed row per instrument and time block, checked against ``ohlcv`` and read from its
rows where they disagree), so a bar costs no Python object until the engine builds it.

The time range is cut into chunks of whole blocks holding about ``chunk_bars`` bars over all
symbols; a chunk carries each symbol's columns and the engine merges them into (ts_event,
symbol) order, so memory stays bounded however long the range is. Prices arrive as integers
in units of 1e-9 and leave as floats (one IEEE division each, exactly as Python's
``int / 1e9``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import connections

from backtests.engine.chunks import BarChunk, SymbolBars
from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from ostsite.db import read_snapshot
from secmaster.bar_blocks import BarColumns, block_span_ns
from secmaster.services.bar_blocks import bar_block_counts, bar_columns_read

SECMASTER_ALIAS = "secmaster"
DEFAULT_SYMBOL_TYPE = "raw_symbol"
DEFAULT_CHUNK_SIZE = 1_000  # bars per list from ``batches`` (charts and other readers)
# Bars per chunk handed to the engine, over all symbols (memory bound: about this many bars).
DEFAULT_CHUNK_BARS = 16_384
NS_PER_DAY = 86_400_000_000_000
PRICE_DIVISOR = 1e9

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def date_start_ns(day: date) -> int:
    """UTC nanoseconds of midnight at the start of ``day``."""
    return (day - _EPOCH.date()).days * NS_PER_DAY


def _day_ns_sql(vendor: str, column: str) -> str:
    """SQL for midnight (UTC ns) of a DATE column."""
    if vendor == "postgresql":
        return f"(({column} - DATE '1970-01-01')::bigint * {NS_PER_DAY})"
    # SQLite stores dates as 'YYYY-MM-DD'; julianday() of midnight is exact (x.5).
    return f"(CAST(julianday({column}) - 2440587.5 AS INTEGER) * {NS_PER_DAY})"


@dataclass
class _Span:
    """One symbol served by one instrument over [start_ns, end_ns)."""

    symbol: str
    instrument_id: int
    start_ns: int
    end_ns: int
    counts: dict[int, int] = field(default_factory=dict)  # block -> ohlcv rows in the span


def _symbol_bars(symbol: str, columns: BarColumns) -> SymbolBars:
    """Engine columns of stored bars: fixed-point prices to floats."""
    return SymbolBars(
        symbol,
        columns.ts,
        columns.open / PRICE_DIVISOR,
        columns.high / PRICE_DIVISOR,
        columns.low / PRICE_DIVISOR,
        columns.close / PRICE_DIVISOR,
        columns.volume,
    )


class SecmasterDatafeed:
    """Bars of ``symbols`` for one bar period of one publisher, in (ts_event, symbol) order.

    ``start_date``/``end_date`` are whole UTC days, both inclusive; ``None`` leaves that end
    open. Implements the engine's ``Datafeed`` protocol (``chunks``), and ``batches`` of bar
    tuples for other readers.
    """

    def __init__(
        self,
        *,
        symbols: Sequence[str],
        bar_period: BarPeriod,
        publisher_id: int,
        start_date: date | None = None,
        end_date: date | None = None,
        symbol_type: str = DEFAULT_SYMBOL_TYPE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_bars: int = DEFAULT_CHUNK_BARS,
        using: str = SECMASTER_ALIAS,
    ) -> None:
        if not symbols:
            raise ValueError("a datafeed needs at least one symbol")
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.symbols = tuple(sorted(set(symbols)))
        self.bar_period = bar_period
        self.publisher_id = publisher_id
        self.start_ns = date_start_ns(start_date) if start_date is not None else None
        self.end_ns = date_start_ns(end_date + timedelta(days=1)) if end_date is not None else None
        self.symbol_type = symbol_type
        self.chunk_size = chunk_size
        self.chunk_bars = max(1, chunk_bars)
        self.using = using
        # (instrument, start_ns, end_ns) -> bars per block, counted once for ``total_bars``
        # and ``chunks``; a stale count only sends that block's read to the ohlcv rows.
        self._counts: dict[tuple[int, int, int], dict[int, int]] = {}
        self._finer = None  # backtests.finer_bars.SecmasterFinerBars, made when first asked

    # --- spans ----------------------------------------------------------------------------

    def _spans(self, cursor) -> list[_Span]:
        """The (symbol, instrument, time range) spans in symbol, then time order, with their
        bar counts per block.

        Adjacent intervals of one symbol on the same instrument (daily symbology files map
        every day separately) become one span.
        """
        vendor = connections[self.using].vendor
        placeholders = ", ".join(["%s"] * len(self.symbols))
        cursor.execute(
            f"SELECT s.symbol, i.instrument_id, {_day_ns_sql(vendor, 's.start_date')},"
            f" {_day_ns_sql(vendor, 's.end_date')}"
            " FROM symbology s JOIN instruments i ON i.publisher_ref = s.publisher_ref"
            " AND i.source_instrument_id = s.source_instrument_id"
            f" WHERE s.publisher_ref = %s AND s.symbol_type = %s AND s.symbol IN ({placeholders})",
            [self.publisher_id, self.symbol_type, *self.symbols],
        )
        low = self.start_ns if self.start_ns is not None else -(2**63)
        high = self.end_ns if self.end_ns is not None else 2**63 - 1
        spans: list[_Span] = []
        for symbol, instrument_id, start, end in sorted(cursor.fetchall()):
            start, end = max(int(start), low), min(int(end), high)
            if start >= end:
                continue
            last = spans[-1] if spans else None
            if (
                last is not None
                and last.symbol == symbol
                and last.instrument_id == instrument_id
                and last.end_ns == start
            ):
                last.end_ns = end
            else:
                spans.append(_Span(symbol, instrument_id, start, end))
        for span in spans:
            key = (span.instrument_id, span.start_ns, span.end_ns)
            counts = self._counts.get(key)
            if counts is None:
                counts = self._counts[key] = bar_block_counts(
                    cursor=cursor,
                    vendor=vendor,
                    instrument_id=span.instrument_id,
                    rtype=self.bar_period.rtype,
                    start_ns=span.start_ns,
                    end_ns=span.end_ns,
                )
            span.counts = counts
        return spans

    def symbol_spans(self, cursor) -> list[_Span]:
        """The feed's (symbol, instrument, [start_ns, end_ns)) spans with their bar counts
        per block of its bar period, in symbol then time order."""
        return self._spans(cursor)

    # --- FinerBars protocol (the intrabar fill model) and tick sizes ------------------------

    def finer_bars(self, symbol: str, start_ns: int, end_ns: int) -> Sequence[BarReceived]:
        """The finer bars of ``symbol`` within [start_ns, end_ns), same symbology as its bars
        (``backtests.finer_bars``)."""
        if self._finer is None:
            from backtests.finer_bars import SecmasterFinerBars

            self._finer = SecmasterFinerBars(feed=self)
        return self._finer.finer_bars(symbol, start_ns, end_ns)

    def tick_sizes(self) -> dict[str, float]:
        """Each symbol's tick size as its prices show it (for slippage in ticks)."""
        from backtests.finer_bars import tick_sizes_read

        return tick_sizes_read(feed=self)

    def span_tuples(self) -> list[tuple[str, int, int, int]]:
        """(symbol, instrument_id, start_ns, end_ns) of each span the symbology resolves the
        symbols to within the date range (what ``chunks`` reads)."""
        with connections[self.using].cursor() as cursor:
            return [(s.symbol, s.instrument_id, s.start_ns, s.end_ns) for s in self._spans(cursor)]

    # --- Datafeed protocol --------------------------------------------------------------

    def total_bars(self) -> int:
        """How many bars ``chunks`` (and ``batches``) yield."""
        with connections[self.using].cursor() as cursor:
            return sum(sum(span.counts.values()) for span in self._spans(cursor))

    def chunks(self) -> Iterator[BarChunk]:
        """Chunks of whole blocks, about ``chunk_bars`` bars each, in time order."""
        # One read transaction for all the reads: on SQLite (WAL) they share one snapshot
        # without taking the write lock, so other runs and ingests go on; on PostgreSQL it is
        # one read-committed transaction.
        with read_snapshot(self.using), connections[self.using].cursor() as cursor:
            spans = self._spans(cursor)
            for first, last in self._windows(spans):
                parts = self._read_window(cursor, spans, first, last)
                if parts:
                    yield BarChunk(self.bar_period, parts)

    def batches(self) -> Iterator[list[BarReceived]]:
        """Lists of at most ``chunk_size`` bar tuples, in (ts_event, symbol) order."""
        size = self.chunk_size
        for chunk in self.chunks():
            bars = chunk.bars()
            for start in range(0, len(bars), size):
                yield bars[start : start + size]

    # --- reading --------------------------------------------------------------------------

    def _windows(self, spans: list[_Span]) -> Iterator[tuple[int, int]]:
        """Ranges [first, last] of block indices holding about ``chunk_bars`` bars each."""
        per_block: dict[int, int] = {}
        for span in spans:
            for block, count in span.counts.items():
                per_block[block] = per_block.get(block, 0) + count
        first, size = None, 0
        for block in sorted(per_block):
            if first is None:
                first = block
            size += per_block[block]
            if size >= self.chunk_bars:
                yield first, block
                first, size = None, 0
        if first is not None:
            yield first, max(per_block)

    def _read_window(self, cursor, spans: list[_Span], first: int, last: int) -> list[SymbolBars]:
        """Each symbol's bars in blocks ``first..last`` (its spans joined in time order)."""
        vendor = connections[self.using].vendor
        rtype = self.bar_period.rtype
        span_ns = block_span_ns(rtype)
        window_lo, window_hi = first * span_ns, (last + 1) * span_ns
        by_symbol: dict[str, list[BarColumns]] = {}
        for span in spans:
            counts = {b: n for b, n in span.counts.items() if first <= b <= last}
            if not counts:
                continue
            columns = bar_columns_read(
                cursor=cursor,
                vendor=vendor,
                instrument_id=span.instrument_id,
                rtype=rtype,
                start_ns=max(span.start_ns, window_lo),
                end_ns=min(span.end_ns, window_hi),
                counts=counts,
            )
            if len(columns):
                by_symbol.setdefault(span.symbol, []).append(columns)
        return [
            _symbol_bars(symbol, BarColumns.concat(parts)) for symbol, parts in by_symbol.items()
        ]
