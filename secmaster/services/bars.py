"""Bulk-write decoded OHLCV records into the ohlcv table.

Rows are written on the raw DB-API cursor of the secmaster connection (inside the caller's
transaction) with ``ON CONFLICT DO NOTHING``, so a bar that is already stored is left unchanged
and re-ingesting a file adds nothing. SQLite gets ``executemany``; each statement carries
``ROWS_PER_STATEMENT`` rows (a multi-row VALUES list), and the parameter lists are built in one
C call (``ndarray.tolist()`` of an int64 matrix) with the cyclic garbage collector paused, which
would otherwise rescan the millions of fresh ints again and again. Each block is sorted by the
primary key first, so SQLite appends to a few b-tree pages instead of hopping between them.
"""

from __future__ import annotations

import gc

import numpy as np
from django.db import connections

from secmaster.services.instruments import instruments_ensure

DB = "secmaster"
COLUMNS = ("instrument_id", "rtype", "ts_event", "open", "high", "low", "close", "volume")
ROWS_PER_STATEMENT = 250  # 2,000 parameters per statement
_COLUMN_LIST = ", ".join(COLUMNS)

# PostgreSQL: each block is COPied (binary) into a session-local staging table, then moved with
# one INSERT ... SELECT ... ON CONFLICT DO NOTHING: far fewer round trips than executemany.
PG_STAGE = "ohlcv_ingest_stage"
PG_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {PG_STAGE} ("
    + ", ".join(f"{c} bigint NOT NULL" for c in COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, extension length
_PG_COPY_TRAILER = b"\xff\xff"
_PG_COPY_ROW = np.dtype(
    [("fields", ">i2")]
    + [item for i in range(len(COLUMNS)) for item in ((f"len{i}", ">i4"), (f"val{i}", ">i8"))]
)


def pg_binary_copy(table: np.ndarray) -> bytes:
    """PostgreSQL binary COPY data for an (n, 8) int64 matrix of bigint columns."""
    rows = np.empty(len(table), dtype=_PG_COPY_ROW)
    rows["fields"] = table.shape[1]
    for i in range(table.shape[1]):
        rows[f"len{i}"] = 8
        rows[f"val{i}"] = table[:, i]
    return _PG_COPY_HEADER + rows.tobytes() + _PG_COPY_TRAILER


def insert_bars_sql(vendor: str, rows: int = 1) -> str:
    """The INSERT of ``rows`` bars, in the placeholder style of the raw driver."""
    mark = "?" if vendor == "sqlite" else "%s"
    one = "(" + ", ".join([mark] * len(COLUMNS)) + ")"
    values = ", ".join([one] * rows)
    return f"INSERT INTO ohlcv ({', '.join(COLUMNS)}) VALUES {values} ON CONFLICT DO NOTHING"


class BarWriter:
    """Writes record blocks of one publisher; counts records seen and bars newly stored."""

    def __init__(self, publisher_id: int) -> None:
        self.publisher_id = publisher_id
        self.records = 0
        self.new_bars = 0
        self._instruments: dict[int, int] = {}
        connection = connections[DB]
        connection.ensure_connection()
        self._postgres = connection.vendor == "postgresql"
        self._raw_cursor = connection.connection.cursor()
        if self._postgres:
            self._raw_cursor.execute(PG_STAGE_DDL)
        self._per_statement = ROWS_PER_STATEMENT
        if connection.vendor == "sqlite":
            limit = connection.connection.getlimit(9)  # SQLITE_LIMIT_VARIABLE_NUMBER
            self._per_statement = max(1, min(ROWS_PER_STATEMENT, limit // len(COLUMNS)))
        self._sql_one = insert_bars_sql(connection.vendor)
        self._sql_many = insert_bars_sql(connection.vendor, self._per_statement)

    def _table(self, records: np.ndarray) -> np.ndarray:
        source_ids, inverse = np.unique(records["instrument_id"], return_inverse=True)
        source_list = source_ids.tolist()
        missing = [s for s in source_list if s not in self._instruments]
        if missing:
            self._instruments.update(
                instruments_ensure(publisher_id=self.publisher_id, source_ids=missing)
            )
        internal = np.array([self._instruments[s] for s in source_list], dtype=np.int64)
        table = np.empty((len(records), len(COLUMNS)), dtype=np.int64)
        table[:, 0] = internal[inverse]
        for column, name in enumerate(COLUMNS[1:], start=1):
            table[:, column] = records[name]  # u64 fields were checked to fit int64
        return table

    def write(self, records: np.ndarray) -> None:
        """Store one block of records (fields as in ``dbn_reading.ohlcv_record_dtype``)."""
        if not len(records):
            return
        table = self._table(records)
        table = table[np.lexsort((table[:, 2], table[:, 1], table[:, 0]))]  # primary-key order
        if self._postgres:
            self._write_postgres(table)
        else:
            self._write_sqlite(table)
        self.records += len(table)

    def _write_postgres(self, table: np.ndarray) -> None:
        cursor = self._raw_cursor
        cursor.execute(f"TRUNCATE {PG_STAGE}")
        with cursor.copy(f"COPY {PG_STAGE} ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pg_binary_copy(table))
        cursor.execute(
            f"INSERT INTO ohlcv ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {PG_STAGE}"
            " ON CONFLICT DO NOTHING"
        )
        self.new_bars += max(cursor.rowcount, 0)

    def _write_sqlite(self, table: np.ndarray) -> None:
        width = self._per_statement * len(COLUMNS)
        full = len(table) - len(table) % self._per_statement
        collecting = gc.isenabled()
        gc.disable()
        try:
            if full:
                self._raw_cursor.executemany(
                    self._sql_many, table[:full].reshape(-1, width).tolist()
                )
                self.new_bars += max(self._raw_cursor.rowcount, 0)
            if full < len(table):
                self._raw_cursor.executemany(self._sql_one, table[full:].tolist())
                self.new_bars += max(self._raw_cursor.rowcount, 0)
        finally:
            if collecting:
                gc.enable()

    def close(self) -> None:
        self._raw_cursor.close()
