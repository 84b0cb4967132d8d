"""The lifecycle of a study: create (with its first batch), ask the next batch, finish, cancel,
resume, extend, delete, and open a trial as a full run.

A study moves queued -> running -> completed | failed | cancelled; a cancelled study can be
resumed, a finished one extended. Its trials are executed by django-q2 tasks
(``backtests.studies.tasks``), each claiming a few waiting trials (``execution``); after each
task, ``study_advance`` asks the sampler for more points (under a short lock on the study row,
so any worker can do it) or finishes the study. The overfitting statistics are computed once
the study has finished (``analysis``).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

from backtests.models import Run
from backtests.services.backtest_spec import (
    BacktestSpec,
    backtest_spec_from_mapping,
    strategy_classes,
)
from backtests.services.jobs import QueueUnavailable, backtest_submit
from backtests.services.run_purge import runs_purge
from backtests.services.runs import runs_mark_deleted
from backtests.studies.definition import StudyDefinition
from backtests.studies.models import (
    ACTIVE_STUDY_STATUSES,
    FINISHED_TRIAL_STATUSES,
    Study,
    StudyStatus,
    Trial,
    TrialStatus,
)
from backtests.studies.sampling import GENERATION_SAMPLERS, AskedPoint, PastTrial, points_ask
from backtests.studies.space import SearchSpace, space_from_json
from ostsite.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

STUDY_TASK = "backtests.studies.tasks.study_trials_task"
TASK_GROUP = "studies"

STUDY_NOT_FOUND = "study {study_id!r} does not exist"
TRIAL_NOT_FOUND = "study {study_id} has no trial {number!r}"
STUDY_FINISHED = "study {study_id} already finished ({status}); it cannot be cancelled"
STUDY_RESUME_FINISHED = "study {study_id} is {status}: extend it to run more trials"
STUDY_IDS_INVALID = "study_ids must be a list of study id strings"
EXTEND_INVALID = "n_trials must be a whole number from 1 to {limit:,}"
EXTEND_ABOVE_LIMIT = (
    "the study would have {total:,} trials, above the limit of {limit:,} (OST_STUDY_MAX_TRIALS)"
)
EXTEND_GRID_FULL = (
    "the grid has {points:,} points that obey the constraints and the study's budget is "
    "{budget:,} already: it can be extended by at most {room:,}"
)
TRIAL_NOT_RUN = (
    "trial {number} of study {study_id} is {status}: only a trial that ran can be opened"
)
ALL_TRIALS_FAILED = "every trial failed; the first: trial {number}: {reason}"
NOTE_EXHAUSTED = (
    "the sampler found no new point after {count:,} trials: the space holds no more distinct "
    "points that obey the constraints"
)
NOTE_TIME_LIMIT = "stopped by its time limit of {seconds:g} s after {count:,} trials"
QUEUE_UNAVAILABLE = "The task queue cannot be reached, the study was not started: {error}"


def _new_study_id() -> str:
    return secrets.token_hex(6)


def study_get(*, study_id: Any) -> Study:
    """The study (``NotFound`` for an unknown or malformed id)."""
    if not isinstance(study_id, str) or "\x00" in study_id:
        raise NotFound(STUDY_NOT_FOUND.format(study_id=study_id))
    study = Study.objects.filter(study_id=study_id).first()
    if study is None:
        raise NotFound(STUDY_NOT_FOUND.format(study_id=study_id))
    return study


def study_space(study: Study) -> SearchSpace:
    """The study's search space and rules, rebuilt for its strategy class."""
    cls = strategy_classes().get(study.strategy)
    if cls is None:
        raise InvalidInput(f"strategy {study.strategy!r} is not loaded")
    return space_from_json(study.space, strategy_cls=cls, user_constraints=study.constraints or [])


