"""Run, fill and bar rows written straight through the ORM, for API and admin tests.

One hand-checked trade: AAPL bought 10 @ 100 at minute 1 and sold 10 @ 105 at minute 3,
commission 1.0 per fill, so the round trip earns 50.0 before and 48.0 after commissions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from backtests.models import (
    ACTIVE_STATUSES,
    EXECUTING_STATUSES,
    Fill,
    RecordedBar,
    Run,
    RunStatus,
)

BASE_NS = 1_704_186_000_000_000_000  # 2024-01-02 09:00:00 UTC
MINUTE_NS = 60_000_000_000
SEED_ROUNDTRIP_KEYS = {
    "symbol",
    "direction",
    "duration_bars",
    "max_position",
    "high_watermark",
    "low_watermark",
    "max_drawdown",
    "pnl_before_commission",
    "pnl_after_commission",
    "entry_ts",
    "exit_ts",
}


def t(minute: int) -> int:
    return BASE_NS + minute * MINUTE_NS


def run_config(
    symbols: Sequence[str] = ("AAPL", "MSFT"), strategy: str = "SMACrossover"
) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "strategy_params": {"bar_period": "MINUTE", "fast_period": 5, "slow_period": 10},
        "symbols": list(symbols),
        "rtype": 33,
        "bar_period": "MINUTE",
        "publisher_id": 1,
        "publisher": "databento",
        "dataset": "XNAS.ITCH",
        "start_date": "2024-01-02",
        "end_date": "2024-01-03",
        "record": "full",
        "commission_per_unit": 0.0,
        "minimum_commission": 0.0,
    }


def run_row(
    run_id: str,
    *,
    ts_start: int = BASE_NS,
    status: str = RunStatus.COMPLETED,
    symbols: Sequence[str] = ("AAPL", "MSFT"),
    strategy: str = "SMACrossover",
    progress: float = 0.0,
    metadata: dict[str, Any] | None = None,
    heartbeat_ns: int | None = None,
    worker: str = "",
    owner: Any = None,
) -> Run:
    if heartbeat_ns is None and status in EXECUTING_STATUSES:
        heartbeat_ns = time.time_ns()  # a live worker's heartbeat, so no stale-run check fails it
    return Run.objects.create(
        run_id=run_id,
        name=f"run {run_id}",
        ts_start=ts_start,
        ts_end=None if status in ACTIVE_STATUSES else ts_start + 1,
        status=status,
        config=run_config(symbols, strategy),
        metadata=metadata if metadata is not None else {},
        progress=progress,
        heartbeat_ns=heartbeat_ns,
        worker=worker,
        owner=owner,
    )


def fill_row(
    run: Run, *, minute: int, symbol: str, side: str, quantity: float, price: float
) -> Fill:
    index = Fill.objects.filter(run=run).count() + 1
    return Fill.objects.create(
        run=run,
        ts_event_ns=t(minute),
        ts_created_ns=t(minute),
        ts_broker_ns=t(minute),
        associated_order_id=f"O{index:06d}",
        broker_order_id=f"B{index:06d}",
        symbol=symbol,
        fill_id=f"F{index:06d}",
        broker_fill_id=None,
        side=side,
        quantity_filled=quantity,
        fill_price=price,
        commission=1.0,
        exchange="SIMULATED",
    )


def bar_rows(run: Run, symbol: str, closes: Sequence[float]) -> None:
    RecordedBar.objects.bulk_create(
        RecordedBar(
            run=run,
            ts_event_ns=t(minute),
            ts_created_ns=t(minute),
            symbol=symbol,
            bar_period="MINUTE",
            open=close,
            high=close + 0.5,
            low=close - 0.5,
            close=close,
            volume=100,
        )
        for minute, close in enumerate(closes)
    )


def run_with_one_trade(run_id: str = "trade1", **kwargs: Any) -> Run:
    """A completed run with the module docstring's AAPL trade (MSFT never traded)."""
    run = run_row(run_id, **kwargs)
    bar_rows(run, "AAPL", [99.0, 100.0, 102.0, 105.0, 104.0])
    bar_rows(run, "MSFT", [300.0, 301.0, 302.0, 303.0, 304.0])
    fill_row(run, minute=1, symbol="AAPL", side="BUY", quantity=10, price=100.0)
    fill_row(run, minute=3, symbol="AAPL", side="SELL", quantity=10, price=105.0)
    return run
