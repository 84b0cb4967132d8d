"""django-q2 tasks of walk-forwards and the receiver of finished studies: an interface only
(``services`` does the work). ``backtests.apps`` imports this module so the receiver is
connected in every process that finishes studies."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from backtests.studies.signals import study_finished

logger = logging.getLogger(__name__)


def walkforward_window_task(window_id: int) -> str:
    """Run one window's out-of-sample part in this worker; returns its status."""
    from backtests.walkforward.services import window_oos_run

    return window_oos_run(window_id=window_id)


@receiver(study_finished, dispatch_uid="backtests.walkforward.window_study_finished")
def queue_out_of_sample(sender: object, study_id: str = "", **kwargs: object) -> None:
    """A finished study that is a walk-forward window's: queue its out-of-sample part."""
    from backtests.walkforward.services import window_study_finished

    window_study_finished(study_id=study_id)