def trial_spec(study: Study, params: dict[str, Any], *, record: str = "trades") -> BacktestSpec:
    """The exact backtest spec of a trial's point, validated as any backtest is."""
    config = dict(study.config)
    config["strategy_params"] = {**(config.get("strategy_params") or {}), **params}
    config["record"] = record
    return backtest_spec_from_mapping(config)


# --- enqueueing ------------------------------------------------------------------------------


def study_enqueue(*, study_id: str, tasks: int = 1) -> None:
    """Put ``tasks`` batch tasks of the study on the queue (each claims a few trials)."""
    for _ in range(max(0, tasks)):
        async_task(STUDY_TASK, study_id, task_name=f"study-{study_id}", group=TASK_GROUP)


def _enqueue_after_commit(study_id: str, tasks: int, *, fail_study: bool) -> None:
    def enqueue() -> None:
        try:
            study_enqueue(study_id=study_id, tasks=tasks)
        except Exception as exc:
            logger.exception("enqueue of study %s failed", study_id)
            if not fail_study:
                return  # a worker's follow-up: the stall check enqueues again later
            message = QUEUE_UNAVAILABLE.format(error=exc)
            Study.objects.filter(study_id=study_id, status__in=ACTIVE_STUDY_STATUSES).update(
                status=StudyStatus.FAILED, error=message, ts_end=time.time_ns()
            )
            raise QueueUnavailable(message) from exc

    transaction.on_commit(enqueue, using="default")


def _tasks_for(trials: int, batch_size: int) -> int:
    return math.ceil(trials / max(1, batch_size)) if trials > 0 else 0


# --- create ----------------------------------------------------------------------------------


def study_create(*, definition: StudyDefinition, owner: Any = None, enqueue: bool = True) -> Study:
    """A new queued study with its first batch of trials, in one transaction; its tasks are
    enqueued once that commits (``QueueUnavailable`` 503 when the broker refuses them).
    ``enqueue=False`` leaves the execution to the caller (``run_study`` in local processes)."""
    now = time.time_ns()
    spec = definition.spec
    with transaction.atomic(using="default"):
        study = Study.objects.create(
            study_id=_new_study_id(),
            name=definition.name or _default_name(definition),
            owner=owner if getattr(owner, "is_authenticated", False) else None,
            status=StudyStatus.QUEUED,
            strategy=spec.strategy_id,
            config=spec.to_config(),
            space=definition.space.to_json(),
            constraints=list(definition.space.user_constraints),
            sampler=definition.sampler,
            objective=definition.objective,
            direction=definition.direction,
            min_trades=definition.min_trades,
            n_trials=definition.n_trials,
            time_limit_seconds=definition.time_limit_seconds,
            seed=definition.seed,
            batch_size=definition.batch_size,
            generation_size=definition.generation_size,
            batches_asked=1,
            pbo_splits=definition.pbo_splits,
            grid_size=definition.grid_size,
            exhausted=definition.exhausted and len(definition.first_batch) < definition.n_trials,
            ts_created=now,
            updated_ns=now,
        )
        _store_points(study, definition.first_batch, batch=0, first_number=0)
        if enqueue:
            tasks = _tasks_for(len(definition.first_batch), study.batch_size)
            _enqueue_after_commit(study.study_id, tasks, fail_study=True)
    return study


def _default_name(definition: StudyDefinition) -> str:
    searched = ", ".join(definition.space.names)
    return f"{definition.spec.default_name()} · {definition.sampler} over {searched}"


def _store_points(study: Study, points: Any, *, batch: int, first_number: int) -> int:
    Trial.objects.bulk_create(
        [
            Trial(
                study=study,
                number=first_number + index,
                batch=batch,
                params=point.params,
                sampler_attrs=point.sampler_attrs,
            )
            for index, point in enumerate(points)
        ]
    )
    return len(points)


# --- advance and finish ----------------------------------------------------------------------


