"""Run metrics: the one set of definitions behind every figure the pages, API, admin and
commands show.

Two kinds of figures, from two sources computed once per run:

- **The account** (``engine.accounting.AccountingResult``: cash, positions marked to market
  at every bar close, the equity at every timestamp and at the end of every trading day):
  ``net_pnl`` = equity at the last bar − capital = ``realised_pnl`` + ``open_pnl``, after every
  commission (``realised_pnl`` carries all commissions, also those of positions still open;
  ``open_pnl`` values the open positions at their last close against their average entry
  price); ``gross_pnl`` = net + commission; return statistics from daily returns (see
  ``returns.py``); ``max_drawdown`` (money) and ``max_drawdown_pct`` from the equity at every
  timestamp, and the longest time from a peak until the equity regained it; ``exposure_pct``
  = share of timestamps with a position open; ``turnover`` = traded notional ÷ average daily
  equity; ``max_leverage`` = the largest Σ|position × close| ÷ equity; the benchmark
  (buy-and-hold of the run's symbols in equal parts) with beta, correlation and excess return.
- **Closed round trips** (``roundtrips.py``): trades, wins and losses (after commission),
  win rate, average and largest win and loss, profit factor, expectancy, durations. A
  position still open at the end is not a round trip (``open_trades`` counts them).

Undefined values are None, never 0 (an average win without wins, a win rate without trades,
a profit factor without losses). Ratios from daily returns need ``MIN_DAYS_FOR_RATIOS``
returns; below that they are None and ``notes`` says why. Money is rounded to cents,
percentages and ratios to 4 decimals, seconds to milliseconds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from backtests.analysis import returns as r
from backtests.engine.accounting import NS_PER_DAY, AccountingResult

_NS_PER_SECOND = 1_000_000_000

NOTE_FEW_DAYS = "needs {needed}+ trading days; this run has {days}"
NOTE_NO_SPREAD = "undefined: the daily returns do not vary"
NOTE_NO_DRAWDOWN = "undefined: the equity never fell below a peak"
NOTE_LEVERAGE = "undefined: the equity fell to zero or below while positions were open"
WARNING_NO_BARS = "no bars in the chosen range: nothing was traded"
WARNING_WARMUP = (
    "the strategy needs {warmup} bars to warm up its indicators, but {symbols} had fewer "
    "({counts}): its signals there never formed"
)
WARNING_NO_TRADES = "no trades: the strategy never filled an order"
WARNING_EQUITY_NEGATIVE = (
    "the equity fell to {equity} (at or below zero): the run borrowed beyond its capital"
)


def money(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 2) + 0.0  # +0.0 turns -0.0 into 0.0


def ratio(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 4) + 0.0


def percent(value: float | None) -> float | None:
    return ratio(None if value is None else value * 100.0)


def trade_statistics(trades: pd.DataFrame) -> dict[str, Any]:
    """Statistics of closed round trips (unrounded frame from ``roundtrips.py``)."""
    closed = trades[trades["closed"]] if "closed" in trades else trades
    ordered = closed.sort_values(["exit_ts", "entry_ts", "symbol"], kind="stable")
    net = ordered["pnl_after_commission"].to_numpy(dtype=float)
    n = len(net)
    wins, losses = net[net > 0], net[net < 0]
    seconds = (ordered["exit_ts"] - ordered["entry_ts"]).to_numpy(dtype=float) / _NS_PER_SECOND
    return {
        "trades": n,
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": ratio(len(wins) / n) if n else None,
        "avg_win": money(wins.mean()) if len(wins) else None,
        "avg_loss": money(losses.mean()) if len(losses) else None,
        "largest_win": money(wins.max()) if len(wins) else None,
        "largest_loss": money(losses.min()) if len(losses) else None,
        "profit_factor": ratio(float(wins.sum()) / -float(losses.sum())) if len(losses) else None,
        "expectancy": money(net.mean()) if n else None,
        "avg_duration_bars": ratio(ordered["duration_bars"].mean()) if n else None,
        "avg_duration_seconds": round(float(seconds.mean()), 3) if n else None,
        "open_trades": int((~trades["closed"]).sum()) if "closed" in trades else 0,
    }


def _daily_statistics(
    account: AccountingResult, risk_free_rate: float, notes: dict[str, str]
) -> dict[str, Any]:
    rets = r.daily_returns(account.daily_equity, account.capital)
    bench = r.daily_returns(account.daily_benchmark, account.capital)
    days = int(rets.size)
    enough = days >= r.MIN_DAYS_FOR_RATIOS
    stats: dict[str, Any] = {
        "cagr_pct": None,
        "volatility_pct": None,
        "sharpe": None,
        "sortino": None,
        "calmar": None,
        "beta": None,
        "correlation": None,
    }
    if not enough:
        for key in stats:
            notes[key] = NOTE_FEW_DAYS.format(needed=r.MIN_DAYS_FOR_RATIOS, days=days)
        return stats
    cagr = r.cagr(rets)
    beta, correlation = r.beta_and_correlation(rets, bench)
    stats.update(
        cagr_pct=percent(cagr),
        volatility_pct=percent(r.annual_volatility(rets)),
        sharpe=ratio(r.sharpe_ratio(rets, risk_free_rate)),
        sortino=ratio(r.sortino_ratio(rets, risk_free_rate)),
        calmar=ratio(r.calmar_ratio(cagr, account.max_drawdown_pct)),
        beta=ratio(beta),
        correlation=ratio(correlation),
    )
    for key in ("volatility_pct", "sharpe", "sortino", "beta", "correlation"):
        if stats[key] is None:
            notes[key] = NOTE_NO_SPREAD
    if stats["calmar"] is None:
        notes["calmar"] = NOTE_NO_DRAWDOWN
    return stats


def _symbol_metrics(account: AccountingResult, trades: pd.DataFrame) -> dict[str, dict]:
    out: dict[str, dict] = {}
    by_symbol = dict(iter(trades.groupby("symbol", sort=True))) if len(trades) else {}
    for symbol, acc in account.per_symbol.items():
        if acc.fills == 0:
            continue
        group = by_symbol.get(symbol, trades.iloc[0:0])
        open_pnl = acc.open_pnl
        metrics = {
            "net_pnl": money(acc.pnl),
            "realised_pnl": money(acc.pnl - open_pnl),
            "open_pnl": money(open_pnl),
            "gross_pnl": money(acc.pnl + acc.commission),
            "commission": money(acc.commission),
            "max_drawdown": money(acc.max_drawdown),
            "exposure_pct": percent(acc.bars_in_position / acc.bars) if acc.bars else None,
            "bars": acc.bars,
            **trade_statistics(group),
        }
        out[symbol] = metrics
    return out


def run_warnings(
    account: AccountingResult, *, warmup_bars: int = 0, fills: int | None = None
) -> list[str]:
    """What a user should know before trusting the figures."""
    warnings = []
    if account.bars == 0:
        return [WARNING_NO_BARS]
    short = {
        symbol: acc.bars
        for symbol, acc in account.per_symbol.items()
        if warmup_bars and acc.bars < warmup_bars
    }
    if short:
        warnings.append(
            WARNING_WARMUP.format(
                warmup=f"{warmup_bars:,}",
                symbols=", ".join(short),
                counts=", ".join(f"{s}: {n:,}" for s, n in short.items()),
            )
        )
    if (fills if fills is not None else account.fills["ts"].size) == 0:
        warnings.append(WARNING_NO_TRADES)
    if account.min_equity <= 0:
        warnings.append(WARNING_EQUITY_NEGATIVE.format(equity=money(account.min_equity)))
    return warnings


def run_metrics(
    account: AccountingResult,
    trades: pd.DataFrame,
    *,
    risk_free_rate: float = 0.0,
    warmup_bars: int = 0,
) -> dict[str, Any]:
    """Every metric of a run (JSON-safe); ``per_symbol`` holds those of each traded symbol."""
    notes: dict[str, str] = {}
    capital = account.capital
    net = account.net_pnl
    open_pnl = account.open_pnl
    daily_equity = account.daily_equity
    average_equity = float(daily_equity.mean()) if daily_equity.size else capital
    metrics: dict[str, Any] = {
        "capital": money(capital),
        "final_equity": money(account.equity),
        "net_pnl": money(net),
        "realised_pnl": money(net - open_pnl),
        "open_pnl": money(open_pnl),
        "gross_pnl": money(net + account.commission),
        "commission": money(account.commission),
        "total_return_pct": percent(net / capital),
        **_daily_statistics(account, risk_free_rate, notes),
        "max_drawdown": money(account.max_drawdown),
        "max_drawdown_pct": percent(account.max_drawdown_pct),
        "max_drawdown_duration_days": ratio(account.max_drawdown_duration_ns / NS_PER_DAY),
        "exposure_pct": percent(account.timestamps_in_position / account.timestamps)
        if account.timestamps
        else None,
        "turnover": ratio(account.traded_notional / average_equity) if average_equity > 0 else None,
        "max_leverage": ratio(account.max_leverage),
        "benchmark_return_pct": percent(account.benchmark / capital - 1.0),
        "excess_return_pct": percent((account.equity - account.benchmark) / capital),
        "trading_days": int(account.days.size),
        "bars": account.bars,
        "risk_free_rate": risk_free_rate,
        **trade_statistics(trades),
    }
    if account.max_leverage is None:
        notes["max_leverage"] = NOTE_LEVERAGE
    metrics["per_symbol"] = _symbol_metrics(account, trades)
    metrics["notes"] = notes
    metrics["warnings"] = run_warnings(account, warmup_bars=warmup_bars)
    return metrics


SUMMARY_KEYS = (
    "capital",
    "net_pnl",
    "realised_pnl",
    "open_pnl",
    "total_return_pct",
    "sharpe",
    "max_drawdown",
    "max_drawdown_pct",
    "trades",
)


def metrics_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few figures lists show for a run (History, admin, command summaries)."""
    return {key: metrics.get(key) for key in SUMMARY_KEYS}


def daily_returns_of(account: AccountingResult) -> tuple[np.ndarray, np.ndarray]:
    """(UTC day numbers, daily returns) of the account, the first day against the capital."""
    return account.days, r.daily_returns(account.daily_equity, account.capital)
