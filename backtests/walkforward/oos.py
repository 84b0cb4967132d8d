"""Running a window's chosen point out of sample, with its indicators warmed up.

The run reads bars from the window's ``warmup_start`` (``in_sample_days`` trading days before
the out-of-sample start: for a rolling window, exactly the bars its study saw) to the
out-of-sample end. Before the out-of-sample start the engine walks every bar as usual (the
indicators compute, the bar history fills) but the strategy's ``on_bar`` is not called, so it
places no order and its account stays at the capital. From the first out-of-sample bar on,
``on_bar`` runs with indicators that already hold their values: the first out-of-sample bars
trade like any others. The daily series are then cut at the out-of-sample start; since
nothing traded before it, the equity there is the capital, as if the account were opened
that morning. State a strategy keeps itself in ``on_bar`` (not in indicators) starts at the
out-of-sample start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from backtests.engine.memory import NullRecorder
from backtests.feeds import date_start_ns
from backtests.services.backtest_spec import BacktestSpec
from backtests.services.evaluation import (
    orchestrator_build,
    report_build,
    strategy_build,
)
from backtests.walkforward.analysis import series_metrics
from backtests.walkforward.calendar import NS_PER_DAY

# Run metrics that describe trades (the daily figures are recomputed on the cut series).
TRADE_METRICS = (
    "trades",
    "wins",
    "losses",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_win",
    "avg_loss",
    "largest_win",
    "largest_loss",
    "commission",
    "open_pnl",
    "realised_pnl",
    "gross_pnl",
    "turnover",
    "open_trades",
)


@dataclass(frozen=True, eq=False)
class OutOfSample:
    """A window's out-of-sample outcome: its daily series from the capital, and metrics."""

    status: str  # "completed" | "cancelled"
    days: np.ndarray  # UTC day numbers of the out-of-sample trading days
    equity: np.ndarray
    benchmark: np.ndarray  # buy and hold rebased to the capital at the out-of-sample start
    capital: float
    metrics: dict[str, Any]
    first_fill_ns: int | None
    bars: int
    seconds: float


def _trading_from(on_bar: Callable[[Any], None], start_ns: int) -> Callable[[Any], None]:
    """``on_bar`` that does nothing for bars before ``start_ns``."""

    def gated(bar: Any) -> None:
        if bar[0] >= start_ns:
            on_bar(bar)

    return gated


def oos_evaluate(
    spec: BacktestSpec,
    *,
    warmup_start: date,
    oos_start: date,
    oos_end: date,
    should_cancel: Callable[[], bool] | None = None,
) -> OutOfSample:
    """Run ``spec`` (the chosen point) from ``warmup_start`` to ``oos_end``, trading from
    ``oos_start`` only; the daily series and metrics of the out-of-sample days."""
    spec = replace(spec, start_date=warmup_start, end_date=oos_end, record="trades")
    start_ns = date_start_ns(oos_start)
    strategy = strategy_build(spec)
    strategy.on_bar = _trading_from(strategy.on_bar, start_ns)  # type: ignore[method-assign]
    orchestrator = orchestrator_build(
        spec, strategy=strategy, recorder=NullRecorder(), should_cancel=should_cancel
    )
    started = time.perf_counter()
    outcome = orchestrator.run()
    account = outcome.account
    capital = float(account.capital)
    days = np.asarray(account.days, dtype=np.int64)
    keep = days >= start_ns // NS_PER_DAY
    equity = np.asarray(account.daily_equity, dtype=float)
    bench = np.asarray(account.daily_benchmark, dtype=float)
    before = bench[~keep]
    bench_base = float(before[-1]) if before.size else capital
    cut_bench = bench[keep] * (capital / bench_base) if bench_base else bench[keep]
    report = report_build(account, spec, strategy)
    metrics = series_metrics(equity[keep], cut_bench, capital, risk_free_rate=spec.risk_free_rate)
    metrics.update({k: report.metrics.get(k) for k in TRADE_METRICS})
    fill_ts = np.asarray(account.fills.get("ts", np.empty(0)), dtype=np.int64)
    return OutOfSample(
        status=outcome.status,
        days=days[keep],
        equity=equity[keep],
        benchmark=cut_bench,
        capital=capital,
        metrics=metrics,
        first_fill_ns=int(fill_ts.min()) if fill_ts.size else None,
        bars=outcome.bars,
        seconds=time.perf_counter() - started,
    )
