"""The SQLite writer process: inserts a run's batches into the runs database file.

    python -E -S writer_process.py      (started by ``sqlite.SqliteWriterProcess``)

Runs on the standard library alone (``statements`` and ``wire`` from this folder; no Django,
no numpy), so it starts in a few tens of milliseconds. It reads messages from stdin: a hello
(database path, busy timeout), then batches and drain requests, until stdin closes. Each
batch is one ``BEGIN IMMEDIATE`` transaction (``statements.insert_batch``); batches commit in
the order they arrive. It answers on stdout only when asked (a drain), or once, at once, when
a batch fails or finds its run gone (or no longer claimed by the batch's execution); after
either, later batches are discarded. A checkpointer
thread moves committed pages from the WAL into the database file (an fsync each time) every
``CHECKPOINT_ROWS`` rows, without blocking the inserts.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import statements
import wire

# Rows written between checkpoints: about 128 MB of WAL (4 KiB pages, ~16 rows each, with
# their index entries); below the site's wal_autocheckpoint, so the site never waits for one.
CHECKPOINT_ROWS = 32768 * 16


def _connect(path: str, timeout: float) -> sqlite3.Connection:
    """Autocommit; foreign keys off (the run row is checked once per batch instead of once
    per row); deleted content not zeroed (Debian's SQLite zeroes it by default: runs hold
    nothing secret, and it costs every page split); no automatic checkpoints."""
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    for pragma in (
        "PRAGMA synchronous = NORMAL",
        "PRAGMA secure_delete = OFF",
        "PRAGMA cache_size = -16384",
        "PRAGMA wal_autocheckpoint = 0",
    ):
        connection.execute(pragma)
    return connection


class _Checkpointer:
    """PASSIVE checkpoints on a thread and a connection of their own, when asked."""

    def __init__(self, path: str, timeout: float) -> None:
        self._path, self._timeout = path, timeout
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        connection = _connect(self._path, self._timeout)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                with contextlib.suppress(sqlite3.Error):  # busy: the next request tries again
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()


def _insert(connection: sqlite3.Connection, batch: dict) -> bool:
    bars = batch["bars"]
    connection.execute("BEGIN IMMEDIATE")
    try:
        inserted = statements.insert_batch(
            connection.cursor(),
            batch["run_id"],
            batch["tables"],
            wire.bar_lists(bars) if bars is not None else None,
            batch.get("claim"),
        )
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return inserted


def main() -> int:
    incoming, outgoing = sys.stdin.buffer, sys.stdout.buffer
    hello = wire.receive(incoming)
    if hello is None:
        return 0
    connection = _connect(hello["path"], hello["timeout"])
    checkpointer = _Checkpointer(hello["path"], hello["timeout"])
    written = since_checkpoint = 0
    failure: str | None = None
    deleted = False
    try:
        while (message := wire.receive(incoming)) is not None:
            if message["kind"] == "drain":
                wire.send(
                    outgoing,
                    {"kind": "drained", "rows": written, "deleted": deleted, "error": failure},
                )
                continue
            if failure is not None or deleted:
                continue
            try:
                inserted = _insert(connection, message)
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stderr)
                wire.send(outgoing, {"kind": "failed", "error": failure})
                continue
            if not inserted:
                deleted = True
                wire.send(outgoing, {"kind": "deleted"})
                continue
            written += message["events"]
            since_checkpoint += message["events"]
            if since_checkpoint >= CHECKPOINT_ROWS:
                since_checkpoint = 0
                checkpointer.request()
    finally:
        checkpointer.stop()
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
