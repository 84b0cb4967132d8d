"""``OrmRecorder``: a run's events -> rows of the runs database, written in batches.

Events are buffered as row tuples per table, bars as columnar blocks (``record_bar_block``,
how the engine records them); whenever a batch's rows are pending (``batch_rows``, the first
batches fewer), and at ``flush``, they go to a writer as one batch, written in one
transaction. The database therefore only ever
holds a prefix of the run's events, never half a batch. If the run row disappears (the run
was deleted while executing), or, given a ``claim``, the run is no longer claimed by it (it
was failed as stale while this worker was paused), that batch and everything after it are
discarded instead of raising, and ``run_deleted`` turns True.

The writer depends on the database: on a SQLite file, batches are written by a process of
their own (``SqliteWriterProcess``) unless the caller has a transaction open (its rows must
join it); on PostgreSQL, ``COPY``; otherwise synchronously on the Django connection.
"""

from __future__ import annotations

from typing import Protocol

from django.db import connections

from backtests.engine import events as ev
from backtests.engine.chunks import BarBlock
from backtests.recording.batches import Batch
from backtests.recording.postgres import PostgresWriter
from backtests.recording.rows import event_row_builders
from backtests.recording.sqlite import SqliteSyncWriter, SqliteWriterProcess, database_file
from backtests.recording.statements import BAR_TABLES

DEFAULT_BATCH_ROWS = 16384  # 8192 bars (each a bars and a bars_processed row)
FIRST_BATCH_ROWS = 1024
RECORD_FULL = "full"
RECORD_TRADES = "trades"
BUSY_TIMEOUT_SECONDS = 30.0


class _Writer(Protocol):
    run_deleted: bool
    rows_written: int

    def write(self, batch: Batch) -> None: ...

    def drain(self) -> None: ...

    def close(self) -> None: ...


class OrmRecorder:
    """Writes one run's events to the runs database; implements the engine's Recorder."""

    def __init__(
        self,
        *,
        run_id: str,
        record: str = RECORD_FULL,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        using: str = "default",
        claim: str | None = None,
    ) -> None:
        if record not in (RECORD_FULL, RECORD_TRADES):
            raise ValueError(f"record must be {RECORD_FULL!r} or {RECORD_TRADES!r}, got {record!r}")
        self.run_id = run_id
        self.claim = claim
        self.records_bars = record == RECORD_FULL
        self.batch_rows = max(1, batch_rows)
        # The first batches are small and each is twice the last, up to ``batch_rows``: the
        # writer starts early instead of waiting for a full batch while the engine warms up.
        self._next_rows = min(self.batch_rows, FIRST_BATCH_ROWS)
        self.using = using
        self._builders = event_row_builders(run_id)
        self._tables: dict[str, list[tuple]] = {}
        self._blocks: list[BarBlock] = []
        self._pending = 0
        self._writer: _Writer | None = None
        self._deleted = False
        self._written = 0

    @property
    def block_bars(self) -> int:
        """How many bars the engine should hand over at a time: the next batch's worth, so
        batches flow to the writer steadily while the engine walks on."""
        return max(1, self._next_rows // 2)

    @property
    def run_deleted(self) -> bool:
        """True once a batch found the run row gone or no longer claimed by ``claim`` (it
        and later ones were discarded)."""
        return self._deleted or (self._writer is not None and self._writer.run_deleted)

    @property
    def rows_written(self) -> int:
        """Event rows written so far (a bar recorded in both bar tables counts twice)."""
        return self._written + (self._writer.rows_written if self._writer is not None else 0)

    def open(self) -> None:
        """Get the writer ready now (a writer process takes a few tens of milliseconds to
        start), so the first batch does not wait for it; otherwise it opens when needed."""
        if self._writer is None and not self.run_deleted:
            self._writer = self._open_writer()

    # --- Recorder protocol ----------------------------------------------------------------

    def record(self, event: ev.AnyEvent) -> None:
        """Buffer one event's row; writes a batch when enough rows are pending."""
        table, build = self._builders[type(event)]
        if table in BAR_TABLES and not self.records_bars:
            return
        rows = self._tables.get(table)
        if rows is None:
            rows = self._tables[table] = []
        rows.append(build(event))
        self._pending += 1
        if self._pending >= self._next_rows:
            self._submit()

    def record_bar_block(self, block: BarBlock) -> None:
        """Buffer a block of bars for both bar tables (with its indicator values)."""
        if not self.records_bars or not len(block):
            return
        if self._blocks and self._blocks[0].names != block.names:
            self._submit()  # one batch holds blocks of one set of indicator names
        self._blocks.append(block)
        self._pending += 2 * len(block)
        if self._pending >= self._next_rows:
            self._submit()

    def flush(self) -> None:
        """Write everything buffered and wait until it is written (or discarded)."""
        try:
            self._submit()
            if self._writer is not None:
                self._writer.drain()
        finally:
            self._close_writer()

    # --- batches --------------------------------------------------------------------------

    def _submit(self) -> None:
        if not self._pending:
            return
        batch = Batch(
            run_id=self.run_id,
            tables={t: rows for t, rows in self._tables.items() if rows},
            bars=self._blocks,
            events=self._pending,
            claim=self.claim,
        )
        self._tables, self._blocks, self._pending = {}, [], 0
        self._next_rows = min(self.batch_rows, 2 * self._next_rows)
        if self.run_deleted:
            return
        writer = self._writer
        if writer is None:
            writer = self._writer = self._open_writer()
        writer.write(batch)

    def _open_writer(self) -> _Writer:
        """A writer process for bar-heavy SQLite recording (outside a caller's transaction),
        else one that writes in this process."""
        connection = connections[self.using]
        if connection.vendor == "postgresql":
            return PostgresWriter(self.using)
        path = database_file(self.using)
        connection.ensure_connection()
        if path is not None and self.records_bars and not connection.in_atomic_block:
            return SqliteWriterProcess(path=path, timeout=BUSY_TIMEOUT_SECONDS)
        return SqliteSyncWriter(self.using)

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            self._deleted = self._deleted or writer.run_deleted
            self._written += writer.rows_written
