"""The security master as a datafeed: bars of the subscribed symbols, streamed in time order.

One ordered SQL query joins symbology -> instruments -> ohlcv, so each symbol resolves to the
instrument whose symbology interval [start_date, end_date) holds the bar's UTC date. Rows are
read in chunks through an iterating cursor (a server-side cursor on PostgreSQL), so memory stays
bounded however long the range is. Prices arrive as integers in units of 1e-9 and leave as
floats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

from django.db import connections, transaction

from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived

SECMASTER_ALIAS = "secmaster"
DEFAULT_SYMBOL_TYPE = "raw_symbol"
DEFAULT_CHUNK_SIZE = (
    1_000  # bars per batch: the orchestrator checks for cancellation between batches
)
NS_PER_DAY = 86_400_000_000_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def date_start_ns(day: date) -> int:
    """UTC nanoseconds of midnight at the start of ``day``."""
    return (day - _EPOCH.date()).days * NS_PER_DAY


def _day_ns_sql(vendor: str, column: str) -> str:
    """SQL for midnight (UTC ns) of a DATE column, so the ts_event range can use the key."""
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
        self.using = using

    # --- SQL ----------------------------------------------------------------------------

    def _from_where(self) -> tuple[str, list]:
        vendor = connections[self.using].vendor
        placeholders = ", ".join(["%s"] * len(self.symbols))
        sql = (
            " FROM symbology s"
            " JOIN instruments i ON i.publisher_ref = s.publisher_ref"
            " AND i.source_instrument_id = s.source_instrument_id"
            " JOIN ohlcv o ON o.instrument_id = i.instrument_id AND o.rtype = %s"
            f" AND o.ts_event >= {_day_ns_sql(vendor, 's.start_date')}"
            f" AND o.ts_event < {_day_ns_sql(vendor, 's.end_date')}"
            f" WHERE s.publisher_ref = %s AND s.symbol_type = %s AND s.symbol IN ({placeholders})"
        )
        params: list = [self.bar_period.rtype, self.publisher_id, self.symbol_type, *self.symbols]
        if self.start_ns is not None:
            sql += " AND o.ts_event >= %s"
            params.append(self.start_ns)
        if self.end_ns is not None:
            sql += " AND o.ts_event < %s"
            params.append(self.end_ns)
        return sql, params

    def _select_sql(self) -> tuple[str, list]:
        from_where, params = self._from_where()
        # Byte order for symbols on every backend (PostgreSQL would otherwise use the locale).
        collate = ' COLLATE "C"' if connections[self.using].vendor == "postgresql" else ""
        prices = ", ".join(_price_sql(connections[self.using].vendor, f"o.{c}") for c in _PRICES)
        sql = (
            f"SELECT o.ts_event, s.symbol, {prices}, o.volume"
            f"{from_where} ORDER BY o.ts_event, s.symbol{collate}"
        )
        return sql, params

    # --- Datafeed protocol --------------------------------------------------------------

    def total_bars(self) -> int:
        """How many bars ``batches`` yields (one COUNT with the same filter)."""
        from_where, params = self._from_where()
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*){from_where}", params)
            return int(cursor.fetchone()[0])

    def batches(self) -> Iterator[list[BarReceived]]:
        """Yield lists of at most ``chunk_size`` bars, in (ts_event, symbol) order."""
        connection = connections[self.using]
        if connection.vendor == "postgresql":
            # A named cursor inside a transaction streams without WITH HOLD materialisation.
            with transaction.atomic(using=self.using):
                yield from self._stream(connection)
        else:
            # SQLite's cursor already steps through the result lazily; no write lock taken.
            yield from self._stream(connection)

    def _stream(self, connection) -> Iterator[list[BarReceived]]:
        sql, params = self._select_sql()
        period = self.bar_period
        new = tuple.__new__
        cls = BarReceived
        size = self.chunk_size
        connection.ensure_connection()
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            fetchmany = cursor.fetchmany
            while True:
                rows = fetchmany(size)
                if not rows:
                    return
                yield [
                    new(cls, (ts, ts, sym, period, o, h, lo, c, v))
                    for ts, sym, o, h, lo, c, v in rows
                ]
