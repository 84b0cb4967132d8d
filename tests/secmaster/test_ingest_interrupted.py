"""A multi-file ingest killed -9 after its first file committed leaves coverage that matches the
committed bars (issue 12 item 12).

The real ``manage.py ingest_databento`` runs in a subprocess on two files. The second is a named
pipe: the command commits the first file, opens the pipe and reads the second file's first
bytes, then waits for more; the test kills it there, in the middle of the second file. The
expected coverage is written out here from the first file's bars.
"""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest
from django.conf import settings
from django.db import connections

from tests.backtests.subprocesses import database_env, start_manage, wait_for
from tests.dbn_files import P, dbn_bytes, ns, write_batch_zip

DATABASES = ["default", "secmaster"]
pytestmark = pytest.mark.django_db(transaction=True, databases=DATABASES)

FIRST = [
    (100, ns("2024-01-02T14:30"), 100 * P, 101 * P, 99 * P, 100 * P, 500),
    (100, ns("2024-01-03T14:30"), 101 * P, 102 * P, 100 * P, 101 * P, 600),
    (200, ns("2024-01-02T14:30"), 50 * P, 51 * P, 49 * P, 50 * P, 700),
]
FIRST_MAPPINGS = {
    "AAPL": [("2024-01-02", "2024-02-01", 100)],
    "MSFT": [("2024-01-02", "2024-02-01", 200)],
}
SECOND_BARS = [
    (300, ns("2024-01-04T14:30") + i * 60 * P, 10 * P, 11 * P, 9 * P, 10 * P, 1)
    for i in range(2000)
]
SECOND_MAPPINGS = {"NVDA": [("2024-01-02", "2024-02-01", 300)]}


def rows(sql: str) -> list[tuple]:
    with connections["secmaster"].cursor() as cursor:
        cursor.execute(sql)
        return [tuple(r) for r in cursor.fetchall()]


def open_pipe_for_writing(path) -> int:
    """The pipe's write end, once the command has opened it for reading."""

    def attempt() -> int | None:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no reader yet
                return None
            raise

    return wait_for(attempt, what="the ingest to open the second file")


def test_ingest_killed_during_second_file_keeps_coverage_of_committed_first_file(tmp_path):
    first = write_batch_zip(tmp_path / "a-first.zip", files={33: FIRST}, mappings=FIRST_MAPPINGS)
    second = tmp_path / "b-second.dbn"
    os.mkfifo(second)
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=SECOND_BARS, mappings=SECOND_MAPPINGS)
    env = {**os.environ, **database_env(), "DJANGO_SECRET_KEY": settings.SECRET_KEY}
    process = start_manage(
        ["ingest_databento", str(first), str(second)], env, tmp_path / "ingest.log"
    )
    try:
        pipe = open_pipe_for_writing(second)
        os.set_blocking(pipe, True)
        os.write(pipe, data[: len(data) // 2])  # the header and half the records, no more
        time.sleep(1.0)  # the command reads and writes what it got, in its open transaction
        assert process.poll() is None
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        os.close(pipe)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert rows("SELECT COUNT(*) FROM ohlcv") == [(3,)]  # the first file's bars, no more
    assert rows(
        "SELECT symbol, rtype, min_ts, max_ts FROM symbol_coverage ORDER BY symbol, rtype"
    ) == [
        ("AAPL", 33, ns("2024-01-02T14:30"), ns("2024-01-03T14:30")),
        ("MSFT", 33, ns("2024-01-02T14:30"), ns("2024-01-02T14:30")),
    ]
