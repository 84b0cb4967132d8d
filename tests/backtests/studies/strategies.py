"""A user strategy file for study tests: trades on a fixed rhythm, fails on demand, and can
be slowed down (for tests that cancel or kill mid-study)."""

from __future__ import annotations

from pathlib import Path

FRAGILE = '''
import os
import time

from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class Fragile(StrategyBase):
    """Buys 1 when flat and sells it when long, every ``period`` bars; raises on its first
    bar when ``period`` is above ``fail_above``; sleeps ``sleep_ms`` on every bar. With
    OST_TEST_TRIAL_LOG set, appends its period to that file whenever it is built (once per
    trial executed), so a test can count executions."""

    name = "Fragile"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "period": ParamSpec(default=5, min=1, max=1000),
        "fail_above": ParamSpec(default=1000, min=0, max=1000),
        "sleep_ms": ParamSpec(default=0.0, min=0.0, max=100.0),
    }

    def setup(self):
        self.seen = 0
        log = os.environ.get("OST_TEST_TRIAL_LOG")
        if log:
            with open(log, "a") as out:
                out.write(f"{self.period}\\n")

    def on_bar(self, bar):
        if self.period > self.fail_above:
            raise ValueError(f"period {self.period} is above {self.fail_above}")
        if self.seen % self.period == 0:
            side = TradeSide.BUY if self.position == 0 else TradeSide.SELL
            self.submit_order(OrderType.MARKET, side, 1.0, signal="rhythm")
        self.seen += 1
        if self.sleep_ms:
            time.sleep(self.sleep_ms / 1000)
'''


def write_study_strategies(folder: Path) -> Path:
    (folder / "fragile.py").write_text(FRAGILE)
    return folder
