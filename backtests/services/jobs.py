"""Background execution of backtests: submit (create + enqueue) and stale-run recovery.

A backtest is executed by a django-q2 worker (``manage.py qcluster``). The run row is created
as ``queued`` and the task is enqueued only once that row is committed, so a worker never
picks up a run id it cannot read. The queue is the ORM broker on the default database, or
Redis when ``REDIS_URL`` is set (see ``Q_CLUSTER`` in the settings).

Runs left ``running`` by a worker that died are failed (``runs_recover``): a local worker's
by its process id being gone (a zombie counts as gone), any worker's by its heartbeat going
stale. The check runs
- when a worker process starts (``backtests.tasks`` listens to django-q2's ``post_spawn``): a
  cluster's guard replaces a killed worker at once, and a restarted cluster starts new ones,
- before ``manage.py serve`` starts its worker,
- in web processes on the first run/backtest API call and then at most every
  ``STALE_RECHECK_SECONDS`` (``stale_runs_recover_throttled``), and likewise in a worker before
  each task. ``AppConfig.ready`` must not touch the database, and a lazy check needs no
  middleware and still runs before any run list or status is shown.

The same checks enqueue again runs left ``queued`` whose task was lost with a killed cluster
(``runs_requeue_lost``): neither waiting in the queue nor held by a live cluster (which
cluster took a task is noted in ``Run.taken_by`` by ``backtests.queue_broker``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.status import Stat
from django_q.tasks import async_task

from backtests.models import EXECUTING_STATUSES, Run, RunStatus
from backtests.queue_broker import RUN_TASK, run_ids_of
from backtests.services.backtest_spec import BacktestSpec
from backtests.services.runs import run_create, run_end_abandoned, runs_fail_stale
from ostsite.db import short_lock_wait
from ostsite.errors import ServiceError

logger = logging.getLogger(__name__)

TASK_GROUP = "backtests"
WORKER_GONE_ERROR = "the worker process {worker} is gone (stopped or killed mid-run)"
DEAD_PROCESS_STATES = ("Z", "X")  # zombie, dead
QUEUE_UNAVAILABLE = "The task queue cannot be reached, the run was not started: {error}"
# A run queued longer than this whose task is nowhere in the queue is enqueued again.
QUEUED_GRACE_SECONDS = 120


class QueueUnavailable(ServiceError):
    """The broker refused the task (Redis down, database locked...)."""

    status = 503


def run_enqueue(*, run_id: str) -> str:
    """Put one run on the task queue; returns the django-q2 task id."""
    return async_task(RUN_TASK, run_id, task_name=f"backtest-{run_id}", group=TASK_GROUP)


def _enqueue_or_fail(run_id: str) -> None:
    try:
        run_enqueue(run_id=run_id)
    except Exception as exc:  # any broker error: the run must not stay queued forever
        message = QUEUE_UNAVAILABLE.format(error=exc)
        logger.exception("enqueue of run %s failed", run_id)
        run = Run.objects.filter(run_id=run_id).first()
        if run is not None:
            run.status = RunStatus.FAILED
            run.ts_end = time.time_ns()
            run.metadata = {**(run.metadata or {}), "error": message}
            run.save(update_fields=["status", "ts_end", "metadata"])
        raise QueueUnavailable(message) from exc


def backtest_submit(*, spec: BacktestSpec, name: str | None = None, owner: Any = None) -> Run:
    """Create a queued run for ``spec``, owned by ``owner`` (a user or None), and enqueue its
    execution once the row is committed.

    Raises ``QueueUnavailable`` (503) when the broker refuses the task; the run is then
    marked failed with the reason in ``metadata["error"]``.
    """
    with transaction.atomic(using="default"):
        run = run_create(spec=spec, name=name, owner=owner)
        transaction.on_commit(lambda: _enqueue_or_fail(run.run_id), using="default")
    return run


def _process_state(pid: int) -> str | None:
    """The process's one-letter state from ``/proc`` (Linux); None when it cannot be read."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs.

    A killed process stays a zombie until its parent reaps it; a killed cluster's workers are
    re-parented to init, which in a container may reap late or never. A zombie runs nothing.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    return _process_state(pid) not in DEAD_PROCESS_STATES


def runs_fail_orphaned() -> int:
    """Fail runs ``running`` on a worker process of this machine that no longer exists.

    Complements ``runs_fail_stale`` (heartbeat age, any machine): right after a local worker
    was killed its heartbeat is still fresh, but its process id is already gone.
    """
    host = socket.gethostname()
    count = 0
    executing = Run.objects.filter(status__in=EXECUTING_STATUSES).only("run_id", "worker")
    for run in executing:
        worker_host, _, pid = run.worker.rpartition(":")
        if worker_host != host or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        with transaction.atomic(using="default"):
            locked = Run.objects.select_for_update().filter(run_id=run.run_id).first()
            if (
                locked is None
                or locked.status not in EXECUTING_STATUSES
                or locked.worker != run.worker
            ):
                continue
            run_end_abandoned(locked, WORKER_GONE_ERROR.format(worker=run.worker))
            count += 1
    return count


