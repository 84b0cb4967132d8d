"""django-q2 tasks of studies: an interface only (``execution`` and ``recovery`` do the work).

``backtests.apps`` imports this module so the ``post_spawn`` receiver is connected in every
worker process: a (re)started worker first puts trials of dead workers back to waiting.
"""

from __future__ import annotations

import logging

from django.db import connections
from django.dispatch import receiver
from django_q.signals import post_spawn

logger = logging.getLogger(__name__)


def study_trials_task(study_id: str) -> int:
    """Run one batch of the study's waiting trials in this worker; returns how many ran."""
    from backtests.studies.execution import study_batch_run
    from backtests.studies.recovery import studies_recover_throttled

    try:
        studies_recover_throttled()
    except Exception:  # never keep a study from running because the check failed
        logger.exception("study recovery check failed before study %s", study_id)
    return study_batch_run(study_id=study_id)


@receiver(post_spawn, dispatch_uid="backtests.studies.recover_on_worker_start")
def recover_trials_on_worker_start(sender: object, proc_name: str = "", **kwargs: object) -> None:
    """A (re)started worker puts the trials a dead worker held back to waiting."""
    from backtests.studies.recovery import studies_recover

    try:
        studies_recover()
    except Exception:
        logger.exception("study recovery failed in %s", proc_name)
    finally:
        connections.close_all()
