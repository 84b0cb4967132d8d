"""Walk-forwards survive lost tasks and dead workers: a window whose in-sample study has
finished but whose out-of-sample part is not running gets its task queued again.

- ``in_sample`` with a finished (or deleted) study and no task queued in the last
  ``STALE_WINDOW_SECONDS``: the ``study_finished`` signal's task was never queued (the broker
  refused it) or was lost with a killed cluster;
- ``out_of_sample`` run by a worker process of this machine that is gone (SIGKILL, OOM kill),
  at once; or whose heartbeat (written every 0.5 s while it runs) is older than
  ``STALE_WINDOW_SECONDS`` (a worker on another machine). It goes back to ``in_sample`` first,
  so a late write of the dead run is refused.

A duplicate task is harmless: the first to claim the window runs it, the others find it taken.
``walkforwards_recover`` runs when a worker process starts, and at most every
``RECHECK_SECONDS`` before each out-of-sample task and on the walk-forward API. Walk-forwards
run by ``run_walkforward`` (not queued) are left alone: ``--resume`` continues them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from django.db.models import Q

from backtests.services.jobs import _pid_alive
from backtests.studies.models import ACTIVE_STUDY_STATUSES
from backtests.walkforward.models import (
    ACTIVE_WALKFORWARD_STATUSES,
    WalkForwardWindow,
    WindowStatus,
)

logger = logging.getLogger(__name__)

STALE_WINDOW_SECONDS = 120.0
RECHECK_SECONDS = 30.0


def walkforwards_recover(*, stale_seconds: float = STALE_WINDOW_SECONDS) -> list[int]:
    """Queue again the out-of-sample tasks of windows that were lost; their ids."""
    from backtests.walkforward.services import window_enqueue

    cutoff = time.time_ns() - int(stale_seconds * 1e9)
    stale = Q(heartbeat_ns__isnull=True) | Q(heartbeat_ns__lt=cutoff)
    queued = WalkForwardWindow.objects.filter(
        walkforward__status__in=ACTIVE_WALKFORWARD_STATUSES, walkforward__queued=True
    )
    host = socket.gethostname()
    dead: list[int] = []
    running = queued.filter(status=WindowStatus.OUT_OF_SAMPLE).values_list(
        "id", "worker", "heartbeat_ns"
    )
    for window_id, worker, beat in running:
        worker_host, _, pid = worker.rpartition(":")
        gone = worker_host == host and pid.isdigit() and not _pid_alive(int(pid))
        if gone or beat is None or beat < cutoff:
            moved = WalkForwardWindow.objects.filter(
                id=window_id, status=WindowStatus.OUT_OF_SAMPLE, worker=worker
            ).update(status=WindowStatus.IN_SAMPLE, worker="", heartbeat_ns=None)
            if moved:
                dead.append(window_id)
    lost = list(
        queued.filter(stale, status=WindowStatus.IN_SAMPLE)
        .exclude(study__status__in=ACTIVE_STUDY_STATUSES)
        .values_list("id", flat=True)
    )
    for window_id in lost:
        window_enqueue(window_id=window_id)
    if lost:
        logger.warning("walk-forward windows queued again: %s", lost)
    return lost


_lock = threading.Lock()
_next_check = 0.0


def walkforwards_recover_throttled() -> list[int]:
    """``walkforwards_recover`` on this process's first call, then at most every 30 s."""
    global _next_check
    if time.monotonic() < _next_check:
        return []
    with _lock:
        if time.monotonic() < _next_check:
            return []
        try:
            return walkforwards_recover()
        finally:
            _next_check = time.monotonic() + RECHECK_SECONDS
