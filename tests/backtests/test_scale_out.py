"""Scale-out: two separate ``manage.py qcluster`` processes on one Redis queue share the runs.

Both clusters use this test's databases (SQLite files or PostgreSQL) and a Redis queue of the
test's own; each executes one run at a time. The run row records the executing worker
(``host:pid``), which tells which cluster ran it.
"""

from __future__ import annotations

import socket

import pytest

from backtests.models import ACTIVE_STATUSES, RunStatus
from tests.backtests.subprocesses import wait_for
from tests.backtests.worker_runs import (
    TRADER_ROW_COUNTS,
    descendants,
    event_rows,
    row_counts,
    run_state,
    worker_pid,
)

DATABASES = ["default", "secmaster"]
pytestmark = [pytest.mark.django_db(transaction=True, databases=DATABASES), pytest.mark.worker]

RUNS = 4
SLEEP_MS = 0.1  # about 1 s of sleep a run: far longer than handing out four tasks


@pytest.mark.parametrize("broker_env", ["redis"], indirect=True)
def test_two_clusters_on_redis_share_the_queued_runs(start_cluster, trader):
    clusters = [start_cluster(OST_MAX_CONCURRENT_RUNS="1") for _ in range(2)]
    for cluster in clusters:
        wait_for(
            lambda c=cluster: "pushing tasks at" in c.log_path.read_text(errors="replace"),
            what="both clusters to take tasks",
        )

    run_ids = [trader.submit(sleep_ms=SLEEP_MS) for _ in range(RUNS)]
    runs = [
        wait_for(
            lambda r=run_id: (run := run_state(r)).status not in ACTIVE_STATUSES and run,
            what=f"run {run_id} to finish",
        )
        for run_id in run_ids
    ]

    # One worker process a cluster, each a child of that cluster's process tree.
    workers = [descendants(cluster.pid) for cluster in clusters]
    executed_by = []
    for run in runs:
        assert run.status == RunStatus.COMPLETED, run.metadata
        assert run.worker.rpartition(":")[0] == socket.gethostname()
        owners = [i for i, pids in enumerate(workers) if worker_pid(run) in pids]
        assert len(owners) == 1, (run.worker, workers)
        executed_by.append(owners[0])
    print(f"runs executed per cluster: {[executed_by.count(i) for i in range(2)]}")
    assert set(executed_by) == {0, 1}

    # Every run recorded exactly what one run of this spec records.
    reference = trader.reference_rows()
    for run in runs:
        assert row_counts(run.run_id) == TRADER_ROW_COUNTS
        assert event_rows(run.run_id) == reference
