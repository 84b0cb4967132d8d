"""A real run to export: two symbols of 240 minute bars ingested from DBN bytes, an
SMA-crossover run executed here (fills, orders, round trips, stored results)."""

from __future__ import annotations

import pytest

from backtests.models import Run, RunStatus
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from tests.backtests.market_data import P, ingest_bars, minute_bars, ns

BARS_PER_SYMBOL = 240
FIRST_BAR = "2024-01-02T14:30"
MAPPINGS = {"AAPL": [("2024-01-02", "2024-01-03", 10)], "MSFT": [("2024-01-02", "2024-01-03", 20)]}


@pytest.fixture
def publisher_id(tmp_path) -> int:
    bars = minute_bars(10, FIRST_BAR, BARS_PER_SYMBOL) + minute_bars(
        20, FIRST_BAR, BARS_PER_SYMBOL, base=60
    )
    return ingest_bars(tmp_path, bars=bars, mappings=MAPPINGS)


def execute(publisher_id: int, **overrides) -> Run:
    fields = {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL", "MSFT"],
        "rtype": 33,
        "publisher_id": publisher_id,
        "commission_per_unit": 0.01,
        "minimum_commission": 1.0,
        **overrides,
    }
    run = run_execute(run_id=run_create(spec=backtest_spec_build(**fields)).run_id)
    assert run.status == RunStatus.COMPLETED, run.metadata
    return run


@pytest.fixture
def executed_run(publisher_id) -> Run:
    return execute(publisher_id)


FIRST_BAR_NS = ns(FIRST_BAR)
LAST_BAR_NS = FIRST_BAR_NS + (BARS_PER_SYMBOL - 1) * 60 * 1_000_000_000
__all__ = ["BARS_PER_SYMBOL", "FIRST_BAR_NS", "LAST_BAR_NS", "P", "execute"]
