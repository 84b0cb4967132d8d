"""Writing batches to a PostgreSQL runs database: one transaction per batch on the Django
connection; the run row is share-locked first (a concurrent delete or status change waits,
then the next batch sees the run gone or no longer its claim's), event rows go by
``executemany`` and bars by ``COPY ... FROM STDIN``."""

from __future__ import annotations

from django.db import IntegrityError, connections, transaction

from backtests.recording.batches import Batch, InProcessWriter, bar_lists
from backtests.recording.statements import TABLE_COLUMNS

_BAR_COLUMNS = (
    "run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume"
)


RUN_EXISTS_SQL = "SELECT 1 FROM runs WHERE run_id = %s FOR KEY SHARE"
# FOR SHARE, not KEY SHARE: it also makes an UPDATE of the status (a stale-run check failing
# the run) wait until the batch commits, so no row is written after the run stopped being ours.
RUN_CLAIMED_SQL = (
    "SELECT 1 FROM runs WHERE run_id = %s AND claim = %s"
    " AND status IN ('running', 'cancelling') FOR SHARE"
)


def _insert_sql(table: str) -> str:
    columns = ("run_id", "ts_event_ns", "ts_created_ns", *TABLE_COLUMNS[table])
    marks = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


class PostgresWriter(InProcessWriter):
    """Writes each batch at once on the Django connection of ``using``."""

    def _insert(self, batch: Batch) -> bool:
        try:
            with transaction.atomic(using=self.using), connections[self.using].cursor() as cursor:
                if batch.claim is None:
                    cursor.execute(RUN_EXISTS_SQL, [batch.run_id])
                else:
                    cursor.execute(RUN_CLAIMED_SQL, [batch.run_id, batch.claim])
                if cursor.fetchone() is None:
                    return False
                for table, rows in batch.tables.items():
                    cursor.executemany(_insert_sql(table), rows)
                if batch.bars:
                    self._copy_bars(cursor, batch)
        except IntegrityError:
            with connections[self.using].cursor() as cursor:
                cursor.execute("SELECT 1 FROM runs WHERE run_id = %s", [batch.run_id])
                if cursor.fetchone() is not None:
                    raise
            return False
        return True

    @staticmethod
    def _copy_bars(cursor, batch: Batch) -> None:
        bars = bar_lists(batch.bars)
        ts, symbol, period = bars["ts"], bars["symbol"], bars["bar_period"]
        open_, high, low, close, volume = (
            bars[c] for c in ("open", "high", "low", "close", "volume")
        )
        indicators = bars["indicators"]
        run = [batch.run_id] * len(ts)
        for table, columns, extra in (
            ("bars", _BAR_COLUMNS, ()),
            ("bars_processed", f"{_BAR_COLUMNS}, indicators", (indicators,)),
        ):
            rows = zip(
                run, ts, ts, symbol, period, open_, high, low, close, volume, *extra, strict=True
            )
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