def _status_counts(study_id: str) -> dict[str, int]:
    from django.db.models import Count

    counts = {status: 0 for status in TrialStatus.values}
    rows = Trial.objects.filter(study_id=study_id).values("status").annotate(n=Count("id"))
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def _history(study: Study) -> list[PastTrial]:
    rows = Trial.objects.filter(study=study).order_by("number")
    history = []
    for params, status, value, attrs in rows.values_list(
        "params", "status", "value", "sampler_attrs"
    ):
        if status == TrialStatus.COMPLETE:
            state = "complete"
        elif status in (TrialStatus.WAITING, TrialStatus.RUNNING):
            state = "pending"
        else:
            state = "failed"
        history.append(PastTrial(params=params, state=state, value=value, sampler_attrs=attrs))
    return history


def _ask(study: Study, count: int) -> int:
    """Ask the sampler's next batch and store it as waiting trials (caller holds the lock)."""
    history = _history(study)
    result = points_ask(
        space=study_space(study),
        sampler=study.sampler,
        direction=study.direction,
        seed=study.seed,
        batch=study.batches_asked,
        count=count,
        history=history,
    )
    points: list[AskedPoint] = result.points
    stored = _store_points(study, points, batch=study.batches_asked, first_number=len(history))
    study.batches_asked += 1
    if result.exhausted:
        study.exhausted = True
    study.save(update_fields=["batches_asked", "exhausted"])
    return stored


def study_advance(*, study_id: str, enqueue: bool = True) -> str:
    """After trials were stored: ask the next batch when the sampler may, or finish the study
    when nothing is left to run. Returns what happened: "asked", "waiting", "finished" or
    "inactive". Safe to call any number of times, from any process. ``enqueue=False`` asks
    without queueing tasks (the caller runs the trials itself)."""
    finished = False
    with transaction.atomic(using="default"):
        study = Study.objects.select_for_update().filter(study_id=study_id).first()
        if study is None or study.status not in ACTIVE_STUDY_STATUSES:
            return "inactive"
        counts = _status_counts(study_id)
        waiting, running = counts[TrialStatus.WAITING], counts[TrialStatus.RUNNING]
        ran = sum(counts[s] for s in FINISHED_TRIAL_STATUSES)
        pending = waiting + running
        now = time.time_ns()
        time_up = study.deadline_ns is not None and now >= study.deadline_ns
        room = study.n_trials - ran - pending
        asked = 0
        if not time_up and not study.exhausted and room > 0:
            generation = study.sampler in GENERATION_SAMPLERS
            if (generation and pending == 0) or (
                not generation and waiting < study.generation_size
            ):
                asked = _ask(study, min(study.generation_size, room))
        if asked:
            if enqueue:
                tasks = _tasks_for(asked, study.batch_size)
                _enqueue_after_commit(study_id, tasks, fail_study=False)
            return "asked"
        if pending == 0 or (time_up and running == 0):
            _finish(study, counts, time_up=time_up)
            finished = True
    if finished:
        _analyse_quietly(study_id)
        _announce_finished(study_id)
        return "finished"
    return "waiting"


def _finish(study: Study, counts: dict[str, int], *, time_up: bool) -> None:
    """Mark the study finished (the caller holds its lock); trials never run are dropped."""
    Trial.objects.filter(study=study, status=TrialStatus.WAITING).delete()
    ran = sum(counts[s] for s in FINISHED_TRIAL_STATUSES)
    failed = counts[TrialStatus.FAILED]
    study.ts_end = time.time_ns()
    study.analysis = None
    study.analysis_logits = None
    notes = []
    if time_up:
        notes.append(NOTE_TIME_LIMIT.format(seconds=study.time_limit_seconds or 0, count=ran))
    elif study.exhausted and ran < study.n_trials:
        notes.append(NOTE_EXHAUSTED.format(count=ran))
    study.note = " ".join(notes)
    if ran and failed == ran:
        first = Trial.objects.filter(study=study, status=TrialStatus.FAILED).order_by("number")[0]
        study.status = StudyStatus.FAILED
        study.error = ALL_TRIALS_FAILED.format(number=first.number, reason=first.reason)
    else:
        study.status = StudyStatus.COMPLETED
        study.error = ""
    study.save(update_fields=["ts_end", "analysis", "analysis_logits", "note", "status", "error"])


