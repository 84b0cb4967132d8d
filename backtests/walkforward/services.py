"""The lifecycle of a walk-forward: create (one in-sample study per window, queued on the
workers like any study), run a window's out-of-sample part once its study finished, finish,
cancel, resume and delete.

A walk-forward moves running -> completed | failed | cancelled. Its windows' studies run in
parallel over the workers (each is an ordinary study: durable, resumable, cancellable). When
one finishes, ``studies.signals.study_finished`` reaches ``window_study_finished``, which
queues the window's out-of-sample task (``tasks.walkforward_window_task``); that task runs
``window_oos_run``: the study's best trial by its objective, run on the out-of-sample dates
(``oos``). The last window to finish computes the stitched results (``analysis``).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import numpy as np
from django.db import transaction
from django_q.tasks import async_task

from backtests.analysis.returns import daily_returns
from backtests.results.codec import arrays_decode, arrays_encode
from backtests.studies.analysis import best_trial
from backtests.studies.execution import worker_name
from backtests.studies.models import ACTIVE_STUDY_STATUSES, Study, StudyStatus
from backtests.studies.services import (
    studies_delete,
    study_cancel,
    study_create,
    study_resume,
    trial_spec,
)
from backtests.walkforward.analysis import WindowResult, annualised_return, walkforward_summary
from backtests.walkforward.definition import WalkForwardDefinition, window_study_definition
from backtests.walkforward.models import (
    ACTIVE_WALKFORWARD_STATUSES,
    FINISHED_WINDOW_STATUSES,
    WalkForward,
    WalkForwardStatus,
    WalkForwardWindow,
    WindowStatus,
)
from backtests.walkforward.oos import oos_evaluate
from ostsite.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

WINDOW_TASK = "backtests.walkforward.tasks.walkforward_window_task"
TASK_GROUP = "walkforwards"
CHECK_INTERVAL_SECONDS = 0.5

WALKFORWARD_NOT_FOUND = "walk-forward {walkforward_id!r} does not exist"
WALKFORWARD_FINISHED = (
    "walk-forward {walkforward_id} already finished ({status}); it cannot be cancelled"
)
WALKFORWARD_RESUME_FINISHED = (
    "walk-forward {walkforward_id} is {status}: only a cancelled one can be resumed"
)
WALKFORWARD_IDS_INVALID = "walkforward_ids must be a list of walk-forward id strings"
STUDY_FAILED = "the in-sample study failed: {error}"
STUDY_GONE = "the in-sample study was deleted"
NO_BEST_TRIAL = "no trial of the in-sample study has a defined {objective}, so no point was chosen"
OOS_FAILED = "the out-of-sample run failed: {error}"
ALL_WINDOWS_FAILED = "every window failed; the first: window {number}: {error}"


def _new_id() -> str:
    return secrets.token_hex(6)


def walkforward_get(*, walkforward_id: Any) -> WalkForward:
    """The walk-forward (``NotFound`` for an unknown or malformed id)."""
    if not isinstance(walkforward_id, str) or "\x00" in walkforward_id:
        raise NotFound(WALKFORWARD_NOT_FOUND.format(walkforward_id=walkforward_id))
    found = WalkForward.objects.filter(walkforward_id=walkforward_id).first()
    if found is None:
        raise NotFound(WALKFORWARD_NOT_FOUND.format(walkforward_id=walkforward_id))
    return found


# --- create ----------------------------------------------------------------------------------


@transaction.atomic(using="default")
def walkforward_create(
    *, definition: WalkForwardDefinition, owner: Any = None, enqueue: bool = True
) -> WalkForward:
    """A new walk-forward with one queued in-sample study per window, in one transaction;
    the studies' tasks are queued once it commits. ``enqueue=False`` leaves the execution to
    the caller (``run_walkforward`` in local processes)."""
    now = time.time_ns()
    user = owner if getattr(owner, "is_authenticated", False) else None
    spec = definition.study.spec
    walkforward = WalkForward.objects.create(
        walkforward_id=_new_id(),
        name=definition.name,
        owner=user,
        status=WalkForwardStatus.RUNNING,
        strategy=spec.strategy_id,
        config=spec.to_config(),
        definition=definition.fields,
        mode=definition.mode,
        in_sample_days=definition.in_sample_days,
        out_of_sample_days=definition.out_of_sample_days,
        step_days=definition.step_days,
        objective=definition.study.objective,
        direction=definition.study.direction,
        queued=enqueue,
        ts_created=now,
    )
    for window in definition.windows:
        study = study_create(
            definition=window_study_definition(definition, window), owner=user, enqueue=enqueue
        )
        WalkForwardWindow.objects.create(
            walkforward=walkforward,
            index=window.index,
            is_start=window.is_start,
            is_end=window.is_end,
            oos_start=window.oos_start,
            oos_end=window.oos_end,
            warmup_start=window.warmup_start,
            study=study,
        )
    return walkforward


# --- a window's out-of-sample part ------------------------------------------------------------


def window_enqueue(*, window_id: int) -> None:
    """Queue the window's out-of-sample task (and note when, for the recovery)."""
    WalkForwardWindow.objects.filter(id=window_id).update(heartbeat_ns=time.time_ns())
    async_task(
        WINDOW_TASK, window_id, task_name=f"walkforward-window-{window_id}", group=TASK_GROUP
    )


