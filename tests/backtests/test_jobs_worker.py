"""Background runs through a REAL django-q2 cluster (``manage.py qcluster`` subprocess).

The cluster fixtures (``qcluster``, ``worker_env``, ``broker_env``: the ORM queue and Redis)
are in ``conftest.py``; dying workers are in ``test_worker_faults.py``.
Also here: stale-run recovery (worker start, first API call, dead local worker process).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django_q.brokers.orm import ORM
from django_q.models import Task
from django_q.signals import post_spawn

from backtests.models import EVENT_MODELS, Fill, RecordedBar, Run, RunStatus
from backtests.services import jobs
from backtests.services.jobs import WORKER_GONE_ERROR, runs_fail_orphaned
from backtests.tasks import RUN_GONE, run_backtest_task
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.run_rows import run_row
from tests.backtests.subprocesses import start_manage, stop_process, wait_for
from tests.backtests.worker_runs import run_state, submit

DATABASES = ["default", "secmaster"]
pytestmark = pytest.mark.django_db(transaction=True, databases=DATABASES)

SLOW_BARS = 30_000  # about 5 s at 0.15 ms a bar: a cancel visibly stops it early


# --- fixtures (the cluster ones are in conftest.py) ----------------------------------------


@pytest.fixture
def publisher_id(tmp_path) -> int:
    return ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T14:30", 300),
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]},
    )


# --- the real worker ---------------------------------------------------------------------


@pytest.mark.worker
def test_worker_executes_submitted_backtest(api_client, qcluster, publisher_id):
    submitted_at = time.monotonic()
    run_id = submit(
        api_client,
        strategy="SMACrossover",
        strategy_params={"fast_period": 5, "slow_period": 10},
        symbols=["AAPL"],
        rtype=33,
        publisher_id=publisher_id,
    )
    status = wait_for(
        lambda: (
            (body := api_client.get(f"/api/backtest/status/{run_id}").json())["status"]
            not in ("queued", "running")
            and body
        ),
        what=f"run {run_id} to finish",
    )
    print(f"submit -> completed (300 bars): {time.monotonic() - submitted_at:.2f} s")
    assert status == {"run_id": run_id, "status": "completed", "progress": 100.0}
    run = run_state(run_id)
    assert run.metadata["bars"] == 300
    assert Fill.objects.filter(run_id=run_id).count() == run.metadata["fills"] > 0
    host, _, pid = run.worker.rpartition(":")
    assert host == socket.gethostname()
    assert int(pid) not in (os.getpid(), qcluster.pid)  # a worker process of the cluster


@pytest.fixture
def slow_run(api_client, tmp_path, slow_strategy) -> Callable[..., str]:
    """Submit a run of the slow strategy over SLOW_BARS bars; returns its id once running."""
    publisher = ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T00:00", SLOW_BARS),
        mappings={"AAPL": [("2024-01-02", "2024-02-01", 38)]},
        name="slow",
    )

    def start(*, record: str) -> str:
        run_id = submit(
            api_client,
            strategy="SlowTestStrategy",
            strategy_params={"sleep_ms": 0.15},
            symbols=["AAPL"],
            rtype=33,
            publisher_id=publisher,
            record=record,
        )
        wait_for(lambda: run_state(run_id).status == RunStatus.RUNNING, what="the run to start")
        time.sleep(0.3)
        return run_id

    return start


@pytest.mark.worker
def test_worker_run_cancelled_stops_early(api_client, qcluster, slow_run):
    run_id = slow_run(record="trades")
    cancelled_at = time.monotonic()
    response = api_client.post(f"/api/backtest/{run_id}/cancel")
    assert response.json() == {"run_id": run_id, "status": "cancelling"}
    # Cancelling until the worker has stopped; it then writes what it did, and cancelled.
    run = wait_for(
        lambda: (r := run_state(run_id)).status != RunStatus.CANCELLING and r,
        what="the worker to stop the cancelled run",
    )
    print(
        f"cancel -> worker stopped: {time.monotonic() - cancelled_at:.2f} s,"
        f" after {run.metadata['bars']} of {SLOW_BARS} bars"
    )
    assert run.status == RunStatus.CANCELLED
    assert run.ts_end is not None
    assert run.metadata["bars"] < SLOW_BARS


SECOND_A_BAR_BARS = 120


@pytest.mark.worker
@pytest.mark.parametrize("broker_env", ["orm"], indirect=True)
def test_strategy_sleeping_a_second_a_bar_stops_after_the_bar_it_is_on(
    api_client, qcluster, tmp_path, slow_strategy
):
    # Cancellation is checked by time: one-bar sub-batches at this pace. (It used to be
    # checked after 256 bars first, then at least every 64: minutes at a second a bar.)
    publisher = ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T00:00", SECOND_A_BAR_BARS),
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]},
        name="sleepy",
    )
    run_id = submit(
        api_client,
        strategy="SlowTestStrategy",
        strategy_params={"sleep_ms": 1000},
        symbols=["AAPL"],
        rtype=33,
        publisher_id=publisher,
        record="full",
    )
    # Progress is reported after every bar: wait for the second one.
    wait_for(
        lambda: run_state(run_id).progress >= 100 * 2 / SECOND_A_BAR_BARS,
        what="two bars to be processed",
    )
    cancelled_at = time.monotonic()
    done_at_cancel = round(run_state(run_id).progress * SECOND_A_BAR_BARS / 100)
    assert api_client.post(f"/api/backtest/{run_id}/cancel").json()["status"] == "cancelling"
    running = api_client.get("/api/backtest/running").json()["runs"]
    assert [(r["run_id"], r["status"]) for r in running] == [(run_id, "cancelling")]

    run = wait_for(
        lambda: (r := run_state(run_id)).status != RunStatus.CANCELLING and r,
        what="the worker to stop",
    )
    print(f"cancel -> stopped: {time.monotonic() - cancelled_at:.2f} s")
    assert run.status == RunStatus.CANCELLED
    # At most the bar being processed when the cancel came, and the one the heartbeat had
    # not reported yet (progress is written every 0.25 s).
    assert done_at_cancel <= run.metadata["bars"] <= done_at_cancel + 2
    assert RecordedBar.objects.filter(run_id=run_id).count() == run.metadata["bars"]
    assert api_client.get("/api/backtest/running").json() == {"runs": []}


@pytest.mark.worker
def test_worker_run_deleted_stops_and_leaves_no_rows(api_client, qcluster, slow_run):
    run_id = slow_run(record="full")
    deleted_at = time.monotonic()
    response = api_client.delete("/api/runs", {"run_ids": [run_id]}, format="json")
    assert response.json() == {"deleted": 1}
    # The task's result (saved by the cluster) says the run ended as cancelled.
    task = wait_for(
        lambda: Task.objects.filter(name=f"backtest-{run_id}").first(),
        what="the worker to finish the deleted run's task",
    )
    print(f"delete -> worker stopped: {time.monotonic() - deleted_at:.2f} s")
    assert task.success, task.result
    assert task.result == "cancelled"
    assert not Run.objects.filter(run_id=run_id).exists()
    leftovers = {
        model.__name__: model.objects.filter(run_id=run_id).count() for model in EVENT_MODELS
    }
    assert set(leftovers.values()) == {0}, leftovers


@pytest.mark.worker
def test_worker_start_fails_stale_and_orphaned_runs(transactional_db, worker_env, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan_worker = f"{socket.gethostname()}:{dead.pid}"
    run_row("stale", status=RunStatus.RUNNING, heartbeat_ns=time.time_ns() - 600 * 10**9)
    run_row("orphan", status=RunStatus.RUNNING, worker=orphan_worker)
    run_row("alive", status=RunStatus.RUNNING, worker="elsewhere:1")
    process = start_manage(["qcluster"], worker_env, tmp_path / "qcluster.log")
    try:
        wait_for(
            lambda: (
                set(Run.objects.filter(status=RunStatus.FAILED).values_list("run_id", flat=True))
                == {"stale", "orphan"}
            ),
            what="the worker start to fail both runs",
        )
    finally:
        stop_process(process)
    assert "heartbeat" in run_state("stale").metadata["error"]
    assert run_state("orphan").metadata["error"] == WORKER_GONE_ERROR.format(worker=orphan_worker)
    assert run_state("alive").status == RunStatus.RUNNING


# --- stale-run recovery without a cluster --------------------------------------------------


def test_first_api_call_fails_stale_runs_once(api_client, monkeypatch):
    monkeypatch.setattr(jobs, "_next_check", 0.0)  # a web process's first call
    run_row("stale", status=RunStatus.RUNNING, heartbeat_ns=time.time_ns() - 120 * 10**9)
    run_row("alive", status=RunStatus.RUNNING)
    body = api_client.get("/api/backtest/running").json()
    assert [run["run_id"] for run in body["runs"]] == ["alive"]
    status = api_client.get("/api/backtest/status/stale").json()
    assert status["status"] == "failed"
    assert "heartbeat" in status["error"]
    # Not again before STALE_RECHECK_SECONDS: a run going stale now waits for the next check.
    run_row("later", status=RunStatus.RUNNING, heartbeat_ns=1)
    api_client.get("/api/backtest/running")
    assert run_state("later").status == RunStatus.RUNNING


def test_api_checks_for_stale_runs_again_after_the_recheck_interval(api_client, monkeypatch):
    monkeypatch.setattr(jobs, "_next_check", 0.0)
    monkeypatch.setattr(jobs, "STALE_RECHECK_SECONDS", 0.0)
    api_client.get("/api/backtest/running")
    # A worker on another machine died after the first check: only its heartbeat tells.
    run_row("later", status=RunStatus.RUNNING, worker="elsewhere:1", heartbeat_ns=1)
    body = api_client.get("/api/backtest/running").json()
    assert body["runs"] == []
    assert "heartbeat" in run_state("later").metadata["error"]


def test_worker_checks_for_stale_runs_before_each_task(monkeypatch):
    monkeypatch.setattr(jobs, "_next_check", 0.0)
    run_row("stale", status=RunStatus.RUNNING, worker="elsewhere:1", heartbeat_ns=1)
    assert run_backtest_task("deleted-meanwhile") == RUN_GONE
    assert run_state("stale").status == RunStatus.FAILED


def test_worker_spawn_signal_fails_stale_runs():
    run_row("stale", status=RunStatus.RUNNING, heartbeat_ns=1)
    run_row("fresh", status=RunStatus.RUNNING)
    post_spawn.send(sender="django_q", proc_name="Process-test")
    assert run_state("stale").status == RunStatus.FAILED
    assert run_state("fresh").status == RunStatus.RUNNING


def test_orphaned_local_runs_fail_by_process_id():
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    run_row("dead", status=RunStatus.RUNNING, worker=f"{host}:{dead.pid}")
    run_row("alive", status=RunStatus.RUNNING, worker=f"{host}:{os.getpid()}")
    run_row("remote", status=RunStatus.RUNNING, worker=f"not-{host}:{dead.pid}")
    run_row("done", status=RunStatus.COMPLETED, worker=f"{host}:{dead.pid}")
    # Killed but not reaped yet (as a killed cluster's workers until init reaps them).
    zombie = subprocess.Popen(["sleep", "60"])
    zombie.kill()
    stat = Path(f"/proc/{zombie.pid}/stat")
    wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", what="a zombie")
    run_row("zombie", status=RunStatus.RUNNING, worker=f"{host}:{zombie.pid}")
    try:
        assert runs_fail_orphaned() == 2
    finally:
        zombie.wait()
    statuses = dict(Run.objects.values_list("run_id", "status"))
    assert statuses == {
        "dead": "failed",
        "zombie": "failed",
        "alive": "running",
        "remote": "running",
        "done": "completed",
    }


# --- queued runs: only lost tasks are enqueued again ----------------------------------------

OLD_ENOUGH = time.time_ns() - (jobs.QUEUED_GRACE_SECONDS + 60) * 10**9


@pytest.fixture
def empty_queue() -> None:
    """This test process's queue, emptied before and after (Redis keeps no transaction)."""
    from django_q.brokers import get_broker

    get_broker().purge_queue()
    yield
    get_broker().purge_queue()


