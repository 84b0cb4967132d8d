"""A big file is ingested in bounded transactions, and a failed or killed file still leaves
nothing behind (issue 12 item 2).

Real DBN bytes; the real command in a subprocess where it is killed -9 once some of its
transactions (``OST_INGEST_TRANSACTION_RECORDS`` records each) have committed; another
writer with a 0.1 s lock timeout between two transactions of an ingest.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from django.conf import settings
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connections

from secmaster.models import IngestJournal
from secmaster.services.bars import BarWriter
from tests.backtests.subprocesses import database_env, start_manage, wait_for
from tests.dbn_files import P, ingest_paths, ns, write_batch_zip, write_dbn
from tests.secmaster.test_bar_blocks_ingest import assert_blocks_equal_ohlcv
from tests.secmaster.test_ingest_hostile import everything

DATABASES = ["default", "secmaster"]

AAPL = [
    (100, ns("2024-01-02T14:30") + i * 60 * P, 100 * P, 101 * P, 99 * P, 100 * P, 5)
    for i in range(0, 40, 2)
]
MAPPINGS = {"AAPL": [("2024-01-02", "2024-02-01", 100)]}


def count(sql: str) -> int:
    with connections["secmaster"].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.mark.django_db(databases=DATABASES)
def test_failed_file_after_committed_chunks_leaves_nothing_even_in_shared_blocks(
    tmp_path, settings
):
    ingest_paths([write_batch_zip(tmp_path / "base.zip", files={33: AAPL}, mappings=MAPPINGS)])
    before = everything()
    settings.OST_INGEST_TRANSACTION_RECORDS = 3
    # the odd minutes between the stored bars (same blocks), a new instrument, then a bad bar
    between = [(100, ts + 60 * P, 7 * P, 8 * P, 6 * P, 7 * P, 1) for _, ts, *_ in AAPL]
    newcomer = [(200, ns("2024-01-05T14:30"), 5 * P, 6 * P, 4 * P, 5 * P, 1)]
    bad = [(200, ns("2024-01-05T14:31"), 5 * P, 4 * P, 6 * P, 5 * P, 1)]  # low > high
    path = write_dbn(
        tmp_path / "z-bad.dbn",
        bars=between + newcomer + bad,
        mappings={**MAPPINGS, "MSFT": [("2024-01-02", "2024-02-01", 200)]},
    )

    with pytest.raises(CommandError) as refused:
        call_command("ingest_databento", str(path))

    assert "low" in str(refused.value) and str(path) in str(refused.value)
    assert everything() == before
    assert_blocks_equal_ohlcv()
    assert count("SELECT COUNT(*) FROM ingest_journal_entries") == 0


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_an_ingest_killed_mid_file_is_rolled_back_by_the_next_ingest(tmp_path):
    ingest_paths([write_batch_zip(tmp_path / "base.zip", files={33: AAPL}, mappings=MAPPINGS)])
    before = everything()
    bars = [
        (300, ns("2024-01-03T00:00") + i * 60 * P, 10 * P, 11 * P, 9 * P, 10 * P, 1)
        for i in range(100_000)
    ]
    big = write_dbn(
        tmp_path / "big.dbn", bars=bars, mappings={"NVDA": [("2024-01-02", "2024-04-01", 300)]}
    )
    env = {
        **os.environ,
        **database_env(),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "OST_INGEST_TRANSACTION_RECORDS": "50",  # 2,000 transactions
    }
    process = start_manage(["ingest_databento", str(big)], env, tmp_path / "ingest.log")
    try:
        wait_for(
            lambda: count("SELECT COUNT(*) FROM ohlcv") >= len(AAPL) + 500,
            what="some chunks of the big file committed",
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    left = count("SELECT COUNT(*) FROM ohlcv") - len(AAPL)
    assert 500 <= left < len(bars)  # killed mid-file, its chunks committed
    assert IngestJournal.objects.count() == 1  # left by the killed process

    ingest_paths([write_batch_zip(tmp_path / "base.zip", files={33: AAPL}, mappings=MAPPINGS)])

    assert everything() == before  # the killed file's bars and its instrument are gone
    assert IngestJournal.objects.count() == 0
    assert_blocks_equal_ohlcv()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_other_writers_go_on_between_an_ingests_transactions(tmp_path, api_client, monkeypatch):
    monkeypatch.setattr(django_settings, "OST_INGEST_TRANSACTION_RECORDS", 100)
    bars = [
        (300, ns("2024-01-03T00:00") + i * 60 * P, 10 * P, 11 * P, 9 * P, 10 * P, 1)
        for i in range(1_000)
    ]
    big = write_dbn(
        tmp_path / "big.dbn", bars=bars, mappings={"NVDA": [("2024-01-02", "2024-04-01", 300)]}
    )
    committed, go = threading.Event(), threading.Event()
    write = BarWriter.write

    def write_then_pause(self, records):
        write(self, records)  # its transactions are committed when it returns
        if not committed.is_set():
            committed.set()
            go.wait(timeout=60)

    monkeypatch.setattr(BarWriter, "write", write_then_pause)
    outcome: list = []

    def ingest() -> None:
        try:
            outcome.append(ingest_paths([big]))
        except Exception as exc:
            outcome.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        assert committed.wait(timeout=60)
        with connections["secmaster"].cursor() as cursor:  # give up on a lock after 0.1 s
            cursor.execute(
                "PRAGMA busy_timeout = 100"
                if connections["secmaster"].vendor == "sqlite"
                else "SET lock_timeout = 100"
            )
        created = api_client.post(
            "/api/presets", {"name": "During", "symbols": ["AAPL"]}, format="json"
        )
    finally:
        go.set()
        thread.join()

    assert created.status_code == 201, created.json()
    assert outcome[0].new_bars == 1_000
