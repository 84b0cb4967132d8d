"""Running a backtest spec: the engine wired for a spec, with or without a run row.

``orchestrator_build`` is the one place that turns a validated ``BacktestSpec`` into an
engine (strategy, datafeed, broker, account); ``run_execute`` uses it for runs, which record
their events, and ``spec_evaluate`` for work that needs only the outcome and its report, in
this process, writing nothing (parameter-study trials, sensitivity grids).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backtests.analysis.report import RunReport, report_from_account
from backtests.engine.memory import NullRecorder
from backtests.engine.orchestrator import Orchestrator
from backtests.engine.protocols import Datafeed, Recorder
from backtests.engine.registry import get_strategy
from backtests.engine.strategies.base import StrategyBase
from backtests.feeds import SecmasterDatafeed
from backtests.services.backtest_spec import BacktestSpec
from backtests.services.fill_spec import broker_build


def strategy_build(spec: BacktestSpec) -> StrategyBase:
    """The spec's strategy, with its resolved parameters."""
    strategy_cls = get_strategy(spec.strategy_id)
    return strategy_cls(symbols=spec.symbols, params=spec.to_config()["strategy_params"])


def datafeed_build(spec: BacktestSpec) -> SecmasterDatafeed:
    """The security master's bars the spec asks for."""
    return SecmasterDatafeed(
        symbols=spec.symbols,
        bar_period=spec.bar_period,
        publisher_id=spec.publisher_id,
        start_date=spec.start_date,
        end_date=spec.end_date,
    )


def orchestrator_build(
    spec: BacktestSpec,
    *,
    strategy: StrategyBase,
    recorder: Recorder | None = None,
    datafeed: Datafeed | None = None,
    on_progress: Callable[[float], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Orchestrator:
    """The engine for ``spec``: its datafeed (unless given), broker, costs and capital."""
    datafeed = datafeed if datafeed is not None else datafeed_build(spec)
    return Orchestrator(
        strategy=strategy,
        datafeed=datafeed,
        broker=broker_build(  # fill model and costs; the datafeed gives finer bars
            commission_per_unit=spec.commission_per_unit,
            minimum_commission=spec.minimum_commission,
            fills=spec.fills,
            datafeed=datafeed,
        ),
        recorder=recorder,
        on_progress=on_progress,
        should_cancel=should_cancel,
        fill_timing=spec.fill_timing,
        capital=spec.capital,
    )


def strategy_warmup_bars(strategy: Any) -> int:
    """Bars the strategy's longest indicator needs before its first value."""
    return max((indicator.warmup_bars for indicator in strategy.indicators), default=0)


def report_build(account: Any, spec: BacktestSpec, strategy: Any) -> RunReport:
    """The report (round trips, metrics) of an account the spec's strategy produced."""
    return report_from_account(
        account, risk_free_rate=spec.risk_free_rate, warmup_bars=strategy_warmup_bars(strategy)
    )


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What a spec did: how its run ended, its counts, its report and the engine's time."""

    status: str  # "completed" | "cancelled"
    bars: int
    orders: int
    fills: int
    report: RunReport
    engine_seconds: float

    @property
    def metrics(self) -> dict[str, Any]:
        return self.report.metrics


def spec_evaluate(
    spec: BacktestSpec,
    *,
    datafeed: Datafeed | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Evaluation:
    """Run ``spec`` here and now without recording anything; exceptions of the strategy
    propagate (the caller decides what a failure means)."""
    strategy = strategy_build(spec)
    orchestrator = orchestrator_build(
        spec,
        strategy=strategy,
        recorder=NullRecorder(),
        datafeed=datafeed,
        should_cancel=should_cancel,
    )
    started = time.perf_counter()
    outcome = orchestrator.run()
    elapsed = time.perf_counter() - started
    return Evaluation(
        status=outcome.status,
        bars=outcome.bars,
        orders=outcome.orders,
        fills=outcome.fills,
        report=report_build(outcome.account, spec, strategy),
        engine_seconds=elapsed,
    )
