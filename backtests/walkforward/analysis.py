"""What a walk-forward tells (pure: arrays in, JSON-safe figures out).

- **Stitched out-of-sample equity**: the windows' out-of-sample parts one after another, the
  capital carried over: window k's daily equity, which starts from the capital, is scaled by
  the stitched equity at the end of window k-1 over the capital. The buy-and-hold benchmark is
  stitched the same way.
- **Out-of-sample metrics** over the stitched daily returns, with the definitions every run
  uses (``backtests.analysis.returns``).
- **Walk-forward efficiency** (Pardo): out-of-sample annualised return / in-sample annualised
  return, per window (the chosen trial's in-sample daily equity against its out-of-sample
  part) and overall (the stitched out-of-sample annualised return against the mean in-sample
  one). Annualised as (1 + total return) ** (252 / days) - 1. Undefined (None) when the
  in-sample annualised return is not above 0: a ratio to a loss says nothing.
- **Parameter stability**: the chosen value of each searched parameter, window by window.
- **Verdict**: the probabilistic Sharpe ratio of the stitched out-of-sample returns against 0
  and its minimum track-record length (``backtests.studies.overfitting``: the same formulas
  as every study's), the overall efficiency, and the in-sample studies' PBO on average. These
  say how likely the walk-forward's out-of-sample edge is real; none of them proves the
  strategy will keep it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtests.analysis import returns as r
from backtests.studies.overfitting import (
    DSR_LIKELY_GENUINE,
    OverfittingInputError,
    minimum_track_record_length,
    probabilistic_sharpe_ratio,
    return_moments,
)

WFE_GOOD = 0.5  # an efficiency of 50 % or more is the usual bar for a robust strategy
NO_WINDOWS = "no window finished out of sample, so there is nothing to stitch"
VERDICT_PSR = (
    "Out of sample, the stitched walk-forward over {days:,} trading days has a probabilistic "
    "Sharpe of {psr:.2f} against 0: {words}."
)
VERDICT_PSR_UNDEFINED = (
    "Out of sample, the stitched returns over {days:,} trading days have no Sharpe ratio "
    "(no spread of returns), so their significance cannot be told."
)
VERDICT_WFE = (
    "Walk-forward efficiency {wfe:.2f} (out-of-sample annualised return {oos:+.2%} against "
    "{is_:+.2%} in sample): {words}."
)
VERDICT_WFE_UNDEFINED = (
    "Walk-forward efficiency is undefined: the in-sample annualised return ({is_:+.2%} on "
    "average) is not above 0."
)
VERDICT_PBO = (
    "The in-sample studies' probability of backtest overfitting is {pbo:.2f} on average "
    "over {n} window(s)."
)


@dataclass(frozen=True)
class WindowResult:
    """One finished window: its out-of-sample daily series (from ``capital``), the chosen
    point, and the in-sample annualised return of the chosen trial."""

    index: int
    days: np.ndarray  # UTC day numbers
    equity: np.ndarray
    benchmark: np.ndarray  # buy and hold, rebased to ``capital`` at the out-of-sample start
    capital: float
    params: dict[str, Any]
    is_annual_return: float | None
    pbo: float | None = None


def annualised_return(rets: np.ndarray) -> float | None:
    """(1 + total return) ** (252 / days) - 1; None without returns."""
    return r.cagr(np.asarray(rets, dtype=float)) if len(rets) else None


def efficiency(oos_annual: float | None, is_annual: float | None) -> float | None:
    """Out-of-sample over in-sample annualised return; None unless in-sample is above 0."""
    if oos_annual is None or is_annual is None or not is_annual > 0:
        return None
    return oos_annual / is_annual


def series_metrics(
    equity: np.ndarray, benchmark: np.ndarray, capital: float, *, risk_free_rate: float = 0.0
) -> dict[str, Any]:
    """Return figures of a daily equity series that starts from ``capital``."""
    rets = r.daily_returns(equity, capital)
    bench = r.daily_returns(benchmark, capital)
    days = int(rets.size)
    enough = days >= r.MIN_DAYS_FOR_RATIOS
    annual = annualised_return(rets)
    drawdown = r.max_drawdown_fraction(equity, capital)
    beta, correlation = r.beta_and_correlation(rets, bench) if enough else (None, None)
    final = float(equity[-1]) if days else capital

    def pct(value: float | None) -> float | None:
        return None if value is None else round(100.0 * value, 4)

    def num(value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else round(value, 4)

    return {
        "trading_days": days,
        "final_equity": round(final, 2),
        "net_pnl": round(final - capital, 2),
        "total_return_pct": pct(final / capital - 1.0),
        "annualised_return_pct": pct(annual),
        "volatility_pct": pct(r.annual_volatility(rets)) if enough else None,
        "sharpe": num(r.sharpe_ratio(rets, risk_free_rate)) if enough else None,
        "sortino": num(r.sortino_ratio(rets, risk_free_rate)) if enough else None,
        "max_drawdown_pct": pct(drawdown),
        "calmar": num(r.calmar_ratio(annual, drawdown)) if enough else None,
        "beta": num(beta),
        "correlation": num(correlation),
        "benchmark_return_pct": pct(float(benchmark[-1]) / capital - 1.0) if days else None,
    }


def stitch(
    windows: list[WindowResult], capital: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(days, equity, benchmark) of the windows' out-of-sample parts in order, the capital
    carried over from each window to the next."""
    days: list[np.ndarray] = []
    equity: list[np.ndarray] = []
    bench: list[np.ndarray] = []
    level, bench_level = capital, capital
    for window in sorted(windows, key=lambda w: w.index):
        if not window.days.size:
            continue
        scale, bench_scale = level / window.capital, bench_level / window.capital
        days.append(window.days)
        equity.append(window.equity * scale)
        bench.append(window.benchmark * bench_scale)
        level, bench_level = float(equity[-1][-1]), float(bench[-1][-1])
    if not days:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    return np.concatenate(days), np.concatenate(equity), np.concatenate(bench)


