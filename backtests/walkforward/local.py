"""Running a walk-forward on this machine without the task queue (``run_walkforward``,
the bench): each window's study in ``jobs`` local processes (``studies.local``), one window
after another, then its out-of-sample part in this process."""

from __future__ import annotations

from collections.abc import Callable

from backtests.studies.local import study_run_locally
from backtests.walkforward.execution import window_oos_run
from backtests.walkforward.models import (
    ACTIVE_WALKFORWARD_STATUSES,
    WalkForward,
    WalkForwardWindow,
    WindowStatus,
)
from backtests.walkforward.services import walkforward_cancel


def walkforward_run_locally(
    *,
    walkforward_id: str,
    jobs: int,
    on_window: Callable[[WalkForwardWindow], None] | None = None,
) -> WalkForward:
    """Run every unfinished window (study, then out of sample) until done; returns the
    walk-forward. Ctrl-C cancels it (``walkforward_resume`` continues it)."""
    try:
        windows = WalkForwardWindow.objects.filter(
            walkforward_id=walkforward_id, status=WindowStatus.IN_SAMPLE
        ).order_by("index")
        for window in list(windows):
            if WalkForward.objects.get(pk=walkforward_id).status not in ACTIVE_WALKFORWARD_STATUSES:
                break
            if window.study_id:
                study_run_locally(study_id=window.study_id, jobs=jobs)
            window_oos_run(window_id=window.id)
            if on_window is not None:
                window.refresh_from_db()
                on_window(window)
    except KeyboardInterrupt:
        walkforward_cancel(walkforward_id=walkforward_id)
        raise
    return WalkForward.objects.get(pk=walkforward_id)
