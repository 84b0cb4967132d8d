"""Helpers for tests that drive real ``manage.py qcluster`` workers: strategies, runs, rows.

The strategy files below are written into a temporary strategies folder (see the
``strategies_dir`` fixture in ``conftest.py``) that both the test process and the workers load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtests.models import EVENT_MODELS, Run
from tests.backtests.subprocesses import child_pids

REDIS_BASE_URL = "redis://127.0.0.1:6379/11"

SLOW_STRATEGY = '''
import time

from backtests.engine.enums import BarPeriod
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class SlowTestStrategy(StrategyBase):
    """Does nothing but take its time on every bar."""

    name = "Slow test strategy"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "sleep_ms": ParamSpec(default=0.15, min=0.0, max=2000.0),
    }

    def on_bar(self, bar):
        time.sleep(self.sleep_ms / 1000)
'''

SLOW_TRADER = '''
import time

from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class SlowTrader(StrategyBase):
    """Buys 1 at market on bars 0, 10, 20, ... when flat, sells it on bars 5, 15, 25, ...
    when long; sleeps ``sleep_ms`` on every bar."""

    name = "Slow trader"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "sleep_ms": ParamSpec(default=1.0, min=0.0, max=100.0),
    }

    def setup(self):
        self.seen = 0

    def on_bar(self, bar):
        index, self.seen = self.seen, self.seen + 1
        if index % 10 == 0 and self.position == 0:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, 1.0, signal="buy")
        elif index % 10 == 5 and self.position > 0:
            self.submit_order(OrderType.MARKET, TradeSide.SELL, self.position, signal="sell")
        time.sleep(self.sleep_ms / 1000)
'''

STRATEGY_FILES = {"slow_test_strategy.py": SLOW_STRATEGY, "slow_trader.py": SLOW_TRADER}


def write_strategies(folder: Path) -> Path:
    for name, text in STRATEGY_FILES.items():
        (folder / name).write_text(text)
    return folder


def submit(api_client, **body: Any) -> str:
    """``POST /api/backtest/run``; the new run's id."""
    response = api_client.post("/api/backtest/run", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["run_id"]


def run_state(run_id: str) -> Run:
    return Run.objects.get(run_id=run_id)


def event_rows(run_id: str) -> dict[str, list[tuple]]:
    """Every event row of a run, per table, without its row id and run id, in write order."""
    rows = {}
    for model in EVENT_MODELS:
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id",)]
        fields.remove("run_id")
        rows[model.__name__] = list(
            model.objects.filter(run_id=run_id).order_by("id").values_list(*fields)
        )
    return rows


def row_counts(run_id: str) -> dict[str, int]:
    return {model.__name__: model.objects.filter(run_id=run_id).count() for model in EVENT_MODELS}


def descendants(pid: int) -> set[int]:
    """All processes below ``pid`` (a qcluster's sentinel, workers, monitor, pusher)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in child_pids(pending.pop()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def worker_pid(run: Run) -> int:
    """The process id in ``run.worker`` ("host:pid")."""
    return int(run.worker.rpartition(":")[2])


TRADER_BARS = 10_000  # ten feed batches of 1,000 bars: progress and cancels between them
# Worked out by hand from SlowTrader's rule on TRADER_BARS one-minute bars of one symbol: buys
# on bars 0, 10, ..., 9990 (1,000 orders), each filled at the next bar's open, so the strategy
# is long by bar 5 + 10k and sells on bars 5, 15, ..., 9995 (1,000 orders), filled on bars
# 6 ... 9996. Every order is accepted and filled; nothing is modified, cancelled, rejected or
# expires. A full recording stores each bar twice (bars, bars_processed).
TRADER_ROW_COUNTS = {
    "RecordedBar": 10_000,
    "ProcessedBar": 10_000,
    "OrderSubmission": 2_000,
    "OrderModification": 0,
    "OrderCancellation": 0,
    "OrderAccepted": 2_000,
    "OrderRejected": 0,
    "CancellationAccepted": 0,
    "CancellationRejected": 0,
    "ModificationAccepted": 0,
    "ModificationRejected": 0,
    "Fill": 2_000,
    "Expiration": 0,
}
