"""Recording to SQLite on a second thread, so the database work overlaps the backtest.

The engine thread stages a batch into the TEMP tables of one of two connections of its own
(``sqlite.stage``) and hands that connection to the writer thread, which copies the rows into
the runs tables in one transaction (``sqlite.copy_staged``) while the engine stages the next
batch on the other connection. SQLite releases the GIL while it executes a statement, so the
indexed inserts, the commit and the WAL checkpoints run on another core.

Batches are committed one after the other, in the order they were submitted: the database
only ever holds a prefix of a run's events. After a failed batch, or once the run row is
gone, later batches are discarded; ``drain`` then raises the error (or sets ``run_deleted``).
While a pipeline is open the interpreter's switch interval is shortened, so the writer gets
the GIL back quickly between its statements.
"""

from __future__ import annotations

import queue
import sqlite3
import sys
import threading

from backtests.recording.batches import Batch
from backtests.recording.sqlite import clear_staging, copy_staged, open_staging_connection, stage

STAGING_CONNECTIONS = 2
SWITCH_INTERVAL_SECONDS = 0.0005

_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


def _shorten_switch_interval() -> None:
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL_SECONDS))
        _switch_users += 1


def _restore_switch_interval() -> None:
    global _switch_users
    with _switch_lock:
        _switch_users -= 1
        if _switch_users == 0:
            sys.setswitchinterval(_switch_saved)


class SqlitePipeline:
    """Writes a run's batches to the SQLite file ``path`` on a writer thread."""

    def __init__(self, *, path: str, timeout: float = 30.0) -> None:
        self.run_deleted = False
        self.rows_written = 0
        self._failure: BaseException | None = None  # the first error; later batches dropped
        self._unreported: BaseException | None = None  # not yet raised to the engine thread
        self._free: queue.Queue[sqlite3.Connection] = queue.Queue()
        self._work: queue.Queue[tuple[sqlite3.Connection, Batch] | None] = queue.Queue()
        self._connections = [
            open_staging_connection(path, timeout) for _ in range(STAGING_CONNECTIONS)
        ]
        for connection in self._connections:
            self._free.put(connection)
        _shorten_switch_interval()
        self._thread = threading.Thread(target=self._run, name="ost-recorder", daemon=True)
        self._thread.start()
        self._closed = False

    # --- engine thread ---------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Stage ``batch`` and queue it for the writer (waits while both connections are
        busy); raises the writer's error, if a previous batch failed."""
        self._raise_error()
        if self.run_deleted or self._failure is not None or not batch:
            return
        connection = self._free.get()
        try:
            connection.execute("BEGIN")
            stage(connection, batch)
            connection.execute("COMMIT")
        except BaseException:
            self._discard(connection)
            self._free.put(connection)
            raise
        self._work.put((connection, batch))

    def drain(self) -> None:
        """Wait until every queued batch is written (or discarded); raise a writer error."""
        held = [self._free.get() for _ in self._connections]
        for connection in held:
            self._free.put(connection)
        self._raise_error()

    def close(self) -> None:
        """Stop the writer thread and close the connections (after ``drain``)."""
        if self._closed:
            return
        self._closed = True
        self._work.put(None)
        self._thread.join()
        for connection in self._connections:
            connection.close()
        _restore_switch_interval()

    def _raise_error(self) -> None:
        """Raise the writer's error to the engine thread, once."""
        if self._unreported is not None:
            error, self._unreported = self._unreported, None
            raise error

    # --- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            connection, batch = item
            try:
                if self._failure is None and not self.run_deleted:
                    self._copy(connection, batch)
                else:
                    self._discard(connection)
            except BaseException as exc:  # handed to the engine thread
                self._failure = self._unreported = exc
                self._discard(connection)
            finally:
                self._free.put(connection)

    def _copy(self, connection: sqlite3.Connection, batch: Batch) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            copied = copy_staged(connection, batch)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        if copied:
            self.rows_written += batch.events
        else:
            self.run_deleted = True

    @staticmethod
    def _discard(connection: sqlite3.Connection) -> None:
        """Leave the connection with empty staging tables and no open transaction."""
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            clear_staging(connection)
        except sqlite3.Error:
            pass
