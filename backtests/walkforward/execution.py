"""Executing a window's out-of-sample part (the ``walkforward_window_task`` of a worker, or
``run_walkforward`` in-process): claim the window once its study has finished, take the
study's best trial by its objective, run that point on the out-of-sample dates with warmed-up
indicators (``oos``), store what it did, and finish the walk-forward if it was the last
window.

The claim sets the window ``out_of_sample`` with this process as its worker; while it runs,
its heartbeat is written and the walk-forward's status read at most every 0.5 s: a cancel, or
the window taken back by the recovery (``recovery``), stops the run, and only a run that still
holds the window stores its result.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from django.db import transaction

from backtests.analysis.returns import daily_returns
from backtests.results.codec import arrays_decode, arrays_encode
from backtests.studies.analysis import best_trial
from backtests.studies.execution import worker_name
from backtests.studies.models import ACTIVE_STUDY_STATUSES, Study, StudyStatus
from backtests.studies.services import trial_spec
from backtests.walkforward.analysis import annualised_return
from backtests.walkforward.models import (
    ACTIVE_WALKFORWARD_STATUSES,
    WalkForward,
    WalkForwardStatus,
    WalkForwardWindow,
    WindowStatus,
)
from backtests.walkforward.oos import oos_evaluate
from backtests.walkforward.services import walkforward_advance

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 0.5
STUDY_FAILED = "the in-sample study failed: {error}"
STUDY_GONE = "the in-sample study was deleted"
NO_BEST_TRIAL = "no trial of the in-sample study has a defined {objective}, so no point was chosen"
OOS_FAILED = "the out-of-sample run failed: {error}"


def _walkforward_active(walkforward_id: str) -> bool:
    status = (
        WalkForward.objects.filter(walkforward_id=walkforward_id)
        .values_list("status", flat=True)
        .first()
    )
    return status in ACTIVE_WALKFORWARD_STATUSES


class _CancelCheck:
    """The out-of-sample run's heartbeat, and whether the walk-forward is still active and
    the window still this run's, at most every 0.5 s."""

    def __init__(self, walkforward_id: str, window_id: int) -> None:
        self.walkforward_id = walkforward_id
        self.window_id = window_id
        self.last = time.monotonic()
        self.stop = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.stop and now - self.last >= CHECK_INTERVAL_SECONDS:
            self.last = now
            beat = WalkForwardWindow.objects.filter(
                id=self.window_id, status=WindowStatus.OUT_OF_SAMPLE
            ).update(heartbeat_ns=time.time_ns())
            self.stop = not beat or not _walkforward_active(self.walkforward_id)
        return self.stop


def _claim(window_id: int) -> WalkForwardWindow | None:
    """The window, now out_of_sample, if its walk-forward is active and its study has
    finished; failed at once when the study failed or is gone."""
    with transaction.atomic(using="default"):
        window = (
            WalkForwardWindow.objects.select_for_update(of=("self",))
            .select_related("walkforward", "study")
            .filter(id=window_id)
            .first()
        )
        if window is None or window.status != WindowStatus.IN_SAMPLE:
            return None
        if window.walkforward.status not in ACTIVE_WALKFORWARD_STATUSES:
            return None
        study = window.study
        if study is not None and study.status in ACTIVE_STUDY_STATUSES:
            return None
        if study is None or study.status != StudyStatus.COMPLETED:
            window.status = WindowStatus.FAILED
            window.error = (
                STUDY_GONE
                if study is None
                else STUDY_FAILED.format(error=study.error or study.status)
            )
            window.ts_end = time.time_ns()
            window.save(update_fields=["status", "error", "ts_end"])
            return window
        window.status = WindowStatus.OUT_OF_SAMPLE
        window.heartbeat_ns = time.time_ns()
        window.worker = worker_name()
        window.save(update_fields=["status", "heartbeat_ns", "worker"])
    return window


def _is_annual_return(trial: Any) -> float | None:
    if not trial.daily:
        return None
    arrays, attrs = arrays_decode(trial.daily)
    capital = float(attrs.get("capital") or 0.0)
    if capital <= 0:
        return None
    return annualised_return(daily_returns(arrays["equity"], capital))


def window_oos_run(*, window_id: int) -> str:
    """Run the window's chosen point out of sample and store it; then finish the
    walk-forward if it was the last window. Returns the window's status (or "skipped")."""
    window = _claim(window_id)
    if window is None:
        return "skipped"
    if window.status == WindowStatus.FAILED:
        walkforward_advance(walkforward_id=window.walkforward_id)
        return window.status
    study: Study = window.study
    best = best_trial(study)
    fields: dict[str, Any] = {}
    if best is None:
        fields = {
            "status": WindowStatus.FAILED,
            "error": NO_BEST_TRIAL.format(objective=study.objective),
        }
    else:
        check = _CancelCheck(window.walkforward_id, window.id)
        try:
            outcome = oos_evaluate(
                trial_spec(study, best.params),
                warmup_start=window.warmup_start,
                oos_start=window.oos_start,
                oos_end=window.oos_end,
                should_cancel=check,
            )
        except Exception as exc:  # the strategy's own error: the window says why
            logger.exception("window %s: out-of-sample run failed", window_id)
            fields = {"status": WindowStatus.FAILED, "error": OOS_FAILED.format(error=exc)}
        else:
            if outcome.status != "completed":  # cancelled, or taken back by the recovery
                WalkForwardWindow.objects.filter(
                    id=window_id,
                    status=WindowStatus.OUT_OF_SAMPLE,
                    walkforward__status=WalkForwardStatus.CANCELLED,
                ).update(status=WindowStatus.CANCELLED)
                return "stopped"
            fields = {
                "status": WindowStatus.COMPLETE,
                "oos_metrics": {**outcome.metrics, "first_fill_ns": outcome.first_fill_ns},
                "oos_daily": arrays_encode(
                    {
                        "day": outcome.days.astype(np.int32),
                        "equity": outcome.equity,
                        "benchmark": outcome.benchmark,
                    },
                    capital=outcome.capital,
                ),
                "seconds": outcome.seconds,
            }
        if best is not None:
            fields.update(
                best_trial=best.number,
                params=best.params,
                is_metrics={
                    **{
                        k: v
                        for k, v in (best.metrics or {}).items()
                        if k not in ("notes", "warnings")
                    },
                    "annualised_return": _is_annual_return(best),
                },
            )
    fields["ts_end"] = time.time_ns()
    stored = WalkForwardWindow.objects.filter(
        id=window_id, status=WindowStatus.OUT_OF_SAMPLE
    ).update(**fields)
    if stored:
        walkforward_advance(walkforward_id=window.walkforward_id)
    return fields["status"] if stored else "skipped"
