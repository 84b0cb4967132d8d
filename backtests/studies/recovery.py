"""Studies survive dead workers: trials in flight go back to waiting, lost tasks are replaced.

- A trial ``running`` on a worker process of this machine that is gone (SIGKILL, OOM kill)
  goes back to ``waiting`` at once; one whose heartbeat is older than
  ``STALE_TRIAL_SECONDS`` (a worker on another machine) too. Tasks are enqueued for them.
  A trial that was stored is never touched: only ``running`` rows are recovered.
- An active study whose waiting trials have not moved for ``STALLED_STUDY_SECONDS`` and
  none of whose tasks waits in the queue (its tasks were lost with a killed cluster) gets
  new tasks; one with nothing pending is advanced (asked for more, or finished).

``studies_recover`` runs when a worker process starts (``tasks`` listens to ``post_spawn``),
when ``run_study --resume`` or the resume API is used, and, at most every
``RECHECK_SECONDS``, before each study task and on the studies API.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter

from django.core.signing import BadSignature
from django.db import transaction
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.signing import SignedPackage

from backtests.services.jobs import _pid_alive
from backtests.studies.models import ACTIVE_STUDY_STATUSES, Study, Trial, TrialStatus
from backtests.studies.services import STUDY_TASK, study_advance, study_enqueue

logger = logging.getLogger(__name__)

STALE_TRIAL_SECONDS = 30.0
STALLED_STUDY_SECONDS = 120.0
RECHECK_SECONDS = 30.0
_RELEASED = {"status": TrialStatus.WAITING, "token": "", "worker": "", "heartbeat_ns": None}


def _tasks_for(trials: int, batch_size: int) -> int:
    return -(-trials // max(1, batch_size))


def trials_recover(*, enqueue: bool = True) -> int:
    """Put trials of dead workers back to waiting (and enqueue tasks for them); returns how
    many."""
    host = socket.gethostname()
    released: Counter[str] = Counter()
    running = Trial.objects.filter(status=TrialStatus.RUNNING).values_list(
        "id", "study_id", "worker"
    )
    for trial_id, study_id, worker in running:
        worker_host, _, pid = worker.rpartition(":")
        if worker_host != host or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        if Trial.objects.filter(id=trial_id, status=TrialStatus.RUNNING, worker=worker).update(
            **_RELEASED
        ):
            released[study_id] += 1
    cutoff = time.time_ns() - int(STALE_TRIAL_SECONDS * 1e9)
    with transaction.atomic(using="default"):
        stale = list(
            Trial.objects.select_for_update()
            .filter(status=TrialStatus.RUNNING, heartbeat_ns__lt=cutoff)
            .values_list("id", "study_id")
        )
        for trial_id, study_id in stale:
            Trial.objects.filter(id=trial_id).update(**_RELEASED)
            released[study_id] += 1
    if enqueue and released:
        batch_sizes = dict(
            Study.objects.filter(
                study_id__in=list(released), status__in=ACTIVE_STUDY_STATUSES
            ).values_list("study_id", "batch_size")
        )
        for study_id, batch_size in batch_sizes.items():
            study_enqueue(study_id=study_id, tasks=_tasks_for(released[study_id], batch_size))
    total = sum(released.values())
    if total:
        logger.warning("put %d trial(s) of dead workers back to waiting", total)
    return total


def _study_ids_in_queue() -> Counter[str]:
    """Study tasks in the queue, per study (on the ORM broker also those a cluster holds)."""
    broker = get_broker()
    if isinstance(broker, ORM):
        payloads = list(
            broker.get_connection().filter(key=broker.list_key).values_list("payload", flat=True)
        )
    else:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    found: Counter[str] = Counter()
    for payload in payloads:
        try:
            task = SignedPackage.loads(payload)
        except (BadSignature, ValueError, TypeError):
            continue
        if task.get("func") == STUDY_TASK and task.get("args"):
            found[str(task["args"][0])] += 1
    return found


def studies_requeue_stalled() -> int:
    """Enqueue tasks for active studies whose waiting trials no task will take; advance those
    with nothing pending. Returns how many studies were helped."""
    cutoff = time.time_ns() - int(STALLED_STUDY_SECONDS * 1e9)
    stalled = list(
        Study.objects.filter(status__in=ACTIVE_STUDY_STATUSES, updated_ns__lt=cutoff).values_list(
            "study_id", "batch_size"
        )
    )
    if not stalled:
        return 0
    queued = _study_ids_in_queue()
    helped = 0
    for study_id, batch_size in stalled:
        counts = Counter(
            Trial.objects.filter(
                study_id=study_id, status__in=(TrialStatus.WAITING, TrialStatus.RUNNING)
            ).values_list("status", flat=True)
        )
        if counts[TrialStatus.RUNNING]:
            continue  # someone is on it (or the heartbeat check will release it)
        if counts[TrialStatus.WAITING]:
            if queued[study_id]:
                continue
            study_enqueue(
                study_id=study_id, tasks=_tasks_for(counts[TrialStatus.WAITING], batch_size)
            )
        else:
            study_advance(study_id=study_id)
        Study.objects.filter(study_id=study_id).update(updated_ns=time.time_ns())
        helped += 1
    return helped


def studies_recover() -> int:
    """``trials_recover`` and ``studies_requeue_stalled``; returns trials put back."""
    count = trials_recover()
    try:
        studies_requeue_stalled()
    except Exception:  # the broker is down: the next check tries again
        logger.exception("could not look for stalled studies")
    return count


_next_check = 0.0
_lock = threading.Lock()


def studies_recover_throttled() -> int:
    """``studies_recover`` on this process's first call, then at most every 30 s."""
    global _next_check
    if time.monotonic() < _next_check:
        return 0
    with _lock:
        if time.monotonic() < _next_check:
            return 0
        try:
            return studies_recover()
        finally:
            _next_check = time.monotonic() + RECHECK_SECONDS