def parameter_stability(windows: list[WindowResult]) -> dict[str, list[Any]]:
    """Each parameter's chosen value per window (window order)."""
    ordered = sorted(windows, key=lambda w: w.index)
    names: list[str] = []
    for window in ordered:
        names.extend(name for name in window.params if name not in names)
    return {name: [w.params.get(name) for w in ordered] for name in names}


def _psr_sentence(rets: np.ndarray) -> tuple[str, dict[str, Any] | None]:
    try:
        moments = return_moments(rets)
    except OverfittingInputError:
        moments = None
    if moments is None:
        return VERDICT_PSR_UNDEFINED.format(days=int(rets.size)), None
    psr = probabilistic_sharpe_ratio(
        sharpe=moments.sharpe,
        benchmark=0.0,
        n_obs=moments.n_obs,
        skewness=moments.skewness,
        kurtosis=moments.kurtosis,
    )
    trl = minimum_track_record_length(
        sharpe=moments.sharpe, benchmark=0.0, skewness=moments.skewness, kurtosis=moments.kurtosis
    )
    if psr >= DSR_LIKELY_GENUINE:
        words = f"likely genuine ({DSR_LIKELY_GENUINE} or more)"
    elif trl is None:
        words = "not distinguishable from luck (its Sharpe ratio is not above 0)"
    else:
        words = (
            f"not distinguishable from luck (it would need about {math.ceil(trl):,} "
            f"trading days to reach {DSR_LIKELY_GENUINE}, it has {moments.n_obs:,})"
        )
    figures = {
        "sharpe_per_day": moments.sharpe,
        "n_obs": moments.n_obs,
        "skewness": moments.skewness,
        "kurtosis": moments.kurtosis,
        "psr": psr,
        "min_track_record_length": trl,
    }
    return VERDICT_PSR.format(days=moments.n_obs, psr=psr, words=words), figures


def walkforward_summary(
    windows: list[WindowResult], capital: float, *, risk_free_rate: float = 0.0
) -> dict[str, Any]:
    """Stitched equity, metrics, efficiency, parameter stability and the verdict (JSON)."""
    if not windows:
        return {"verdict": NO_WINDOWS, "windows": [], "stitched": None}
    days, equity, bench = stitch(windows, capital)
    rows = []
    is_annuals = []
    for window in sorted(windows, key=lambda w: w.index):
        oos_annual = annualised_return(r.daily_returns(window.equity, window.capital))
        rows.append(
            {
                "index": window.index,
                "is_annual_return": window.is_annual_return,
                "oos_annual_return": oos_annual,
                "efficiency": efficiency(oos_annual, window.is_annual_return),
            }
        )
        if window.is_annual_return is not None:
            is_annuals.append(window.is_annual_return)
    rets = r.daily_returns(equity, capital)
    oos_annual = annualised_return(rets)
    is_mean = float(np.mean(is_annuals)) if is_annuals else None
    overall = efficiency(oos_annual, is_mean)
    sentences = []
    psr_sentence, psr = _psr_sentence(rets)
    sentences.append(psr_sentence)
    if overall is not None and oos_annual is not None and is_mean is not None:
        words = (
            "out of sample kept at least half of the in-sample return"
            if overall >= WFE_GOOD
            else "out of sample kept less than half of the in-sample return"
        )
        sentences.append(VERDICT_WFE.format(wfe=overall, oos=oos_annual, is_=is_mean, words=words))
    elif is_mean is not None:
        sentences.append(VERDICT_WFE_UNDEFINED.format(is_=is_mean))
    pbos = [w.pbo for w in windows if w.pbo is not None]
    if pbos:
        sentences.append(VERDICT_PBO.format(pbo=float(np.mean(pbos)), n=len(pbos)))
    return {
        "stitched": {
            "days": [int(d) for d in days],
            "equity": [round(float(v), 4) for v in equity],
            "benchmark": [round(float(v), 4) for v in bench],
        },
        "metrics": series_metrics(equity, bench, capital, risk_free_rate=risk_free_rate),
        "efficiency": overall,
        "is_annual_return_mean": is_mean,
        "oos_annual_return": oos_annual,
        "windows": rows,
        "parameters": parameter_stability(windows),
        "psr": psr,
        "mean_pbo": float(np.mean(pbos)) if pbos else None,
        "verdict": " ".join(sentences),
    }
