"""What a finished study tells: the overfitting statistics of its best trial (DSR, PBO by
CSCV, the verdict in words) and the importance of each searched parameter.

The trials' daily returns come from the daily equity each trial kept (the one definition of
returns: ``analysis.returns.daily_returns``), aligned on the union of their days (a day a
trial has no bar for counts as a return of 0). N for the deflated Sharpe ratio is every trial
that ran (complete, infeasible or failed); the best trial is the study's best by its own
objective. Computed once when the study finishes and kept (``Study.analysis``, the PBO logits
in ``analysis_logits``); computed on demand for other ``pbo_splits``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtests.analysis.returns import daily_returns
from backtests.results.codec import arrays_decode, arrays_encode
from backtests.studies.models import FINISHED_TRIAL_STATUSES, Study, Trial, TrialStatus
from backtests.studies.overfitting import (
    OverfittingInputError,
    deflated_sharpe_for_trials,
    overfitting_verdict,
    probability_of_backtest_overfitting,
)

NO_RETURNS = "no trial kept daily returns"
BEST_MISSING = "no trial has a defined objective, so there is no best trial to judge"
UNAVAILABLE = "Overfitting statistics unavailable: {reasons}."


@dataclass(frozen=True)
class ReturnsMatrix:
    days: np.ndarray  # UTC day numbers, ascending
    numbers: list[int]  # trial number of each column
    matrix: np.ndarray  # days x trials


def study_returns_matrix(study: Study) -> ReturnsMatrix:
    """Daily returns of every trial that kept its equity (columns in trial-number order)."""
    rows = (
        Trial.objects.filter(study=study, status__in=(TrialStatus.COMPLETE, TrialStatus.INFEASIBLE))
        .exclude(daily=None)
        .order_by("number")
        .values_list("number", "daily")
    )
    series: list[tuple[int, np.ndarray, np.ndarray]] = []
    for number, blob in rows.iterator(chunk_size=500):
        arrays, attrs = arrays_decode(blob)
        capital = float(attrs.get("capital") or 0.0)
        equity = arrays["equity"]
        returns = daily_returns(equity, capital) if capital > 0 else np.zeros(equity.size)
        series.append((number, arrays["day"].astype(np.int64), np.asarray(returns, dtype=float)))
    if not series:
        return ReturnsMatrix(np.empty(0, np.int64), [], np.empty((0, 0)))
    days = np.unique(np.concatenate([day for _, day, _ in series]))
    matrix = np.zeros((days.size, len(series)))
    for column, (_, day, returns) in enumerate(series):
        matrix[np.searchsorted(days, day), column] = returns
    return ReturnsMatrix(days, [number for number, _, _ in series], matrix)


def best_trial(study: Study) -> Trial | None:
    """The complete trial with the best objective (the lowest number on a tie)."""
    order = "value" if study.direction == "minimize" else "-value"
    return (
        Trial.objects.filter(study=study, status=TrialStatus.COMPLETE, value__isnull=False)
        .order_by(order, "number")
        .first()
    )


def study_overfitting(
    study: Study, *, n_splits: int | None = None
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The statistics of the study's best trial, as JSON, and the PBO's logits."""
    splits = n_splits or study.pbo_splits
    ran = Trial.objects.filter(study=study, status__in=FINISHED_TRIAL_STATUSES).count()
    data = study_returns_matrix(study)
    best = best_trial(study)
    result: dict[str, Any] = {
        "n_trials": ran,
        "n_with_returns": len(data.numbers),
        "n_days": int(data.days.size),
        "best_trial": best.number if best else None,
        "pbo_splits": splits,
        "dsr": None,
        "pbo": None,
        "unavailable": {},
        "verdict": "",
    }
    dsr = pbo = None
    logits = None
    if not data.numbers:
        result["unavailable"] = {"dsr": NO_RETURNS, "pbo": NO_RETURNS}
    else:
        if best is None or best.number not in data.numbers:
            result["unavailable"]["dsr"] = BEST_MISSING
        else:
            try:
                dsr = deflated_sharpe_for_trials(
                    data.matrix,
                    n_trials=max(ran, len(data.numbers)),
                    best=data.numbers.index(best.number),
                )
                result["dsr"] = dsr.as_dict()
            except OverfittingInputError as exc:
                result["unavailable"]["dsr"] = exc.message
        try:
            pbo = probability_of_backtest_overfitting(data.matrix, n_splits=splits)
            logits = pbo.logits
            result["pbo"] = {k: v for k, v in pbo.as_dict().items() if k != "logits"}
        except OverfittingInputError as exc:
            result["unavailable"]["pbo"] = exc.message
    sentences = []
    if dsr is not None or pbo is not None:
        sentences.append(overfitting_verdict(dsr=dsr, pbo=pbo))
    if result["unavailable"]:
        reasons = "; ".join(f"{key.upper()}: {why}" for key, why in result["unavailable"].items())
        sentences.append(UNAVAILABLE.format(reasons=reasons))
    result["verdict"] = " ".join(sentences)
    return result, logits


def study_analysis_store(*, study_id: str) -> Study:
    """Compute the finished study's statistics with its own ``pbo_splits`` and keep them."""
    study = Study.objects.get(study_id=study_id)
    result, logits = study_overfitting(study)
    blob = None if logits is None else arrays_encode({"logits": np.asarray(logits, float)})
    Study.objects.filter(study_id=study_id, ts_end=study.ts_end).update(
        analysis=result, analysis_logits=blob
    )
    study.analysis, study.analysis_logits = result, blob
    return study


def study_analysis_get(
    study: Study, *, n_splits: int | None = None
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The kept statistics (computed now if missing), or computed for other splits."""
    if n_splits is not None and n_splits != study.pbo_splits:
        return study_overfitting(study, n_splits=n_splits)
    if study.analysis is None and study.ts_end is not None:
        study = study_analysis_store(study_id=study.study_id)
    if study.analysis is None:
        return study_overfitting(study)
    logits = None
    if study.analysis_logits:
        logits = arrays_decode(study.analysis_logits)[0]["logits"]
    return study.analysis, logits


def parameter_importance(study: Study, names: list[str]) -> dict[str, float]:
    """Each searched parameter's importance for the objective (Optuna's PED-ANOVA over the
    complete trials; numpy only), summing to 1; empty when it cannot be told (too few
    trials, or the objective never varies)."""
    import warnings

    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    from backtests.studies.sampling import distribution_of
    from backtests.studies.services import study_space

    space = study_space(study)
    searched = [p for p in space.searched if p.name in names]
    rows = list(
        Trial.objects.filter(study=study, status=TrialStatus.COMPLETE, value__isnull=False)
        .order_by("number")
        .values_list("params", "value")
    )
    values = [value for _, value in rows if value is not None and math.isfinite(value)]
    if len(values) < 4 or max(values) == min(values) or not searched:
        return {}
    distributions = {p.name: distribution_of(p) for p in searched}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = optuna.create_study(direction=study.direction)
        for params, value in rows:
            target.add_trial(
                optuna.trial.create_trial(
                    params={n: params[n] for n in distributions},
                    distributions=distributions,
                    value=float(value),
                )
            )
        try:
            raw = get_param_importances(target, evaluator=PedAnovaImportanceEvaluator())
        except (ValueError, RuntimeError, ZeroDivisionError):
            return {}
    total = sum(v for v in raw.values() if math.isfinite(v))
    if total <= 0:
        return {}
    return {name: float(raw.get(name, 0.0)) / total for name in distributions}
