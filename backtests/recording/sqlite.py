"""Writing batches to a SQLite runs database: stage in temporary tables, then copy in SQL.

Staging binds each row's values once, into a connection's TEMP tables (no lock on the runs
database, no index). Bars are packed ``BAR_SLOTS`` to a staging row, which divides the
per-row cost of a statement step by that much. The copy is a handful of
``INSERT INTO main.<table> SELECT ... FROM temp.<stage>`` statements in one
``BEGIN IMMEDIATE`` transaction that first checks the run still exists (the write lock then
keeps it so until the commit): SQLite does the indexed inserts without Python.

``SqliteSyncWriter`` stages and copies at once on the Django connection (inside the caller's
transaction, if any). ``SqlitePipeline`` (``sqlite_pipeline``) copies on a thread of its own
while the engine goes on: the copy runs in SQLite's C code, which releases the GIL.
"""

from __future__ import annotations

import sqlite3

from django.db import connections, transaction

from backtests.recording.batches import BarBlock, Batch
from backtests.recording.rows import TABLE_COLUMNS

BAR_SLOTS = 10  # bars per staging row
_SLOT_COLUMNS = ("ts", "symbol", "period", "open", "high", "low", "close", "volume", "ind")
_BAR_COLUMNS = (
    "run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume"
)
_BAR_PACK = "ost_stage_bar_pack"


def _stage_table(table: str) -> str:
    return f"ost_stage_{table}"


def _columns(table: str) -> tuple[str, ...]:
    return ("run_id", "ts_event_ns", "ts_created_ns", *TABLE_COLUMNS[table])


def staging_ddl() -> list[str]:
    """CREATE statements of the TEMP staging tables (idempotent)."""
    statements = [
        f"CREATE TEMP TABLE IF NOT EXISTS {_stage_table(t)} ({', '.join(_columns(t))})"
        for t in TABLE_COLUMNS
    ]
    slots = ", ".join(f"{c}{j}" for j in range(BAR_SLOTS) for c in _SLOT_COLUMNS)
    statements.append(
        f"CREATE TEMP TABLE IF NOT EXISTS {_BAR_PACK} (seq INTEGER PRIMARY KEY, {slots})"
    )
    return statements


def pack_bars(block: BarBlock, slots: int = BAR_SLOTS) -> list[tuple]:
    """Rows of ``slots`` bars each: row r holds bars r, r + m, r + 2m, ... (m rows in all).

    Slot j of every row, read in row order, is then the contiguous run of bars
    [j * m, (j + 1) * m): copying slot by slot keeps the bars' order. Missing slots at the
    end are NULL.
    """
    n = len(block)
    if not n:
        return []
    m = -(-n // slots)
    pad = [None] * (m * slots - n)
    columns = [list(column) + pad for column in block.columns]
    return list(
        zip(*(column[j * m : (j + 1) * m] for j in range(slots) for column in columns), strict=True)
    )


def stage(cursor, batch: Batch) -> None:
    """Bind the batch's rows into the TEMP staging tables of ``cursor``'s connection."""
    for table, rows in batch.tables.items():
        marks = ", ".join(["?"] * len(_columns(table)))
        cursor.executemany(f"INSERT INTO {_stage_table(table)} VALUES ({marks})", rows)
    if batch.bars is not None:
        marks = ", ".join(["?"] * (BAR_SLOTS * len(_SLOT_COLUMNS)))
        slots = ", ".join(f"{c}{j}" for j in range(BAR_SLOTS) for c in _SLOT_COLUMNS)
        cursor.executemany(
            f"INSERT INTO {_BAR_PACK} ({slots}) VALUES ({marks})", pack_bars(batch.bars)
        )


def copy_statements(batch: Batch) -> list[str]:
    """The statements (one ``?``: the run id, where any) that move the staged rows of
    ``batch`` into the runs tables and empty the staging tables."""
    statements = []
    for table in batch.tables:
        columns = ", ".join(_columns(table))
        statements.append(
            f"INSERT INTO main.{table} ({columns}) SELECT {columns}"
            f" FROM temp.{_stage_table(table)} ORDER BY rowid"
        )
        statements.append(f"DELETE FROM temp.{_stage_table(table)}")
    if batch.bars is not None:
        for table, extra in (("bars", ""), ("bars_processed", ", ind{j}")):
            arms = " UNION ALL ".join(
                f"SELECT ?1, ts{j}, ts{j}, symbol{j}, period{j}, open{j}, high{j}, low{j},"
                f" close{j}, volume{j}{extra.format(j=j)} FROM temp.{_BAR_PACK}"
                f" WHERE ts{j} IS NOT NULL"
                for j in range(BAR_SLOTS)
            )
            target = _BAR_COLUMNS + (", indicators" if extra else "")
            statements.append(f"INSERT INTO main.{table} ({target}) {arms}")
        statements.append(f"DELETE FROM temp.{_BAR_PACK}")
    return statements


RUN_EXISTS_SQL = "SELECT 1 FROM main.runs WHERE run_id = ?"


def copy_staged(cursor, batch: Batch) -> bool:
    """Copy the staged rows of ``batch`` if its run still exists (inside a transaction that
    holds the write lock); True if copied. The staging tables end empty either way."""
    exists = cursor.execute(RUN_EXISTS_SQL, (batch.run_id,)).fetchone() is not None
    for sql in copy_statements(batch):
        if exists or sql.startswith("DELETE"):
            cursor.execute(sql, (batch.run_id,) if "?1" in sql else ())
    return exists


def clear_staging(cursor) -> None:
    """Empty every staging table (after a failed copy)."""
    for table in TABLE_COLUMNS:
        cursor.execute(f"DELETE FROM temp.{_stage_table(table)}")
    cursor.execute(f"DELETE FROM temp.{_BAR_PACK}")


def database_file(using: str) -> str | None:
    """The runs database file of alias ``using``, or None if it is not a shareable file."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or "mode=memory" in name:
        return None
    return name


class SqliteSyncWriter:
    """Stages and copies each batch at once on the Django connection of ``using``."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.run_deleted = False
        self.rows_written = 0
        self._ready = False

    def write(self, batch: Batch) -> None:
        if self.run_deleted or not batch:
            return
        connection = connections[self.using]
        with transaction.atomic(using=self.using):
            cursor = connection.connection.cursor()
            try:
                if not self._ready:
                    for sql in staging_ddl():
                        cursor.execute(sql)
                    self._ready = True
                stage(cursor, batch)
                copied = copy_staged(cursor, batch)
            finally:
                cursor.close()
        if copied:
            self.rows_written += batch.events
        else:
            self.run_deleted = True

    def drain(self) -> None:
        """Nothing is pending: every batch was written by ``write``."""

    def close(self) -> None:
        """Nothing to release (the Django connection stays open)."""


def open_staging_connection(path: str, timeout: float) -> sqlite3.Connection:
    """A connection of its own to the runs database file, with empty staging tables.

    Foreign keys stay off: ``copy_staged`` checks the run row once per batch under the write
    lock instead of once per row.
    """
    connection = sqlite3.connect(
        path, timeout=timeout, isolation_level=None, check_same_thread=False
    )
    for pragma in (
        "PRAGMA synchronous = NORMAL",
        "PRAGMA temp_store = MEMORY",
        "PRAGMA cache_size = -16384",
    ):
        connection.execute(pragma)
    for sql in staging_ddl():
        connection.execute(sql)
    return connection
