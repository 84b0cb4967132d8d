"""The lifecycle of a walk-forward: create (one in-sample study per window, queued on the
workers like any study), run a window's out-of-sample part once its study finished, finish,
cancel, resume and delete.

A walk-forward moves running -> completed | failed | cancelled. Its windows' studies run in
parallel over the workers (each is an ordinary study: durable, resumable, cancellable). When
one finishes, ``studies.signals.study_finished`` reaches ``window_study_finished``, which
queues the window's out-of-sample task (``tasks.walkforward_window_task``); that task runs
``execution.window_oos_run``: the study's best trial by its objective, run on the
out-of-sample dates (``oos``). The last window to finish computes the stitched results
(``analysis``).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import numpy as np
from django.db import transaction
from django_q.tasks import async_task

from backtests.results.codec import arrays_decode
from backtests.studies.models import ACTIVE_STUDY_STATUSES, StudyStatus
from backtests.studies.services import (
    studies_delete,
    study_cancel,
    study_create,
    study_resume,
)
from backtests.walkforward.analysis import WindowResult, walkforward_summary
from backtests.walkforward.definition import WalkForwardDefinition, window_study_definition
from backtests.walkforward.models import (
    ACTIVE_WALKFORWARD_STATUSES,
    FINISHED_WINDOW_STATUSES,
    WalkForward,
    WalkForwardStatus,
    WalkForwardWindow,
    WindowStatus,
)
from ostsite.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

WINDOW_TASK = "backtests.walkforward.tasks.walkforward_window_task"
TASK_GROUP = "walkforwards"

WALKFORWARD_NOT_FOUND = "walk-forward {walkforward_id!r} does not exist"
WALKFORWARD_FINISHED = (
    "walk-forward {walkforward_id} already finished ({status}); it cannot be cancelled"
)
WALKFORWARD_RESUME_FINISHED = (
    "walk-forward {walkforward_id} is {status}: only a cancelled one can be resumed"
)
WALKFORWARD_IDS_INVALID = "walkforward_ids must be a list of walk-forward id strings"
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
    from backtests.walkforward.execution import window_oos_run

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