def _queued_taken_by(run_id: str, taken_by: str) -> None:
    run_row(run_id, status=RunStatus.QUEUED, ts_start=OLD_ENOUGH)
    Run.objects.filter(run_id=run_id).update(taken_by=taken_by)


def test_queued_run_held_by_a_live_local_cluster_is_left_to_it(empty_queue):
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    _queued_taken_by("held", f"{host}:{os.getpid()}")  # a process that runs: this one
    _queued_taken_by("orphaned", f"{host}:{dead.pid}")
    _queued_taken_by("never-taken", "")

    assert jobs.runs_requeue_lost() == 2

    assert jobs._run_ids_waiting_in_queue() == {"orphaned", "never-taken"}
    taken = dict(Run.objects.values_list("run_id", "taken_by"))
    assert taken == {"held": f"{host}:{os.getpid()}", "orphaned": "", "never-taken": ""}
    assert jobs.runs_requeue_lost() == 0  # their tasks wait in the queue now


def test_queued_run_held_by_a_cluster_on_another_machine_waits_while_it_reports_status(
    empty_queue,
):
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage
    from django_q.status import Stat, Status

    _queued_taken_by("remote", "elsewhere.example:4242")
    status = Status(pid=4241, cluster_id=uuid.uuid4())
    status.host, status.sentinel = "elsewhere.example", 4242
    broker = get_broker()
    key = Stat.get_key(status.cluster_id)
    broker.set_stat(key, SignedPackage.dumps(status, True), 3)  # as its guard does
    try:
        assert jobs.runs_requeue_lost() == 0
    finally:  # the cluster stops reporting (its status expires)
        if isinstance(broker, ORM):  # its statuses live in Django's cache
            broker.get_cache().delete(key)
        else:
            broker.connection.delete(key)
    assert jobs.runs_requeue_lost() == 1
    assert jobs._run_ids_waiting_in_queue() == {"remote"}