def _run_ids_waiting_in_queue() -> set[str]:
    """Run ids of the backtest tasks waiting in the queue, not yet taken by any cluster."""
    broker = get_broker()
    if isinstance(broker, ORM):
        payloads = list(
            broker.get_connection()
            .filter(key=broker.list_key, lock__lte=timezone.now())
            .values_list("payload", flat=True)
        )
    else:  # Redis: the list the clusters pop from
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    return set(run_ids_of(payloads))


def _live_clusters() -> set[str]:
    """``host:pid`` of the sentinels of the clusters that report themselves alive (their
    status, refreshed every half second, expires after 3 s)."""
    try:
        return {f"{stat.host}:{stat.sentinel}" for stat in Stat.get_all()}
    except Exception:  # no shared cache or broker: only local clusters can be checked
        logger.exception("could not read the clusters' status")
        return set()


def _cluster_alive(taken_by: str, live: set[str]) -> bool:
    """Whether the cluster that took a task (``host:pid`` of its sentinel) still runs: by
    its process on this machine, by its reported status on another."""
    host, _, pid = taken_by.rpartition(":")
    if not host or not pid.isdigit():
        return False
    if host == socket.gethostname():
        return _pid_alive(int(pid))
    return taken_by in live


def runs_requeue_lost() -> int:
    """Enqueue again the runs queued for over ``QUEUED_GRACE_SECONDS`` whose task is lost.

    A cluster takes tasks ahead of its free workers; if it is killed, those tasks are lost
    (Redis) or locked for the retry period (ORM) and their runs would stay ``queued``. A
    task is lost when it is neither waiting in the queue nor held by a live cluster (the
    cluster that took it is noted in ``Run.taken_by``); a busy cluster's tasks are left to
    it. A run is claimed atomically when it starts, so a task that turns up twice still
    runs it once. Returns how many were enqueued.
    """
    cutoff = time.time_ns() - QUEUED_GRACE_SECONDS * 1_000_000_000
    if not Run.objects.filter(status=RunStatus.QUEUED, ts_start__lt=cutoff).exists():
        return 0
    waiting = _run_ids_waiting_in_queue()
    # Read after the queue: a task taken meanwhile has its taken_by written by now.
    candidates = Run.objects.filter(status=RunStatus.QUEUED, ts_start__lt=cutoff).values_list(
        "run_id", "taken_by"
    )
    live: set[str] | None = None
    lost = []
    for run_id, taken_by in candidates:
        if run_id in waiting:
            continue
        if taken_by:
            if live is None:
                live = _live_clusters()
            if _cluster_alive(taken_by, live):
                continue
        lost.append(run_id)
    for run_id in lost:
        Run.objects.filter(run_id=run_id, status=RunStatus.QUEUED).update(taken_by="")
        run_enqueue(run_id=run_id)
    if lost:
        logger.warning("enqueued %d queued run(s) again: their tasks were lost", len(lost))
    return len(lost)


def runs_recover() -> int:
    """Fail runs of dead workers (local ones by process id, others by heartbeat age) and
    enqueue again queued runs whose task was lost; returns how many runs were failed."""
    failed = runs_fail_orphaned() + runs_fail_stale()
    try:
        runs_requeue_lost()
    except Exception:  # the broker is down: the next check tries again
        logger.exception("could not look for queued runs whose task was lost")
    return failed


STALE_RECHECK_SECONDS = 30.0
_next_check = 0.0  # time.monotonic() from which this process checks again
_recover_lock = threading.Lock()


def stale_runs_recover_throttled() -> int:
    """Fail runs left running by dead workers: on this process's first call, then again at
    most once every ``STALE_RECHECK_SECONDS``; returns how many.

    The repeat matters for a worker on another machine: its death shows only as a heartbeat
    going stale, which may happen after every process's first check has passed.
    """
    global _next_check
    if time.monotonic() < _next_check:
        return 0
    with _recover_lock:
        if time.monotonic() < _next_check:
            return 0
        count = runs_recover()
        _next_check = time.monotonic() + STALE_RECHECK_SECONDS
    if count:
        logger.warning("marked %d stale run(s) as failed", count)
    return count


REQUEST_LOCK_WAIT_MILLISECONDS = 500


def stale_runs_recover_in_request() -> int:
    """``stale_runs_recover_throttled`` for a web request: it only writes when a run is
    stale or lost, then waits at most ``REQUEST_LOCK_WAIT_MILLISECONDS`` for the write lock,
    and a failure (database busy) is logged, never the request's error: the next check, at
    most ``STALE_RECHECK_SECONDS`` later, tries again."""
    global _next_check
    try:
        with short_lock_wait("default", REQUEST_LOCK_WAIT_MILLISECONDS):
            return stale_runs_recover_throttled()
    except DatabaseError as exc:
        _next_check = time.monotonic() + STALE_RECHECK_SECONDS
        logger.warning("stale-run check skipped (database busy): %s", exc)
        return 0
