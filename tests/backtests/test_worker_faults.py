"""Workers that die mid-run (SIGKILL) and runs deleted while others execute, on real clusters.

A run left ``running`` by a killed worker must end ``failed`` with the reason as soon as
something notices (the cluster's guard respawning a worker, a new cluster, the site's first
status call), never stay ``running``; its partial rows stay with it and never with a completed
run; the next run completes with exactly the rows of a reference run of the same spec.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.db.models import F
from django_q.models import Task

from backtests.models import ACTIVE_STATUSES, EVENT_MODELS, Run, RunStatus
from backtests.services import jobs
from backtests.services.jobs import (
    QUEUED_GRACE_SECONDS,
    WORKER_GONE_ERROR,
    _run_ids_waiting_in_queue,
)
from backtests.services.runs import STALE_RUN_ERROR, runs_delete, runs_fail_stale
from tests.backtests.subprocesses import wait_for
from tests.backtests.worker_runs import (
    TRADER_BARS,
    TRADER_ROW_COUNTS,
    descendants,
    event_rows,
    row_counts,
    run_state,
    worker_pid,
)

DATABASES = ["default", "secmaster"]
pytestmark = [pytest.mark.django_db(transaction=True, databases=DATABASES), pytest.mark.worker]

SLOW_MS = 0.5  # a slow run takes at least TRADER_BARS * 0.5 ms = 5 s


def wait_mid_run(run_id: str) -> Run:
    """The run once a worker has claimed it and reported progress (it is executing bars)."""
    run = wait_for(
        lambda: ((r := run_state(run_id)).progress > 0 or r.status not in ACTIVE_STATUSES) and r,
        what=f"run {run_id} to be executing",
    )
    assert run.status == RunStatus.RUNNING, run.metadata
    return run


def wait_finished(run_id: str) -> Run:
    return wait_for(
        lambda: (r := run_state(run_id)).status not in ACTIVE_STATUSES and r,
        what=f"run {run_id} to finish",
    )


def kill_cluster(process: subprocess.Popen) -> None:
    """SIGKILL every process of a cluster at once (an OOM kill, ``kill -9`` of the group);
    returns once all of them have died (SIGKILL is delivered asynchronously)."""
    members = descendants(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    wait_for(lambda: not any(map(running, members)), what="the killed processes to die")


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (dead, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def assert_failed_by_dead_worker(run_id: str, worker: str) -> Run:
    run = wait_finished(run_id)
    assert run.status == RunStatus.FAILED
    assert run.metadata["error"] == WORKER_GONE_ERROR.format(worker=worker)
    assert run.ts_end is not None
    return run


def assert_next_run_completes(trader) -> str:
    """A new run completes with exactly the reference run's rows."""
    run_id = trader.submit(sleep_ms=0)
    assert wait_finished(run_id).status == RunStatus.COMPLETED
    assert row_counts(run_id) == TRADER_ROW_COUNTS
    assert event_rows(run_id) == trader.reference_rows()
    return run_id


def runs_with_rows() -> set[str]:
    return {
        run_id
        for model in EVENT_MODELS
        for run_id in model.objects.values_list("run_id", flat=True).distinct()
    }


def assert_killed_run_kept_only_its_partial_rows(trader, killed: str, completed: str) -> None:
    """The killed run never completes; what it wrote before dying stays attributed to it."""
    assert run_state(killed).status == RunStatus.FAILED
    assert row_counts(killed)["RecordedBar"] < TRADER_BARS
    # Every event row belongs to the killed run, the completed one or the reference run.
    assert runs_with_rows() <= {killed, completed, trader.reference_run_id}


# --- a worker process killed -----------------------------------------------------------------


def test_killed_worker_fails_its_run_when_the_guard_respawns_a_worker(qcluster, trader):
    killed = trader.submit(sleep_ms=SLOW_MS)
    run = wait_mid_run(killed)
    pid = worker_pid(run)
    assert pid in descendants(qcluster.pid)  # a worker process of this cluster

    os.kill(pid, signal.SIGKILL)

    # The cluster's guard notices the dead worker and starts another one, which fails the run.
    assert_failed_by_dead_worker(killed, run.worker)
    completed = assert_next_run_completes(trader)
    assert qcluster.poll() is None  # the cluster itself lived on
    assert worker_pid(run_state(completed)) in descendants(qcluster.pid) - {pid}
    assert_killed_run_kept_only_its_partial_rows(trader, killed, completed)


