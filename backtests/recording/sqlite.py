"""Writing batches to a SQLite runs database, in this process or in a writer process.

``SqliteWriterProcess`` hands the batches to a process of its own (``writer_process.py``),
which inserts them while the backtest goes on: the database work (binding values, the indexed
inserts, commits and checkpoints) runs on the other core, outside this process's GIL. Bars
travel as raw column bytes. ``SqliteSyncWriter`` writes each batch at once on the Django
connection, inside the caller's transaction if one is open (its rows must join it).

Both insert with ``statements.insert_batch``: one ``BEGIN IMMEDIATE`` transaction per batch
that first checks the run still exists, then multi-row INSERTs.
"""

from __future__ import annotations

import contextlib
import fcntl
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.db import connections, transaction

from backtests.recording import statements, wire
from backtests.recording.batches import Batch, InProcessWriter, bar_lists, bar_message

WRITER_SCRIPT = Path(__file__).with_name("writer_process.py")
WRITER_EXIT_SECONDS = 30.0
PIPE_BYTES = 4 << 20  # a few batches of bars in flight
MSG_WRITER_FAILED = "recording failed: {error}"
MSG_WRITER_GONE = "the writer process ended unexpectedly (exit code {code})"


class RecordingError(RuntimeError):
    """The database refused or lost a batch of the run's rows."""


def database_file(using: str) -> str | None:
    """The runs database file of alias ``using``, or None if it is not a shareable file."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return None
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or "mode=memory" in name:
        return None
    return name


class SqliteSyncWriter(InProcessWriter):
    """Writes each batch at once on the Django connection, joining the caller's transaction."""

    def _insert(self, batch: Batch) -> bool:
        with transaction.atomic(using=self.using):
            cursor = connections[self.using].connection.cursor()
            try:
                return statements.insert_batch(
                    cursor, batch.run_id, batch.tables, bar_lists(batch.bars), batch.claim
                )
            finally:
                cursor.close()


def _widen_pipe(stream) -> None:
    """Let a pipe hold a few batches (Linux: up to fs.pipe-max-size, 1 MiB by default), so
    the backtest queues the next batch while the writer inserts one instead of waiting for it
    to read every 64 KiB."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    for size in (PIPE_BYTES, 1 << 20):
        try:
            fcntl.fcntl(stream.fileno(), set_size, size)
            return
        except OSError:  # above the system's limit: try the default limit
            continue


class SqliteWriterProcess:
    """Writes a run's batches to the SQLite file ``path`` in a writer process.

    ``write`` only queues (it waits when the pipe is full: the writer is behind); ``drain``
    waits until every batch is committed and reports; errors and a deleted run are noticed at
    the next ``write`` or ``drain``. The process ends at ``close``, or by itself when this
    process dies (its stdin closes).
    """

    def __init__(self, *, path: str, timeout: float) -> None:
        self.run_deleted = False
        self.rows_written = 0
        self._error: str | None = None
        self._reported = False
        self._process = subprocess.Popen(
            [sys.executable, "-E", "-S", str(WRITER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        _widen_pipe(self._process.stdin)
        self._send({"path": path, "timeout": timeout})

    def write(self, batch: Batch) -> None:
        self._read_news()
        self._raise_error()
        if self.run_deleted or self._error is not None or not batch:
            return
        self._send(
            {
                "kind": "batch",
                "run_id": batch.run_id,
                "claim": batch.claim,
                "tables": batch.tables,
                "bars": bar_message(batch.bars),
                "events": batch.events,
            }
        )

    def drain(self) -> None:
        """Wait until every batch sent is committed (or discarded); raise a failure."""
        if self._error is None:
            self._send({"kind": "drain"})
            while True:
                message = self._receive()
                self._note(message)
                if message["kind"] == "drained":
                    self.rows_written = message["rows"]
                    break
        self._raise_error()

    def close(self) -> None:
        """End the writer process (it finishes what it was sent first)."""
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(OSError):
                process.stdin.close()
            try:
                process.wait(timeout=WRITER_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()

    # --- messages ----------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        try:
            wire.send(self._process.stdin, message)
        except (BrokenPipeError, OSError):
            self._error = self._error or MSG_WRITER_GONE.format(code=self._process.wait())
            self._raise_error()

    def _receive(self) -> dict[str, Any]:
        message = wire.receive(self._process.stdout)
        if message is None:
            self._error = self._error or MSG_WRITER_GONE.format(code=self._process.wait())
            self._raise_error()
            raise RecordingError(self._error)  # unreachable: _raise_error raised
        return message

    def _read_news(self) -> None:
        """Take the messages the writer sent by itself (a failure, a deleted run)."""
        stdout = self._process.stdout
        while select.select([stdout], [], [], 0)[0]:
            message = wire.receive(stdout)
            if message is None:
                self._error = self._error or MSG_WRITER_GONE.format(code=self._process.wait())
                return
            self._note(message)

    def _note(self, message: dict[str, Any]) -> None:
        if message["kind"] == "deleted" or message.get("deleted"):
            self.run_deleted = True
        error = message.get("error")
        if error and self._error is None:
            self._error = error

    def _raise_error(self) -> None:
        """Raise a failure once; later calls are quiet (the batches are being discarded)."""
        if self._error is not None and not self._reported:
            self._reported = True
            raise RecordingError(MSG_WRITER_FAILED.format(error=self._error))