def _analyse_quietly(study_id: str) -> None:
    """Compute and keep the overfitting statistics of a finished study (never raises: the
    pages compute them on demand when they are missing)."""
    from backtests.studies.analysis import study_analysis_store

    try:
        study_analysis_store(study_id=study_id)
    except Exception:
        logger.exception("study %s: overfitting statistics not computed", study_id)


def _announce_finished(study_id: str) -> None:
    """Send ``study_finished`` (a receiver's failure is logged, never the study's)."""
    from backtests.studies.signals import study_finished

    for receiver, result in study_finished.send_robust(sender=Study, study_id=study_id):
        if isinstance(result, Exception):
            logger.error("study %s: %r failed: %s", study_id, receiver, result)


# --- cancel, resume, extend, delete ----------------------------------------------------------


def study_cancel(*, study_id: Any) -> Study:
    """queued/running -> cancelled; its running trials stop within a second and go back to
    waiting (``study_resume`` runs them)."""
    with transaction.atomic(using="default"):
        study = study_get(study_id=study_id)
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status in (StudyStatus.COMPLETED, StudyStatus.FAILED):
            raise Conflict(STUDY_FINISHED.format(study_id=study.study_id, status=study.status))
        if study.status != StudyStatus.CANCELLED:
            study.status = StudyStatus.CANCELLED
            study.ts_end = time.time_ns()
            study.save(update_fields=["status", "ts_end"])
    return study


def _restart(study: Study, now: int) -> None:
    study.status = StudyStatus.RUNNING if study.ts_started else StudyStatus.QUEUED
    study.ts_end = None
    study.error = ""
    study.note = ""
    if study.time_limit_seconds:
        study.deadline_ns = now + int(study.time_limit_seconds * 1e9)


def study_resume(*, study_id: Any, enqueue: bool = True) -> Study:
    """Continue a cancelled study, or one whose workers died (trials of dead workers go back
    to waiting first). A completed or failed study is a Conflict: extend it instead."""
    from backtests.studies.recovery import trials_recover

    study = study_get(study_id=study_id)
    if study.status in (StudyStatus.COMPLETED, StudyStatus.FAILED):
        raise Conflict(STUDY_RESUME_FINISHED.format(study_id=study.study_id, status=study.status))
    trials_recover(enqueue=False)
    with transaction.atomic(using="default"):
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status in (StudyStatus.COMPLETED, StudyStatus.FAILED):
            raise Conflict(
                STUDY_RESUME_FINISHED.format(study_id=study.study_id, status=study.status)
            )
        now = time.time_ns()
        if study.status == StudyStatus.CANCELLED:
            _restart(study, now)
        study.updated_ns = now
        study.save(update_fields=["status", "ts_end", "error", "note", "deadline_ns", "updated_ns"])
        waiting = Trial.objects.filter(study=study, status=TrialStatus.WAITING).count()
        if enqueue and waiting:
            _enqueue_after_commit(
                study.study_id, _tasks_for(waiting, study.batch_size), fail_study=False
            )
    if not waiting:
        study_advance(study_id=study.study_id, enqueue=enqueue)
    return Study.objects.get(pk=study.pk)


