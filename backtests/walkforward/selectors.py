"""Reading walk-forwards: progress (windows and trials done), the windows table and the
shapes the API, pages, admin and command show."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Count, QuerySet

from backtests.studies.models import FINISHED_TRIAL_STATUSES, Trial
from backtests.walkforward.models import (
    FINISHED_WINDOW_STATUSES,
    WalkForward,
    WalkForwardWindow,
)
from ostsite.permissions import user_may

_EPOCH = date(1970, 1, 1)


def walkforward_progress(walkforward: WalkForward) -> dict[str, Any]:
    """Windows finished of all, and trials run of the budget over the windows' studies."""
    windows = list(walkforward.windows.select_related("study"))
    study_ids = [w.study_id for w in windows if w.study_id]
    ran = Trial.objects.filter(study_id__in=study_ids, status__in=FINISHED_TRIAL_STATUSES).count()
    budget = sum(w.study.n_trials for w in windows if w.study is not None)
    done = sum(1 for w in windows if w.status in FINISHED_WINDOW_STATUSES)
    by_status: dict[str, int] = {}
    for row in walkforward.windows.values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    return {
        "windows_done": done,
        "windows_total": len(windows),
        "windows_by_status": by_status,
        "trials_done": ran,
        "trials_total": max(budget, ran),
        "percent": round(100.0 * ran / budget, 2) if budget else 100.0,
    }


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 4)


def window_as_dict(window: WalkForwardWindow, summary_row: dict[str, Any] | None) -> dict[str, Any]:
    """One row of the windows table."""
    oos = window.oos_metrics or {}
    row = summary_row or {}
    return {
        "index": window.index,
        "number": window.index + 1,
        "status": window.status,
        "is_start": window.is_start.isoformat(),
        "is_end": window.is_end.isoformat(),
        "oos_start": window.oos_start.isoformat(),
        "oos_end": window.oos_end.isoformat(),
        "warmup_start": window.warmup_start.isoformat(),
        "study_id": window.study_id,
        "study_status": window.study.status if window.study_id and window.study else None,
        "best_trial": window.best_trial,
        "params": window.params,
        "is_value": (window.is_metrics or {}).get(window.walkforward.objective)
        if window.is_metrics
        else None,
        "is_annual_return": row.get("is_annual_return"),
        "oos_annual_return": row.get("oos_annual_return"),
        "efficiency": row.get("efficiency"),
        "is_annual_return_pct": _pct(row.get("is_annual_return")),
        "oos_annual_return_pct": _pct(row.get("oos_annual_return")),
        "oos_net_pnl": oos.get("net_pnl"),
        "oos_total_return_pct": oos.get("total_return_pct"),
        "oos_trades": oos.get("trades"),
        "oos_max_drawdown_pct": oos.get("max_drawdown_pct"),
        "error": window.error,
    }


def walkforward_as_dict(
    walkforward: WalkForward, *, detail: bool = False, user: Any = None
) -> dict[str, Any]:
    """The walk-forward as the API shows it; ``detail`` adds the windows table, the stitched
    equity, efficiency, parameters per window and the verdict."""
    config = walkforward.config or {}
    analysis = walkforward.analysis or {}
    data: dict[str, Any] = {
        "walkforward_id": walkforward.walkforward_id,
        "name": walkforward.name,
        "status": walkforward.status,
        "owner": walkforward.owner.get_username()
        if walkforward.owner_id and walkforward.owner
        else None,
        "strategy": walkforward.strategy,
        "symbols": config.get("symbols") or [],
        "start_date": config.get("start_date"),
        "end_date": config.get("end_date"),
        "mode": walkforward.mode,
        "in_sample_days": walkforward.in_sample_days,
        "out_of_sample_days": walkforward.out_of_sample_days,
        "step_days": walkforward.step_days,
        "objective": walkforward.objective,
        "direction": walkforward.direction,
        "ts_created": walkforward.ts_created,
        "ts_end": walkforward.ts_end,
        "error": walkforward.error,
        "progress": walkforward_progress(walkforward),
        "verdict": analysis.get("verdict") or None,
        "efficiency": analysis.get("efficiency"),
    }
    if user is not None:
        data["can_cancel"] = user_may(user, walkforward, "cancel")
        data["can_delete"] = user_may(user, walkforward, "delete")
    if detail:
        rows = {row["index"]: row for row in analysis.get("windows") or []}
        windows = walkforward.windows.select_related("study", "walkforward").order_by("index")
        data["config"] = config
        data["definition"] = walkforward.definition
        data["windows"] = [window_as_dict(w, rows.get(w.index)) for w in windows]
        stitched = analysis.get("stitched")
        if stitched:
            stitched = {
                **stitched,
                "dates": [(_EPOCH + timedelta(days=d)).isoformat() for d in stitched["days"]],
            }
        data["stitched"] = stitched
        data["metrics"] = analysis.get("metrics")
        data["parameters"] = analysis.get("parameters") or {}
        data["psr"] = analysis.get("psr")
        data["mean_pbo"] = analysis.get("mean_pbo")
        data["is_annual_return_mean"] = analysis.get("is_annual_return_mean")
        data["oos_annual_return"] = analysis.get("oos_annual_return")
    return data


def walkforwards_list(*, limit: int = 50, status: str | None = None) -> QuerySet[WalkForward]:
    """Newest first."""
    found = WalkForward.objects.select_related("owner").order_by("-ts_created")
    if status:
        found = found.filter(status=status)
    return found[:limit]
