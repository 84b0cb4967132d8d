"""The security master as a datafeed: bars of the subscribed symbols, streamed in time order.

Each symbol resolves, through the symbology intervals [start_date, end_date) of its UTC dates,
to instrument *spans*: (symbol, instrument, [start_ns, end_ns)). Every span is read along the
ohlcv primary key (instrument_id, rtype, ts_event), so no query sorts or joins per bar; the
spans are merged in Python into (ts_event, symbol) order, a bounded number of rows at a time,
so memory stays bounded however long the range is. Prices arrive as integers in units of 1e-9
and leave as floats (divided in SQL, exactly as Python's ``int / 1e9``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter

from django.db import connections

from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from ostsite.db import read_snapshot

SECMASTER_ALIAS = "secmaster"
DEFAULT_SYMBOL_TYPE = "raw_symbol"
DEFAULT_CHUNK_SIZE = (
    1_000  # bars per batch: the orchestrator checks for cancellation between batches
)
# Rows read ahead per merge round, over all spans (memory bound: about this many bars).
READ_AHEAD_ROWS = 20_000
NS_PER_DAY = 86_400_000_000_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TS = itemgetter(0)


def date_start_ns(day: date) -> int:
    """UTC nanoseconds of midnight at the start of ``day``."""
    return (day - _EPOCH.date()).days * NS_PER_DAY


def _day_ns_sql(vendor: str, column: str) -> str:
    """SQL for midnight (UTC ns) of a DATE column."""
    if vendor == "postgresql":
        return f"(({column} - DATE '1970-01-01')::bigint * {NS_PER_DAY})"
    # SQLite stores dates as 'YYYY-MM-DD'; julianday() of midnight is exact (x.5).
    return f"(CAST(julianday({column}) - 2440587.5 AS INTEGER) * {NS_PER_DAY})"


_PRICES = ("open", "high", "low", "close")


def _price_sql(vendor: str, column: str) -> str:
    """The fixed-point price as a float: one IEEE division, exactly as Python's ``int / 1e9``."""
    if vendor == "postgresql":
        return f"({column}::float8 / 1e9::float8)"
    return f"({column} / 1e9)"


@dataclass
class _Span:
    """One symbol served by one instrument over [start_ns, end_ns), read in key order."""

    symbol: str
    instrument_id: int
    start_ns: int
    end_ns: int
    pending: list = field(default_factory=list)  # rows read, not yet yielded (ts order)
    exhausted: bool = False


class SecmasterDatafeed:
    """Bars of ``symbols`` for one bar period of one publisher, in (ts_event, symbol) order.

    ``start_date``/``end_date`` are whole UTC days, both inclusive; ``None`` leaves that end
    open. Implements the engine's ``Datafeed`` protocol.
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
        read_ahead_rows: int = READ_AHEAD_ROWS,
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
        self.read_ahead_rows = max(1, read_ahead_rows)
        self.using = using

    # --- spans ----------------------------------------------------------------------------

    def _spans(self, cursor) -> list[_Span]:
        """The (symbol, instrument, time range) spans in symbol, then time order.

        Adjacent intervals of one symbol on the same instrument (daily symbology files map
        every day separately) become one span, so a span costs one query per merge round.
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
        return spans

    # --- Datafeed protocol --------------------------------------------------------------

    def total_bars(self) -> int:
        """How many bars ``batches`` yields (one key-range COUNT per span)."""
        sql = (
            "SELECT COUNT(*) FROM ohlcv WHERE instrument_id = %s AND rtype = %s"
            " AND ts_event >= %s AND ts_event < %s"
        )
        rtype = self.bar_period.rtype
        total = 0
        with connections[self.using].cursor() as cursor:
            for span in self._spans(cursor):
                cursor.execute(sql, [span.instrument_id, rtype, span.start_ns, span.end_ns])
                total += int(cursor.fetchone()[0])
        return total

    def batches(self) -> Iterator[list[BarReceived]]:
        """Yield lists of at most ``chunk_size`` bars, in (ts_event, symbol) order."""
        # One read transaction for all the reads: on SQLite (WAL) they share one snapshot
        # without taking the write lock, so other runs and ingests go on; on PostgreSQL it is
        # one read-committed transaction.
        with read_snapshot(self.using), connections[self.using].cursor() as cursor:
            spans = self._spans(cursor)
            size = self.chunk_size
            for rows in self._merged(cursor, spans):
                for start in range(0, len(rows), size):
                    yield rows[start : start + size]

    # --- reading and merging --------------------------------------------------------------

    def _merged(self, cursor, spans: list[_Span]) -> Iterator[list[BarReceived]]:
        """Rounds of rows in (ts_event, symbol) order, each at most ``read_ahead_rows``.

        Each round tops up every span's read-ahead, then yields every pending row up to the
        horizon: the last timestamp read of the span that is not exhausted and lags most. Up
        to there every span's rows are known, so the round is complete in time order. The
        spans are in symbol order and a stable sort by ts keeps that order for equal times.
        """
        per_span = max(1, self.read_ahead_rows // max(1, len(spans)))
        sql = self._rows_sql()
        while spans:
            for span in spans:
                need = per_span - len(span.pending)
                if not span.exhausted and need > 0:
                    self._read(cursor, sql, span, need)
            open_ends = [span.pending[-1][0] for span in spans if not span.exhausted]
            horizon = min(open_ends) if open_ends else None
            rows: list[BarReceived] = []
            contributors = 0
            for span in spans:
                pending = span.pending
                cut = len(pending) if horizon is None else bisect_right(pending, horizon, key=_TS)
                if cut:
                    contributors += 1
                    rows += pending[:cut]
                    del pending[:cut]
            spans = [s for s in spans if s.pending or not s.exhausted]
            if contributors > 1:
                rows.sort(key=_TS)
            if rows:
                yield rows

    def _rows_sql(self) -> str:
        vendor = connections[self.using].vendor
        prices = ", ".join(_price_sql(vendor, c) for c in _PRICES)
        return (
            f"SELECT ts_event, {prices}, volume FROM ohlcv"
            " WHERE instrument_id = %s AND rtype = %s AND ts_event >= %s AND ts_event < %s"
            " ORDER BY ts_event LIMIT %s"
        )

    def _read(self, cursor, sql: str, span: _Span, limit: int) -> None:
        """Append up to ``limit`` more rows of ``span`` to its read-ahead (key order, no sort)."""
        cursor.execute(
            sql, [span.instrument_id, self.bar_period.rtype, span.start_ns, span.end_ns, limit]
        )
        rows = cursor.fetchall()
        if len(rows) < limit:
            span.exhausted = True
        if rows:
            symbol, period, new, cls = span.symbol, self.bar_period, tuple.__new__, BarReceived
            span.pending += [
                new(cls, (ts, ts, symbol, period, o, h, lo, c, v)) for ts, o, h, lo, c, v in rows
            ]
            span.start_ns = rows[-1][0] + 1