# --- a whole cluster killed ------------------------------------------------------------------


def test_killed_cluster_run_fails_when_a_new_cluster_starts(start_cluster, trader):
    first = start_cluster()
    killed = trader.submit(sleep_ms=SLOW_MS)
    run = wait_mid_run(killed)

    kill_cluster(first)
    assert run_state(killed).status == RunStatus.RUNNING  # nobody has noticed yet

    start_cluster()
    assert_failed_by_dead_worker(killed, run.worker)
    completed = assert_next_run_completes(trader)
    assert_killed_run_kept_only_its_partial_rows(trader, killed, completed)


@pytest.mark.parametrize("broker_env", ["orm"], indirect=True)
def test_killing_only_the_cluster_main_process_leaves_no_process_behind(start_cluster, trader):
    first = start_cluster()
    killed = trader.submit(sleep_ms=SLOW_MS)
    run = wait_mid_run(killed)
    members = descendants(first.pid)  # sentinel, worker (and its writer), fetcher, monitor
    assert worker_pid(run) in members and len(members) >= 4

    os.kill(first.pid, signal.SIGKILL)  # the main process only, as an OOM kill may
    first.wait()
    # They used to live on, taking tasks with no one watching; now they die with it.
    wait_for(lambda: not any(map(running, members)), what="the cluster's processes to die")

    start_cluster()
    assert_failed_by_dead_worker(killed, run.worker)
    completed = assert_next_run_completes(trader)
    assert_killed_run_kept_only_its_partial_rows(trader, killed, completed)


def test_runs_whose_tasks_a_killed_cluster_had_taken_are_queued_again_and_complete(
    start_cluster, trader
):
    # A cluster takes tasks ahead of its one worker; killed, it loses them (Redis) or keeps
    # them locked for the retry period (ORM). Their runs must not stay queued for good.
    first = start_cluster()
    killed = trader.submit(sleep_ms=SLOW_MS)
    waiting = [trader.submit(sleep_ms=0) for _ in range(2)]  # what it takes ahead of one worker
    wait_mid_run(killed)
    wait_for(lambda: not _run_ids_waiting_in_queue(), what="the cluster to take every task")
    kill_cluster(first)
    # Queued for longer than the grace period (as if the cluster had died a while ago).
    Run.objects.filter(run_id__in=waiting).update(
        ts_start=F("ts_start") - (QUEUED_GRACE_SECONDS + 1) * 1_000_000_000
    )
    assert {run_state(r).status for r in waiting} == {RunStatus.QUEUED}

    start_cluster()

    for run_id in waiting:
        assert wait_finished(run_id).status == RunStatus.COMPLETED
        assert event_rows(run_id) == trader.reference_rows()
    assert run_state(killed).status == RunStatus.FAILED


def test_runs_whose_tasks_a_busy_live_cluster_holds_are_not_queued_again(start_cluster, trader):
    cluster = start_cluster()
    busy = trader.submit(sleep_ms=SLOW_MS)
    waiting = [trader.submit(sleep_ms=0) for _ in range(2)]  # taken ahead of its one worker
    wait_mid_run(busy)
    wait_for(lambda: not _run_ids_waiting_in_queue(), what="the cluster to take every task")
    # Queued for longer than the grace period, as behind a long run.
    Run.objects.filter(run_id__in=waiting).update(
        ts_start=F("ts_start") - (QUEUED_GRACE_SECONDS + 1) * 1_000_000_000
    )
    holders = {run_state(r).taken_by for r in waiting}
    assert len(holders) == 1
    host, _, sentinel = holders.pop().rpartition(":")
    assert host == socket.gethostname() and int(sentinel) in descendants(cluster.pid)

    assert jobs.runs_requeue_lost() == 0  # the cluster lives: its tasks will run
    assert not _run_ids_waiting_in_queue()

    for run_id in [busy, *waiting]:
        assert wait_finished(run_id).status == RunStatus.COMPLETED
    for run_id in waiting:  # each executed once, by its one task
        tasks = wait_for(
            lambda run_id=run_id: list(Task.objects.filter(name=f"backtest-{run_id}")),
            what=f"the task of {run_id} to be saved",
        )
        assert [task.result for task in tasks] == ["completed"]
        assert event_rows(run_id) == trader.reference_rows()


