"""A bulk delete and a big ingest while two runs record and readers poll (issue 12 item 2).

A real ``manage.py qcluster`` with two workers records two backtests (every bar, order and
fill: the recorder writes all the time); threads of this process poll the runs list and the
running list as the pages do; meanwhile this process ingests a file of many bars (the
security master's write lock) and deletes three big runs through the API, purged in chunks
(the runs database's write lock, taken and released chunk by chunk). Expected: both runs
complete, no request answers 5xx, the deleted runs' rows are gone.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.test import Client

from backtests.models import Fill, RecordedBar, Run, RunStatus
from tests.backtests.market_data import minute_bars
from tests.backtests.run_rows import run_row, t
from tests.backtests.subprocesses import wait_for
from tests.backtests.worker_runs import TRADER_BARS, run_state
from tests.dbn_files import ingest_paths, write_dbn

DATABASES = ["default", "secmaster"]
pytestmark = [pytest.mark.django_db(transaction=True, databases=DATABASES), pytest.mark.worker]

BIG_RUNS = 3
BIG_RUN_BARS = 6_000
CHUNK_ROWS = 1_000  # so each big run is purged in several transactions
INGEST_BARS = 60_000


def big_run(run_id: str, owner) -> Run:
    run = run_row(run_id, owner=owner)
    RecordedBar.objects.bulk_create(
        (
            RecordedBar(
                run=run,
                ts_event_ns=t(i),
                ts_created_ns=t(i),
                symbol="AAPL",
                bar_period="MINUTE",
                open=100.0,
                high=101.0,
                low=99.0,
                close=100.5,
                volume=10,
            )
            for i in range(BIG_RUN_BARS)
        ),
        batch_size=2_000,
    )
    return run


class Readers:
    """Threads that poll the read routes until stopped; every status they got."""

    ROUTES = ("/api/runs", "/api/backtest/running")

    def __init__(self, user, count: int = 2) -> None:
        self.user = user
        self.statuses: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll) for _ in range(count)]

    def _poll(self) -> None:
        client = Client()
        client.force_login(self.user)
        try:
            while not self._stop.is_set():
                for route in self.ROUTES:
                    try:
                        response = client.get(route)
                    except Exception as exc:  # a raised error is a 500 the server would send
                        self.errors.append(f"{route}: {type(exc).__name__}: {exc}")
                        continue
                    self.statuses.append((route, response.status_code))
        finally:
            for connection in connections.all():
                connection.close()

    def __enter__(self) -> Readers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def test_bulk_delete_and_big_ingest_while_runs_record_and_readers_poll(
    start_cluster, trader, api_client, user, settings, tmp_path
):
    settings.OST_RUNS_PURGE_CHUNK_ROWS = CHUNK_ROWS
    doomed = [big_run(f"big{i}", user).run_id for i in range(BIG_RUNS)]
    big_file = write_dbn(
        tmp_path / "big.dbn.zst",
        bars=minute_bars(77, "2024-03-01T00:00", INGEST_BARS),
        mappings={"BIG": [("2024-03-01", "2024-06-01", 77)]},
    )
    start_cluster(OST_MAX_CONCURRENT_RUNS="2")
    recording = [trader.submit(sleep_ms=0.5), trader.submit(sleep_ms=0.5)]
    wait_for(
        lambda: all(run_state(r).status == RunStatus.RUNNING for r in recording),
        what="both runs to start recording",
    )

    with Readers(user) as readers:
        summary = ingest_paths([big_file])
        deleted = api_client.delete("/api/runs", {"run_ids": doomed}, format="json")
        wait_for(
            lambda: all(run_state(r).status not in ("queued", "running") for r in recording),
            what="both runs to finish",
            timeout=180,
        )

    assert summary.new_bars == INGEST_BARS
    assert deleted.status_code == 200 and deleted.json() == {"deleted": BIG_RUNS}
    assert [run_state(r).status for r in recording] == [RunStatus.COMPLETED] * 2
    assert [run_state(r).metadata["bars"] for r in recording] == [TRADER_BARS] * 2
    assert readers.errors == []
    assert readers.statuses and {status for _, status in readers.statuses} == {200}
    assert not Run.all_objects.filter(run_id__in=doomed).exists()
    assert not RecordedBar.objects.filter(run_id__in=doomed).exists()
    assert Fill.objects.filter(run_id=recording[0]).count() > 0
