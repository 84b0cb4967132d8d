"""django-q2 tasks of walk-forwards, the receiver of finished studies and the worker start-up
recovery: an interface only (``services`` and ``recovery`` do the work). ``backtests.apps``
imports this module so the receivers are connected in every process."""

from __future__ import annotations

import logging

from django.db import connections
from django.dispatch import receiver
from django_q.signals import post_spawn

from backtests.studies.signals import study_finished

logger = logging.getLogger(__name__)


def walkforward_window_task(window_id: int) -> str:
    """Run one window's out-of-sample part in this worker; returns its status."""
    from backtests.walkforward.execution import window_oos_run
    from backtests.walkforward.recovery import walkforwards_recover_throttled

    try:
        walkforwards_recover_throttled()
    except Exception:  # never keep a window from running because the check failed
        logger.exception("walk-forward recovery check failed before window %s", window_id)
    return window_oos_run(window_id=window_id)


@receiver(post_spawn, dispatch_uid="backtests.walkforward.recover_on_worker_start")
def recover_windows_on_worker_start(sender: object, proc_name: str = "", **kwargs: object) -> None:
    """A (re)started worker queues again the out-of-sample parts a dead worker held."""
    from backtests.walkforward.recovery import walkforwards_recover

    try:
        walkforwards_recover()
    except Exception:
        logger.exception("walk-forward recovery failed in %s", proc_name)
    finally:
        connections.close_all()


@receiver(study_finished, dispatch_uid="backtests.walkforward.window_study_finished")
def queue_out_of_sample(sender: object, study_id: str = "", **kwargs: object) -> None:
    """A finished study that is a walk-forward window's: queue its out-of-sample part."""
    from backtests.walkforward.services import window_study_finished

    window_study_finished(study_id=study_id)