@pytest.mark.parametrize("broker_env", ["orm"], indirect=True)
def test_killed_cluster_run_fails_on_the_sites_first_status_call(
    api_client, start_cluster, trader, monkeypatch
):
    first = start_cluster()
    killed = trader.submit(sleep_ms=SLOW_MS)
    run = wait_mid_run(killed)
    kill_cluster(first)

    # A web process that has not answered a run request yet (e.g. the site just restarted).
    monkeypatch.setattr(jobs, "_next_check", 0.0)
    status = api_client.get(f"/api/backtest/status/{killed}").json()
    assert status["status"] == "failed"
    assert status["error"] == WORKER_GONE_ERROR.format(worker=run.worker)

    start_cluster()
    completed = assert_next_run_completes(trader)
    assert_killed_run_kept_only_its_partial_rows(trader, killed, completed)


# --- a worker paused past the heartbeat limit ----------------------------------------------


@pytest.mark.parametrize("broker_env", ["orm"], indirect=True)
def test_worker_paused_past_the_heartbeat_limit_never_writes_its_failed_run_again(qcluster, trader):
    run_id = trader.submit(sleep_ms=SLOW_MS)
    pid = worker_pid(wait_mid_run(run_id))

    os.kill(pid, signal.SIGSTOP)  # its SQLite writer process, if any, goes on meanwhile
    try:
        wait_for(
            lambda: time.time_ns() - run_state(run_id).heartbeat_ns > 1_500_000_000,
            what="the paused worker's heartbeat to be 1.5 s old",
        )
        assert runs_fail_stale(older_than_seconds=1) == 1  # as the site's check would
        failed = run_state(run_id)
        counts = row_counts(run_id)
    finally:
        os.kill(pid, signal.SIGCONT)

    task = wait_for(
        lambda: Task.objects.filter(name=f"backtest-{run_id}").first(),
        what="the resumed worker to end its task",
    )
    assert task.result == "failed"
    final = run_state(run_id)
    assert final.metadata == {"error": STALE_RUN_ERROR.format(seconds=1)}
    assert (final.status, final.ts_end, final.heartbeat_ns, final.progress) == (
        RunStatus.FAILED,
        failed.ts_end,
        failed.heartbeat_ns,
        failed.progress,
    )
    assert row_counts(run_id) == counts  # no fill, bar or order row after it was failed
    assert counts["RecordedBar"] < TRADER_BARS
    assert_next_run_completes(trader)


# --- deleting runs while others execute -----------------------------------------------------


def test_deleting_runs_while_others_execute_loses_nothing_of_them(
    api_client, start_cluster, trader
):
    start_cluster(OST_MAX_CONCURRENT_RUNS="2")
    runs = [trader.submit(sleep_ms=SLOW_MS) for _ in range(4)]
    # Whichever run executes first is kept (on SQLite the second waits for its feed to end).
    kept = wait_for(
        lambda: next((r for r in runs if run_state(r).progress > 0), None),
        what="a run to execute",
    )
    others = [r for r in runs if r != kept]
    deleted_running = wait_for(
        lambda: next((r for r in others if run_state(r).status == RunStatus.RUNNING), None),
        what="the second worker to take a run",
    )
    deleted_queued, deleted_by_service = (r for r in others if r != deleted_running)
    assert run_state(deleted_queued).status == run_state(deleted_by_service).status == "queued"

    response = api_client.delete(
        "/api/runs", {"run_ids": [deleted_running, deleted_queued]}, format="json"
    )
    assert response.json() == {"deleted": 2}
    assert runs_delete(run_ids=[deleted_by_service]) == 1
    assert run_state(kept).status == RunStatus.RUNNING  # all of it happened while it executed

    assert wait_finished(kept).status == RunStatus.COMPLETED
    completed = assert_next_run_completes(trader)
    assert event_rows(kept) == trader.reference_rows()
    assert run_state(kept).metadata["fills"] == TRADER_ROW_COUNTS["Fill"]
    gone = {deleted_running, deleted_queued, deleted_by_service}
    assert not Run.objects.filter(run_id__in=gone).exists()
    assert runs_with_rows() == {kept, completed, trader.reference_run_id}
