"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction


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