def study_extend(*, study_id: Any, n_trials: Any, enqueue: bool = True) -> Study:
    """Raise the budget by ``n_trials`` and run them (a finished or cancelled study starts
    again; a grid can grow up to its number of points)."""
    limit = settings.OST_STUDY_MAX_TRIALS
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or not 1 <= n_trials <= limit:
        message = EXTEND_INVALID.format(limit=limit)
        raise InvalidInput(message, fields={"n_trials": message})
    study = study_get(study_id=study_id)
    with transaction.atomic(using="default"):
        study = Study.objects.select_for_update().get(pk=study.pk)
        total = study.n_trials + n_trials
        if total > limit:
            message = EXTEND_ABOVE_LIMIT.format(total=total, limit=limit)
            raise InvalidInput(message, fields={"n_trials": message})
        if study.sampler == "grid" and study.grid_size is not None and total > study.grid_size:
            message = EXTEND_GRID_FULL.format(
                points=study.grid_size,
                budget=study.n_trials,
                room=max(0, study.grid_size - study.n_trials),
            )
            raise Conflict(message, fields={"n_trials": message})
        now = time.time_ns()
        study.n_trials = total
        if study.status not in ACTIVE_STUDY_STATUSES:
            _restart(study, now)
            study.analysis = None
            study.analysis_logits = None
        if study.sampler != "grid":
            study.exhausted = False
        study.updated_ns = now
        study.save()
    study_advance(study_id=study.study_id, enqueue=enqueue)
    return Study.objects.get(pk=study.pk)


def studies_delete(*, study_ids: Any) -> int:
    """Delete these studies, their trials and the runs opened from their trials (active
    studies are cancelled first). Unknown ids are ignored; returns how many were deleted."""
    if not isinstance(study_ids, list | tuple) or not all(isinstance(s, str) for s in study_ids):
        raise InvalidInput(STUDY_IDS_INVALID, fields={"study_ids": STUDY_IDS_INVALID})
    ids = [s for s in study_ids if "\x00" not in s]
    if not ids:
        return 0
    with transaction.atomic(using="default"):
        locked = list(
            Study.objects.select_for_update()
            .filter(study_id__in=ids)
            .values_list("study_id", flat=True)
        )
        Study.objects.filter(study_id__in=locked, status__in=ACTIVE_STUDY_STATUSES).update(
            status=StudyStatus.CANCELLED, ts_end=time.time_ns()
        )
        run_ids = list(
            Trial.objects.filter(study_id__in=locked, run__isnull=False)
            .values_list("run_id", flat=True)
            .distinct()
        )
        marked = runs_mark_deleted(run_ids=run_ids) if run_ids else []
        _, per_model = Study.objects.filter(study_id__in=locked).delete()
    runs_purge(run_ids=marked)  # in bounded transactions of its own, after the commit
    return per_model.get(Study._meta.label, 0)


# --- open a trial as a full run ---------------------------------------------------------------


def trial_get(*, study: Study, number: Any) -> Trial:
    if isinstance(number, bool) or not isinstance(number, int):
        raise NotFound(TRIAL_NOT_FOUND.format(study_id=study.study_id, number=number))
    trial = Trial.objects.filter(study=study, number=number).first()
    if trial is None:
        raise NotFound(TRIAL_NOT_FOUND.format(study_id=study.study_id, number=number))
    return trial


def trial_open_as_run(*, study_id: Any, number: Any, enqueue: bool = True) -> Run:
    """A run (record=full) of the trial's exact spec, queued for a worker and linked to the
    trial; the run made before is returned again while it exists."""
    from backtests.services.runs import run_create

    study = study_get(study_id=study_id)
    trial = trial_get(study=study, number=number)
    if trial.status not in FINISHED_TRIAL_STATUSES:
        raise Conflict(
            TRIAL_NOT_RUN.format(number=trial.number, study_id=study.study_id, status=trial.status)
        )
    if trial.run_id:
        existing = Run.objects.filter(run_id=trial.run_id).first()
        if existing is not None:
            return existing
    spec = trial_spec(study, trial.params, record="full")
    name = f"{study.name} · trial {trial.number}"
    run = backtest_submit(spec=spec, name=name) if enqueue else run_create(spec=spec, name=name)
    Trial.objects.filter(pk=trial.pk).update(run=run)
    return run