def window_study_finished(*, study_id: str) -> None:
    """A study finished: if it is a queued walk-forward's window, queue its out-of-sample
    part (``run_walkforward`` runs it itself)."""
    window = (
        WalkForwardWindow.objects.filter(
            study_id=study_id,
            status=WindowStatus.IN_SAMPLE,
            walkforward__status__in=ACTIVE_WALKFORWARD_STATUSES,
            walkforward__queued=True,
        )
        .only("id")
        .first()
    )
    if window is not None:
        window_enqueue(window_id=window.id)


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


# --- finish ----------------------------------------------------------------------------------


def window_results(walkforward: WalkForward) -> list[WindowResult]:
    """The complete windows' out-of-sample series, chosen points and in-sample returns."""
    results = []
    windows = walkforward.windows.filter(status=WindowStatus.COMPLETE).select_related("study")
    for window in windows.order_by("index"):
        arrays, attrs = arrays_decode(window.oos_daily)
        analysis = (window.study.analysis if window.study else None) or {}
        pbo = (analysis.get("pbo") or {}).get("pbo")
        results.append(
            WindowResult(
                index=window.index,
                days=arrays["day"].astype(np.int64),
                equity=arrays["equity"],
                benchmark=arrays["benchmark"],
                capital=float(attrs["capital"]),
                params=window.params or {},
                is_annual_return=(window.is_metrics or {}).get("annualised_return"),
                pbo=pbo,
            )
        )
    return results


def walkforward_advance(*, walkforward_id: str) -> bool:
    """Finish the walk-forward when every window has finished (stitch, verdict); safe to
    call any number of times. Returns whether it finished now."""
    with transaction.atomic(using="default"):
        walkforward = (
            WalkForward.objects.select_for_update().filter(walkforward_id=walkforward_id).first()
        )
        if walkforward is None or walkforward.status not in ACTIVE_WALKFORWARD_STATUSES:
            return False
        windows = list(walkforward.windows.order_by("index"))
        if any(w.status not in FINISHED_WINDOW_STATUSES for w in windows):
            return False
        config = walkforward.config or {}
        results = window_results(walkforward)
        walkforward.analysis = walkforward_summary(
            results,
            float(config.get("capital") or 0.0),
            risk_free_rate=float(config.get("risk_free_rate") or 0.0),
        )
        failed = [w for w in windows if w.status == WindowStatus.FAILED]
        if failed and len(failed) == len(windows):
            walkforward.status = WalkForwardStatus.FAILED
            walkforward.error = ALL_WINDOWS_FAILED.format(
                number=failed[0].index + 1, error=failed[0].error
            )
        else:
            walkforward.status = WalkForwardStatus.COMPLETED
        walkforward.ts_end = time.time_ns()
        walkforward.save(update_fields=["analysis", "status", "error", "ts_end"])
    return True


# --- cancel, resume, delete ------------------------------------------------------------------


