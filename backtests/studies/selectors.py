"""Reading studies: progress (done / total, failed, best so far, ETA), a sorted page of
trials, and the shapes the API, pages and commands show."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Count, F, FloatField, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from backtests.studies.analysis import best_trial
from backtests.studies.models import (
    FINISHED_TRIAL_STATUSES,
    Study,
    StudyStatus,
    Trial,
    TrialStatus,
)
from ostsite.permissions import user_may

TRIAL_SORTS_FIXED = ("number", "value", "status", "seconds", "batch")
SORT_INVALID = "sort must be one of: {valid}"


def study_counts(study: Study) -> dict[str, int]:
    counts = {status: 0 for status in TrialStatus.values}
    for row in Trial.objects.filter(study=study).values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def study_progress(study: Study, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Trials done of the budget, by status, the rate so far and the time left (ETA)."""
    counts = counts or study_counts(study)
    done = sum(counts[s] for s in FINISHED_TRIAL_STATUSES)
    total = max(study.n_trials, done)
    eta = None
    elapsed = None
    if study.ts_started:
        end = study.ts_end or time.time_ns()
        elapsed = max(0.0, (end - study.ts_started) / 1e9)
        if study.status == StudyStatus.RUNNING and done:
            remaining = max(0, total - done)
            eta = round(elapsed / done * remaining, 1)
            if study.deadline_ns is not None:
                eta = round(min(eta, max(0.0, (study.deadline_ns - time.time_ns()) / 1e9)), 1)
    return {
        "done": done,
        "total": total,
        "percent": round(100.0 * done / total, 2) if total else 100.0,
        "complete": counts[TrialStatus.COMPLETE],
        "infeasible": counts[TrialStatus.INFEASIBLE],
        "failed": counts[TrialStatus.FAILED],
        "running": counts[TrialStatus.RUNNING],
        "waiting": counts[TrialStatus.WAITING],
        "elapsed_seconds": None if elapsed is None else round(elapsed, 1),
        "eta_seconds": eta,
    }


def trial_as_dict(trial: Trial, *, full: bool = False) -> dict[str, Any]:
    data = {
        "number": trial.number,
        "status": trial.status,
        "params": trial.params,
        "value": trial.value,
        "metrics": trial.metrics,
        "reason": trial.reason,
        "seconds": None if trial.seconds is None else round(trial.seconds, 4),
        "batch": trial.batch,
        "run_id": trial.run_id,
    }
    if full:
        data["traceback"] = trial.traceback
        data["worker"] = trial.worker
        data["engine_seconds"] = trial.engine_seconds
        data["bars"] = trial.bars
    return data


def study_as_dict(study: Study, *, detail: bool = False, user: Any = None) -> dict[str, Any]:
    """The study as the API shows it (``detail`` adds progress, best trial and the verdict;
    with ``user``, what that user may do to it: the pages enable buttons by it)."""
    config = study.config or {}
    data: dict[str, Any] = {
        "study_id": study.study_id,
        "name": study.name,
        "status": study.status,
        "owner": study.owner.get_username() if study.owner_id and study.owner else None,
        "strategy": study.strategy,
        "symbols": config.get("symbols") or [],
        "rtype": config.get("rtype"),
        "start_date": config.get("start_date"),
        "end_date": config.get("end_date"),
        "sampler": study.sampler,
        "objective": study.objective,
        "direction": study.direction,
        "min_trades": study.min_trades,
        "n_trials": study.n_trials,
        "time_limit_seconds": study.time_limit_seconds,
        "seed": study.seed,
        "batch_size": study.batch_size,
        "pbo_splits": study.pbo_splits,
        "grid_size": study.grid_size,
        "ts_created": study.ts_created,
        "ts_started": study.ts_started,
        "ts_end": study.ts_end,
        "note": study.note,
        "error": study.error,
    }
    if user is not None:
        data["can_cancel"] = user_may(user, study, "cancel")
        data["can_delete"] = user_may(user, study, "delete")
    counts = study_counts(study)
    data["progress"] = study_progress(study, counts)
    best = best_trial(study)
    data["best"] = trial_as_dict(best) if best else None
    if detail:
        data["config"] = config
        data["space"] = study.space
        data["constraints"] = study.constraints or []
        data["searched"] = [n for n, e in (study.space or {}).items() if e.get("kind") != "fixed"]
        analysis = study.analysis
        data["overfitting"] = analysis
        data["verdict"] = (analysis or {}).get("verdict") or None
    return data


def studies_list(*, limit: int = 50, status: str | None = None) -> QuerySet[Study]:
    """The newest studies first (optionally of one status)."""
    studies = Study.objects.select_related("owner")
    if status:
        studies = studies.filter(status=status)
    return studies.order_by("-ts_created", "-study_id")[:limit]


def trial_sorts(study: Study) -> list[str]:
    """The sort keys of the study's trials: fixed columns, params and metrics by name."""
    searched = [n for n, e in (study.space or {}).items() if e.get("kind") != "fixed"]
    from backtests.studies.definition import OBJECTIVES

    return (
        list(TRIAL_SORTS_FIXED)
        + [f"param.{n}" for n in searched]
        + [f"metric.{m}" for m in OBJECTIVES]
    )


def trials_queryset(
    study: Study, *, sort: str = "number", descending: bool = False, status: str | None = None
) -> QuerySet[Trial]:
    """The study's trials sorted by a column, a parameter (``param.NAME``) or a metric
    (``metric.NAME``); nulls last, ties by number."""
    trials = Trial.objects.filter(study=study)
    if status:
        trials = trials.filter(status=status)
    if sort.startswith("param."):
        name = sort.removeprefix("param.")
        entry = (study.space or {}).get(name) or {}
        expr = KT(f"params__{name}")
        key = Cast(expr, FloatField()) if entry.get("type") in ("int", "float") else expr
    elif sort.startswith("metric."):
        key = Cast(KT(f"metrics__{sort.removeprefix('metric.')}"), FloatField())
    else:
        key = F(sort)
    ordered = key.desc(nulls_last=True) if descending else key.asc(nulls_last=True)
    return trials.order_by(ordered, "number")


def trial_points(study: Study, metric: str | None = None) -> list[dict[str, Any]]:
    """(number, params, value, metric) of every trial that ran and has a value, for charts."""
    rows = Trial.objects.filter(study=study, status__in=FINISHED_TRIAL_STATUSES).order_by("number")
    out = []
    for number, params, value, metrics, status in rows.values_list(
        "number", "params", "value", "metrics", "status"
    ):
        chosen = value if metric in (None, study.objective) else (metrics or {}).get(metric)
        out.append(
            {
                "number": number,
                "params": params,
                "value": chosen,
                "status": status,
                "objective": value,
            }
        )
    return out
