"""Database helpers shared by the apps."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connections, transaction

logger = logging.getLogger(__name__)


@contextmanager
def read_snapshot(using: str) -> Iterator[None]:
    """A transaction for reads only: one consistent snapshot, no write lock.

    On SQLite the site opens transactions with ``BEGIN IMMEDIATE`` (writers queue up instead
    of failing half-way), which takes the database's single write lock at once; a long read
    in such a transaction (a backtest's datafeed) would keep every other writer, and every
    other run's feed, waiting until it ends. Here the transaction starts as ``BEGIN DEFERRED``
    instead: in WAL mode it reads one snapshot while writers carry on. Elsewhere (PostgreSQL,
    or inside an outer transaction) it is a plain ``transaction.atomic``.
    """
    connection = connections[using]
    connection.ensure_connection()  # Django sets ``transaction_mode`` when it connects
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic(using=using):
            yield
        return
    mode = connection.transaction_mode
    connection.transaction_mode = "DEFERRED"
    try:
        with transaction.atomic(using=using):
            connection.transaction_mode = mode  # only this BEGIN is deferred
            yield
    finally:
        connection.transaction_mode = mode


@contextmanager
def short_lock_wait(using: str, milliseconds: int) -> Iterator[None]:
    """Wait at most ``milliseconds`` for a lock (instead of the busy timeout of 30 s) inside
    the block: SQLite's ``busy_timeout``, PostgreSQL's ``lock_timeout``, set on the
    connection and restored after. A statement that would wait longer raises
    ``OperationalError`` at once."""
    connection = connections[using]
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            before = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {before}")
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {int(milliseconds)}")
    try:
        yield
    finally:
        if connection.connection is not None and not connection.needs_rollback:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")


CHECKPOINT_WAIT_MILLISECONDS = 200


def wal_checkpoint(using: str) -> None:
    """On SQLite, copy the WAL into the database and truncate it (``journal_size_limit``
    bounds it otherwise). A TRUNCATE checkpoint keeps writers out while it waits for
    readers, so it waits ``CHECKPOINT_WAIT_MILLISECONDS`` at most; a busy database just skips
    it (a later checkpoint catches up)."""
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return
    try:
        with short_lock_wait(using, CHECKPOINT_WAIT_MILLISECONDS), connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _, _ = cursor.fetchone()
        if busy:
            logger.info("WAL checkpoint of %s incomplete: readers were busy", using)
    except DatabaseError as exc:
        logger.warning("WAL checkpoint of %s skipped: %s", using, exc)
