"""Studies on real django-q2 clusters: trials fanned out as tasks, a worker SIGKILLed
mid-study (only the trials in flight run again), a cancel that stops running trials, a resume,
and two clusters sharing one study on Redis + PostgreSQL.

``Fragile`` appends its period to OST_TEST_TRIAL_LOG whenever a trial builds it, so the log
counts how often each point was executed.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from backtests.studies.definition import study_definition_build
from backtests.studies.models import ACTIVE_STUDY_STATUSES, Study, StudyStatus, Trial, TrialStatus
from backtests.studies.services import study_cancel, study_create, study_resume
from tests.backtests.subprocesses import wait_for
from tests.backtests.worker_runs import descendants

DATABASES = ["default", "secmaster"]
pytestmark = [pytest.mark.django_db(transaction=True, databases=DATABASES), pytest.mark.worker]

PERIODS = 8  # grid period 1..8: eight trials, two per task
SLEEP_MS = 0.5  # 1,200 bars x 0.5 ms: at least 0.6 s a trial


@pytest.fixture
def trial_log(tmp_path) -> Path:
    return tmp_path / "trials.log"


def executions(log: Path) -> Counter[int]:
    return Counter(int(line) for line in log.read_text().split()) if log.exists() else Counter()


def create(fragile_body, **change) -> Study:
    body = {
        **fragile_body,
        "space": {"period": {"min": 1, "max": PERIODS}},
        "strategy_params": {"sleep_ms": SLEEP_MS},
        **change,
    }
    return study_create(definition=study_definition_build(**body))


def study_state(study_id: str) -> Study:
    return Study.objects.get(study_id=study_id)


def wait_finished(study_id: str) -> Study:
    return wait_for(
        lambda: (s := study_state(study_id)).status not in ACTIVE_STUDY_STATUSES and s,
        what=f"study {study_id} to finish",
        timeout=120,
    )


def trials_by_status(study_id: str, status: str) -> list[Trial]:
    return list(Trial.objects.filter(study_id=study_id, status=status).order_by("number"))


def test_killed_worker_reruns_only_the_trial_in_flight(start_cluster, fragile_body, trial_log):
    cluster = start_cluster(OST_TEST_TRIAL_LOG=str(trial_log))
    study = create(fragile_body)
    running = wait_for(
        lambda: (
            len(trials_by_status(study.study_id, TrialStatus.COMPLETE)) >= 1
            and trials_by_status(study.study_id, TrialStatus.RUNNING)
        ),
        what="a trial to run after one was stored",
    )
    finished_before = {
        t.params["period"]
        for t in Trial.objects.filter(study_id=study.study_id, status__in=("complete", "failed"))
    }
    pid = int(running[0].worker.rpartition(":")[2])
    assert pid in descendants(cluster.pid)
    os.kill(pid, signal.SIGKILL)

    study = wait_finished(study.study_id)
    assert study.status == StudyStatus.COMPLETED
    trials = list(Trial.objects.filter(study_id=study.study_id).order_by("number"))
    assert [t.params["period"] for t in trials] == list(range(1, PERIODS + 1))
    assert {t.status for t in trials} == {TrialStatus.COMPLETE}
    counts = executions(trial_log)
    # Every point ran; those stored before the kill ran exactly once; at most the trial(s)
    # the killed worker held when it died ran twice.
    assert set(counts) == set(range(1, PERIODS + 1))
    assert all(counts[p] == 1 for p in finished_before)
    assert all(n <= 2 for n in counts.values())
    rerun = {p for p, n in counts.items() if n == 2}
    assert rerun <= {t.params["period"] for t in running}
    assert pid not in {
        int(t.worker.rpartition(":")[2]) for t in trials if t.params["period"] in rerun
    }


@pytest.mark.parametrize("broker_env", ["orm"], indirect=True)
def test_cancel_stops_the_running_trial_and_resume_finishes_the_study(
    start_cluster, fragile_body, trial_log
):
    start_cluster(OST_TEST_TRIAL_LOG=str(trial_log))
    study = create(fragile_body, strategy_params={"sleep_ms": 2.0})  # 2.4 s a trial
    wait_for(
        lambda: trials_by_status(study.study_id, TrialStatus.RUNNING),
        what="a trial to start",
    )
    study_cancel(study_id=study.study_id)
    # The running trial notices within a second and goes back to waiting, unstored.
    wait_for(
        lambda: not trials_by_status(study.study_id, TrialStatus.RUNNING),
        what="the running trial to stop",
        timeout=10,
    )
    assert trials_by_status(study.study_id, TrialStatus.COMPLETE) == []
    assert study_state(study.study_id).status == StudyStatus.CANCELLED
    assert len(trials_by_status(study.study_id, TrialStatus.WAITING)) == PERIODS

    study_resume(study_id=study.study_id)
    study = wait_finished(study.study_id)
    assert study.status == StudyStatus.COMPLETED
    assert len(trials_by_status(study.study_id, TrialStatus.COMPLETE)) == PERIODS


@pytest.mark.backend("postgresql")
@pytest.mark.parametrize("broker_env", ["redis"], indirect=True)
def test_two_clusters_on_redis_share_one_study(start_cluster, fragile_body, trial_log):
    clusters = [start_cluster(OST_TEST_TRIAL_LOG=str(trial_log)) for _ in range(2)]
    for cluster in clusters:
        wait_for(
            lambda c=cluster: "pushing tasks at" in c.log_path.read_text(errors="replace"),
            what="both clusters to take tasks",
        )
    study = create(fragile_body, batch_size=1)
    study = wait_finished(study.study_id)
    assert study.status == StudyStatus.COMPLETED
    workers = [descendants(cluster.pid) for cluster in clusters]
    trials = list(Trial.objects.filter(study_id=study.study_id))
    by_cluster = Counter(
        i
        for t in trials
        for i, pids in enumerate(workers)
        if int(t.worker.rpartition(":")[2]) in pids
    )
    print(f"trials per cluster: {dict(by_cluster)}")
    assert sum(by_cluster.values()) == PERIODS
    assert set(by_cluster) == {0, 1}
    assert executions(trial_log) == Counter(range(1, PERIODS + 1))