def walkforward_cancel(*, walkforward_id: Any) -> WalkForward:
    """running -> cancelled: its active studies are cancelled (their running trials stop
    within a second), out-of-sample runs stop, unfinished windows become cancelled."""
    with transaction.atomic(using="default"):
        walkforward = walkforward_get(walkforward_id=walkforward_id)
        walkforward = WalkForward.objects.select_for_update().get(pk=walkforward.pk)
        if walkforward.status in (WalkForwardStatus.COMPLETED, WalkForwardStatus.FAILED):
            raise Conflict(
                WALKFORWARD_FINISHED.format(
                    walkforward_id=walkforward.walkforward_id, status=walkforward.status
                )
            )
        if walkforward.status != WalkForwardStatus.CANCELLED:
            walkforward.status = WalkForwardStatus.CANCELLED
            walkforward.ts_end = time.time_ns()
            walkforward.save(update_fields=["status", "ts_end"])
            windows = walkforward.windows.exclude(status__in=FINISHED_WINDOW_STATUSES)
            study_ids = list(
                windows.filter(study__status__in=ACTIVE_STUDY_STATUSES).values_list(
                    "study_id", flat=True
                )
            )
            windows.update(status=WindowStatus.CANCELLED)
            for study_id in study_ids:
                study_cancel(study_id=study_id)
    return walkforward


def walkforward_resume(*, walkforward_id: Any, enqueue: bool = True) -> WalkForward:
    """Continue a cancelled walk-forward: its cancelled studies resume, windows whose study
    has finished run their out-of-sample part again."""
    walkforward = walkforward_get(walkforward_id=walkforward_id)
    if walkforward.status != WalkForwardStatus.CANCELLED:
        raise Conflict(
            WALKFORWARD_RESUME_FINISHED.format(
                walkforward_id=walkforward.walkforward_id, status=walkforward.status
            )
        )
    with transaction.atomic(using="default"):
        walkforward = WalkForward.objects.select_for_update().get(pk=walkforward.pk)
        walkforward.status = WalkForwardStatus.RUNNING
        walkforward.ts_end = None
        walkforward.queued = enqueue
        walkforward.save(update_fields=["status", "ts_end", "queued"])
        walkforward.windows.filter(
            status__in=(WindowStatus.CANCELLED, WindowStatus.OUT_OF_SAMPLE)
        ).update(status=WindowStatus.IN_SAMPLE)
    ready = []
    for window in walkforward.windows.filter(status=WindowStatus.IN_SAMPLE).select_related("study"):
        if window.study is not None and window.study.status == StudyStatus.CANCELLED:
            study_resume(study_id=window.study_id, enqueue=enqueue)
        elif window.study is None or window.study.status not in ACTIVE_STUDY_STATUSES:
            ready.append(window.id)
    for window_id in ready:
        if enqueue:
            window_enqueue(window_id=window_id)
        else:
            window_oos_run(window_id=window_id)
    walkforward_advance(walkforward_id=walkforward.walkforward_id)
    return WalkForward.objects.get(pk=walkforward.pk)


def walkforwards_delete(*, walkforward_ids: Any) -> int:
    """Delete these walk-forwards, their windows and their in-sample studies (active ones
    are cancelled first). Unknown ids are ignored; returns how many were deleted."""
    if not isinstance(walkforward_ids, list | tuple) or not all(
        isinstance(w, str) for w in walkforward_ids
    ):
        raise InvalidInput(
            WALKFORWARD_IDS_INVALID, fields={"walkforward_ids": WALKFORWARD_IDS_INVALID}
        )
    ids = [w for w in walkforward_ids if "\x00" not in w]
    if not ids:
        return 0
    with transaction.atomic(using="default"):
        locked = list(
            WalkForward.objects.select_for_update()
            .filter(walkforward_id__in=ids)
            .values_list("walkforward_id", flat=True)
        )
        WalkForward.objects.filter(walkforward_id__in=locked).update(
            status=WalkForwardStatus.CANCELLED
        )
        study_ids = list(
            WalkForwardWindow.objects.filter(
                walkforward_id__in=locked, study__isnull=False
            ).values_list("study_id", flat=True)
        )
        if study_ids:
            studies_delete(study_ids=study_ids)
        _, per_model = WalkForward.objects.filter(walkforward_id__in=locked).delete()
    return per_model.get(WalkForward._meta.label, 0)
