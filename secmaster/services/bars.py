"""Bulk-write decoded OHLCV records into the ohlcv table.

Rows are written on the raw DB-API cursor of the secmaster connection (inside the caller's
transaction) with ``ON CONFLICT DO NOTHING``, so a bar that is already stored is left unchanged
and re-ingesting a file adds nothing. SQLite gets ``executemany``; each statement carries
``ROWS_PER_STATEMENT`` rows (a multi-row VALUES list), and the parameter lists are built in one
C call (``ndarray.tolist()`` of an int64 matrix) with the cyclic garbage collector paused, which
would otherwise rescan the millions of fresh ints again and again. Each block is sorted by the
primary key first, so SQLite appends to a few b-tree pages instead of hopping between them;
rows repeating a key within a block are dropped there, keeping the first (what ON CONFLICT DO
NOTHING keeps, on either database, whatever order PostgreSQL's INSERT ... SELECT reads them).

The same rows, in the same order, go to ``_BlockBuffer``, which keeps the columnar copies in
``ohlcv_blocks`` in step within the same transaction (``secmaster.services.bar_blocks``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
from django.db import connections, transaction

from secmaster.bar_blocks import BarColumns, block_of
from secmaster.models import IngestJournal, IngestJournalEntry
from secmaster.services.bar_blocks import bar_blocks_check, bar_blocks_store
from secmaster.services.instruments import instruments_ensure
from secmaster.services.journal import journal_bars, journal_created, transaction_records

DB = "secmaster"
COLUMNS = ("instrument_id", "rtype", "ts_event", "open", "high", "low", "close", "volume")
ROWS_PER_STATEMENT = 250  # 2,000 parameters per statement
BLOCK_FLUSH_ROWS = 500_000  # rows buffered (about 24 MB) before their blocks are written
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


class _BlockBuffer:
    """Keeps ``ohlcv_blocks`` in step with the rows a BarWriter inserts, memory bounded.

    ``before_insert(table)`` and ``inserted(table)`` go around each insert of a key-sorted
    (n, 8) matrix in ``COLUMNS`` order; ``flush()`` before the transaction commits. Rows are
    buffered per (instrument, rtype) and merged into their blocks whenever ``flush_rows`` or
    more are pending.
    """

    def __init__(self, *, cursor, vendor: str, flush_rows: int | None = None) -> None:
        self.cursor = cursor
        self.vendor = vendor
        self.flush_rows = max(1, BLOCK_FLUSH_ROWS if flush_rows is None else flush_rows)
        self.blocks_written = 0
        self._pending: dict[tuple[int, int], list[np.ndarray]] = {}
        self._pending_rows = 0
        self._checked: dict[tuple[int, int], set[int]] = {}
        self._rebuild: dict[tuple[int, int], set[int]] = {}
        # blocks stored and in step when first checked, or written since: merged into, unless
        # the REPLACE trigger dropped them meanwhile (then rebuilt from ohlcv)
        self._stored: dict[tuple[int, int], set[int]] = {}

    @staticmethod
    def _keys(table: np.ndarray) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        """((instrument, rtype), its rows in table order) for each key of a key-sorted table."""
        keys = table[:, :2]
        cuts = (np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1).tolist()
        for start, end in zip([0, *cuts], [*cuts, len(table)], strict=True):
            if end > start:
                yield (int(keys[start, 0]), int(keys[start, 1])), table[start:end, 2:]

    def before_insert(self, table: np.ndarray) -> None:
        """Check the blocks these rows fall in that this writer has not seen yet."""
        for key, rows in self._keys(table):
            seen = self._checked.setdefault(key, set())
            blocks = block_of(rows[:, 0], key[1])  # ts ascend within a key: so do blocks
            starts = np.flatnonzero(blocks[1:] != blocks[:-1]) + 1
            fresh = set(blocks[[0, *starts.tolist()]].tolist()) - seen
            if not fresh:
                continue
            stale, stored = bar_blocks_check(
                cursor=self.cursor,
                vendor=self.vendor,
                instrument_id=key[0],
                rtype=key[1],
                blocks=fresh,
            )
            seen |= fresh
            self._stored.setdefault(key, set()).update(stored - stale)
            if stale:
                self._rebuild.setdefault(key, set()).update(stale)

    def inserted(self, table: np.ndarray) -> None:
        """Buffer rows just inserted; writes blocks when the buffer passes ``flush_rows``."""
        for key, rows in self._keys(table):
            self._pending.setdefault(key, []).append(rows)
        self._pending_rows += len(table)
        if self._pending_rows >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        """Write the blocks of every pending row."""
        for (instrument_id, rtype), parts in self._pending.items():
            rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
            rebuild = self._rebuild.pop((instrument_id, rtype), set())
            stored = self._stored.setdefault((instrument_id, rtype), set())
            bars = BarColumns.from_rows(rows)
            self.blocks_written += bar_blocks_store(
                cursor=self.cursor,
                instrument_id=instrument_id,
                rtype=rtype,
                bars=bars,
                rebuild=rebuild,
                expected=stored,
            )
            stored.update(np.unique(block_of(bars.ts, rtype)).tolist())
        self._pending.clear()
        self._pending_rows = 0

    def discard(self) -> None:
        """Forget the pending rows (their transaction is rolled back)."""
        self._pending.clear()
        self._pending_rows = 0


def first_of_each_key(table: np.ndarray) -> np.ndarray:
    """The rows of a key-sorted (stable) table without later repeats of a primary key."""
    if len(table) < 2:
        return table
    keys = table[:, :3]
    repeat = np.all(keys[1:] == keys[:-1], axis=1)
    if not repeat.any():
        return table
    return table[np.concatenate(([True], ~repeat))]


class BarWriter:
    """Writes record blocks of one publisher; counts records seen and bars newly stored.

    ``close()`` writes the pending bar blocks and must run before the transaction commits;
    after a failure call ``discard()`` instead (the transaction is rolled back).

    ``duplicates`` counts records that repeat the (instrument, rtype, ts_event) of an earlier
    record of the same writer (one file, or one zip); the first is stored, the repeats are
    not. Exact within a read block; across blocks it compares the keys at the boundary
    timestamp, which finds every repeat of a file in time order, as Databento writes them (a
    repeat further apart in an unordered file counts as an already stored bar).
    """

    def __init__(
        self,
        publisher_id: int,
        *,
        block_flush_rows: int | None = None,
        journal: IngestJournal | None = None,
    ) -> None:
        self.publisher_id = publisher_id
        # With a journal, each ``write`` is a transaction of its own that records what it
        # wrote (``secmaster.services.journal``); without, the caller's transaction holds all.
        self.journal = journal
        self.records = 0
        self.new_bars = 0
        self.duplicates = 0
        self._boundary: np.ndarray | None = None  # keys at the last block's latest ts
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
        self._blocks = _BlockBuffer(
            cursor=self._raw_cursor, vendor=connection.vendor, flush_rows=block_flush_rows
        )

    def _table(self, records: np.ndarray) -> np.ndarray:
        source_ids, inverse = np.unique(records["instrument_id"], return_inverse=True)
        source_list = source_ids.tolist()
        missing = [s for s in source_list if s not in self._instruments]
        if missing:
            before = self._instruments_stored(missing) if self.journal is not None else {}
            ensured = instruments_ensure(publisher_id=self.publisher_id, source_ids=missing)
            self._instruments.update(ensured)
            if self.journal is not None:
                created = sorted(i for s, i in ensured.items() if s not in before)
                journal_created(self.journal, IngestJournalEntry.INSTRUMENT, created)
        internal = np.array([self._instruments[s] for s in source_list], dtype=np.int64)
        table = np.empty((len(records), len(COLUMNS)), dtype=np.int64)
        table[:, 0] = internal[inverse]
        for column, name in enumerate(COLUMNS[1:], start=1):
            table[:, column] = records[name]  # u64 fields were checked to fit int64
        return table

    def _instruments_stored(self, source_ids: list[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        with connections[DB].cursor() as cursor:
            for i in range(0, len(source_ids), 500):
                part = source_ids[i : i + 500]
                cursor.execute(
                    "SELECT source_instrument_id, instrument_id FROM instruments"
                    f" WHERE publisher_ref = %s AND source_instrument_id IN"
                    f" ({', '.join(['%s'] * len(part))})",
                    [self.publisher_id, *part],
                )
                found.update(cursor.fetchall())
        return found

    def write(self, records: np.ndarray) -> None:
        """Store one block of records (fields as in ``dbn_reading.ohlcv_record_dtype``); with
        a journal, in a transaction of its own (its bar blocks included)."""
        if not len(records):
            return
        if self.journal is None:
            self._write(records)
            return
        step = transaction_records()  # a read may deliver more records than that at once
        for start in range(0, len(records), step):
            with transaction.atomic(using=DB):
                self._write(records[start : start + step])
                self._blocks.flush()

    def _write(self, records: np.ndarray) -> None:
        table = self._table(records)
        table = table[np.lexsort((table[:, 2], table[:, 1], table[:, 0]))]  # primary-key order
        unique = first_of_each_key(table)  # lexsort is stable: the file's first row stays
        self.duplicates += len(table) - len(unique) + self._repeats_of_boundary(unique)
        table = unique
        if self.journal is not None:
            with connections[DB].cursor() as cursor:
                journal_bars(self.journal, cursor, table)
        self._blocks.before_insert(table)
        if self._postgres:
            self._write_postgres(table)
        else:
            self._write_sqlite(table)
        self._blocks.inserted(table)
        self.records += len(records)

    def _repeats_of_boundary(self, table: np.ndarray) -> int:
        """Rows of this key-sorted block whose key was at the previous block's latest ts;
        keeps this block's keys at its own latest ts for the next."""
        keys = table[:, :3]
        count = 0
        if self._boundary is not None and len(self._boundary):
            at = keys[np.isin(keys[:, 2], self._boundary[:, 2])]
            if len(at):
                seen = {tuple(k) for k in self._boundary.tolist()}
                count = sum(1 for k in at.tolist() if tuple(k) in seen)
        if len(keys):
            self._boundary = keys[keys[:, 2] == keys[:, 2].max()].copy()
        return count

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
        cursor.execute(f"TRUNCATE {PG_STAGE}")  # left empty, whatever transaction follows

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

    @property
    def blocks_written(self) -> int:
        return self._blocks.blocks_written

    def close(self) -> None:
        """Write the pending bar blocks and release the cursor."""
        try:
            self._blocks.flush()
        finally:
            self._raw_cursor.close()

    def discard(self) -> None:
        """Release the cursor without writing pending blocks (the file failed)."""
        self._blocks.discard()
        self._raw_cursor.close()
