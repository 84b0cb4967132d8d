"""Walk-forwards on real django-q2 clusters: the windows' studies run in parallel over the
workers, each window's out-of-sample part follows its study, the whole finishes with its
stitched result; a cancel stops it and a resume finishes it."""

from __future__ import annotations

import os
import signal

import pytest

from backtests.studies.models import Study, StudyStatus, Trial, TrialStatus
from backtests.walkforward.definition import walkforward_definition_build
from backtests.walkforward.models import (
    ACTIVE_WALKFORWARD_STATUSES,
    WalkForward,
    WalkForwardStatus,
    WindowStatus,
)
from backtests.walkforward.services import (
    walkforward_cancel,
    walkforward_create,
    walkforward_resume,
)
from tests.backtests.subprocesses import wait_for
from tests.backtests.worker_runs import descendants

DATABASES = ["default", "secmaster"]
pytestmark = [pytest.mark.django_db(transaction=True, databases=DATABASES), pytest.mark.worker]


def wait_finished(walkforward_id: str) -> WalkForward:
    return wait_for(
        lambda: (
            (w := WalkForward.objects.get(pk=walkforward_id)).status
            not in ACTIVE_WALKFORWARD_STATUSES
            and w
        ),
        what=f"walk-forward {walkforward_id} to finish",
        timeout=120,
    )


def test_windows_run_in_parallel_on_the_workers_and_the_result_is_stitched(
    start_cluster, fragile_walkforward
):
    start_cluster(OST_MAX_CONCURRENT_RUNS="2")
    walkforward = walkforward_create(definition=walkforward_definition_build(**fragile_walkforward))
    walkforward = wait_finished(walkforward.walkforward_id)
    assert walkforward.status == WalkForwardStatus.COMPLETED, walkforward.error
    windows = list(walkforward.windows.select_related("study").order_by("index"))
    assert [w.status for w in windows] == [WindowStatus.COMPLETE] * 2
    assert all(w.study.status == StudyStatus.COMPLETED for w in windows)
    # Parallel: the trials of the two windows' studies ran on both workers (whether the
    # studies overlapped in time depends on the machine's load: bench/walkforward.py).
    first, second = (w.study for w in windows)
    workers = set(Trial.objects.filter(study__in=[first, second]).values_list("worker", flat=True))
    assert len(workers) == 2
    for window in windows:
        best = (
            Trial.objects.filter(study=window.study, status=TrialStatus.COMPLETE)
            .order_by("-value", "number")
            .first()
        )
        assert window.params == best.params
    assert walkforward.analysis["metrics"]["trading_days"] == 10
    assert walkforward.analysis["parameters"]["period"] == [w.params["period"] for w in windows]


@pytest.mark.parametrize("broker_env", ["orm"], indirect=True)
def test_cancel_stops_the_studies_on_the_workers_and_resume_finishes(
    start_cluster, fragile_walkforward
):
    start_cluster()
    body = {**fragile_walkforward, "strategy_params": {"sleep_ms": 3.0}}  # ~1 s a trial
    walkforward = walkforward_create(definition=walkforward_definition_build(**body))
    wait_for(
        lambda: Trial.objects.filter(status=TrialStatus.RUNNING).exists(),
        what="a trial to start",
    )
    walkforward_cancel(walkforward_id=walkforward.walkforward_id)
    wait_for(
        lambda: not Trial.objects.filter(status=TrialStatus.RUNNING).exists(),
        what="the running trial to stop",
        timeout=10,
    )
    assert set(Study.objects.values_list("status", flat=True)) == {StudyStatus.CANCELLED}
    assert set(walkforward.windows.values_list("status", flat=True)) == {WindowStatus.CANCELLED}
    walkforward_resume(walkforward_id=walkforward.walkforward_id)
    walkforward = wait_finished(walkforward.walkforward_id)
    assert walkforward.status == WalkForwardStatus.COMPLETED
    assert set(walkforward.windows.values_list("status", flat=True)) == {WindowStatus.COMPLETE}


@pytest.mark.backend("postgresql")
@pytest.mark.parametrize("broker_env", ["redis"], indirect=True)
def test_two_clusters_on_redis_share_one_walkforward(start_cluster, fragile_walkforward):
    clusters = [start_cluster() for _ in range(2)]
    for cluster in clusters:
        wait_for(
            lambda c=cluster: "pushing tasks at" in c.log_path.read_text(errors="replace"),
            what="both clusters to take tasks",
        )
    walkforward = walkforward_create(definition=walkforward_definition_build(**fragile_walkforward))
    walkforward = wait_finished(walkforward.walkforward_id)
    assert walkforward.status == WalkForwardStatus.COMPLETED, walkforward.error
    workers = [descendants(cluster.pid) for cluster in clusters]
    ran_on = {
        i
        for worker in Trial.objects.values_list("worker", flat=True)
        for i, pids in enumerate(workers)
        if int(worker.rpartition(":")[2]) in pids
    }
    assert ran_on == {0, 1}
    assert set(walkforward.windows.values_list("status", flat=True)) == {WindowStatus.COMPLETE}


@pytest.mark.parametrize("broker_env", ["orm"], indirect=True)
def test_a_worker_killed_mid_out_of_sample_is_replaced_and_the_window_runs_again(
    start_cluster, fragile_walkforward
):
    cluster = start_cluster()
    body = {  # 2 trials of 300 bars per window; the out-of-sample run: 150 bars of 20 ms
        **fragile_walkforward,
        "space": {"period": {"values": [2, 3]}},
        "strategy_params": {"sleep_ms": 20.0},
    }
    walkforward = walkforward_create(definition=walkforward_definition_build(**body))
    running = wait_for(
        lambda: (
            walkforward.windows.filter(status=WindowStatus.OUT_OF_SAMPLE).exclude(worker="").first()
        ),
        what="an out-of-sample run to start",
        timeout=120,
    )
    pid = int(running.worker.rpartition(":")[2])
    assert pid in descendants(cluster.pid)
    os.kill(pid, signal.SIGKILL)
    walkforward = wait_finished(walkforward.walkforward_id)
    assert walkforward.status == WalkForwardStatus.COMPLETED, walkforward.error
    window = walkforward.windows.get(pk=running.pk)
    assert window.status == WindowStatus.COMPLETE
    assert int(window.worker.rpartition(":")[2]) != pid  # run again by the new worker
