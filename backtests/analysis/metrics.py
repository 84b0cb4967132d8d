"""Run metrics over closed round trips: P&L, hit rate, payoff, drawdown, Sharpe, durations.

Definitions:

- Only closed round trips count (see roundtrips.py); ``open_trades`` says how many positions
  were still open at the end of the run (0 or 1 per symbol). ``commission`` is that of the
  closed round trips, so ``net_pnl == gross_pnl - commission``.
- A win is a trade with ``pnl_after_commission > 0``, a loss one with ``< 0``; break-even
  trades count in ``trades`` only. ``avg_loss`` is negative.
- ``profit_factor`` = sum of wins / |sum of losses|; null when there is no loss (infinite or
  undefined). ``expectancy`` = net P&L per trade.
- ``max_drawdown`` is the largest fall of the cumulative net P&L of trades ordered by exit
  time (then entry time, symbol) from its running peak, starting from 0; >= 0.
- ``sharpe`` is mean / sample std (ddof 1) of daily net P&L, times sqrt(252). Days are the UTC
  exit dates of trades; days without a closed trade are not in the sample (the run knows no
  calendar). Null with fewer than 2 days or a zero std.
- Money is rounded to cents, ratios to 4 decimals, seconds to milliseconds. No NaN or inf
  reaches the JSON: undefined values are null.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from backtests.analysis.loading import analysis_frames_for_run
from backtests.analysis.roundtrips import trades_from_frames

TRADING_DAYS_PER_YEAR = 252
_NS_PER_SECOND = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_SECOND
_MIN_STD = 1e-12  # a daily P&L spread below this is float noise around a constant


def _money(value: float) -> float:
    return round(float(value), 2) + 0.0  # +0.0 turns -0.0 into 0.0


def _ratio(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 4) + 0.0


def max_drawdown_of(pnl: np.ndarray) -> float:
    """Largest fall of the cumulative sum of ``pnl`` from its running peak (which starts at 0)."""
    if len(pnl) == 0:
        return 0.0
    equity = np.cumsum(pnl)
    peak = np.maximum.accumulate(np.maximum(equity, 0.0))
    return float(max(np.max(peak - equity), 0.0))


def sharpe_of_daily(pnl: np.ndarray, exit_ts: np.ndarray) -> float | None:
    """Annualised Sharpe ratio of P&L summed per UTC exit date; None if undefined."""
    if len(pnl) == 0:
        return None
    daily = pd.Series(pnl).groupby(np.asarray(exit_ts, dtype=np.int64) // _NS_PER_DAY).sum()
    if len(daily) < 2:
        return None
    std = float(daily.std(ddof=1))
    if not std > _MIN_STD:
        return None
    return float(daily.mean()) / std * math.sqrt(TRADING_DAYS_PER_YEAR)


def core_metrics(trades: pd.DataFrame) -> dict[str, Any]:
    """The metrics of a set of closed round trips (unrounded frame from roundtrips.py)."""
    ordered = trades.sort_values(["exit_ts", "entry_ts", "symbol"], kind="stable")
    net = ordered["pnl_after_commission"].to_numpy(dtype=float)
    gross = ordered["pnl_before_commission"].to_numpy(dtype=float)
    n = len(net)
    wins, losses = net[net > 0], net[net < 0]
    win_sum, loss_sum = float(wins.sum()), float(losses.sum())
    seconds = (ordered["exit_ts"] - ordered["entry_ts"]).to_numpy(dtype=float) / _NS_PER_SECOND
    return {
        "trades": n,
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": _ratio(len(wins) / n) if n else 0.0,
        "net_pnl": _money(net.sum()),
        "gross_pnl": _money(gross.sum()),
        "commission": _money(ordered["commission"].to_numpy(dtype=float).sum()),
        "avg_win": _money(wins.mean()) if len(wins) else 0.0,
        "avg_loss": _money(losses.mean()) if len(losses) else 0.0,
        "largest_win": _money(wins.max()) if len(wins) else 0.0,
        "largest_loss": _money(losses.min()) if len(losses) else 0.0,
        "profit_factor": _ratio(win_sum / -loss_sum) if len(losses) else None,
        "expectancy": _money(net.mean()) if n else 0.0,
        "max_drawdown": _money(max_drawdown_of(net)),
        "sharpe": _ratio(sharpe_of_daily(net, ordered["exit_ts"].to_numpy())),
        "avg_duration_bars": _ratio(ordered["duration_bars"].mean()) if n else 0.0,
        "avg_duration_seconds": round(float(seconds.mean()), 3) if n else 0.0,
    }


def metrics_from_trades(trades: pd.DataFrame) -> dict[str, Any]:
    """Run metrics from ``trades_from_frames`` output (closed and open trades)."""
    closed = trades[trades["closed"]]
    metrics = core_metrics(closed)
    metrics["open_trades"] = int((~trades["closed"]).sum())
    metrics["per_symbol"] = {
        str(symbol): core_metrics(group) for symbol, group in closed.groupby("symbol", sort=True)
    }
    return metrics


def metrics_for_run(run_id: str, *, symbol: str | None = None) -> dict[str, Any]:
    """JSON-safe metrics of the run (of one symbol if given); NotFound for an unknown run id.

    Same constant number of queries as ``roundtrips_for_run``.
    """
    fills, bars = analysis_frames_for_run(run_id=run_id, symbol=symbol)
    return metrics_from_trades(trades_from_frames(fills, bars))
