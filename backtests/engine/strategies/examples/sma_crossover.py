"""The original engine's example: trade crossovers of a fast and a slow SMA of the close."""

from __future__ import annotations

from backtests.engine.enums import ActionType, BarPeriod, OrderType, TradeSide
from backtests.engine.events import BarReceived
from backtests.engine.indicators import SimpleMovingAverage
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class SMACrossover(StrategyBase):
    """Buy when the fast SMA crosses above the slow one (unless long), sell when it crosses
    below (unless short); market orders, so fills happen at the next bar's open."""

    name = "SMA Crossover"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.SECOND),
        "fast_period": ParamSpec(default=20, min=5, max=100, step=1),
        "slow_period": ParamSpec(default=100, min=10, max=500, step=1),
        "quantity": ParamSpec(default=1.0, min=0.1, max=100.0, step=0.1),
    }
    constraints = ("fast_period < slow_period",)

    def setup(self) -> None:
        self.fast_sma = self.add_indicator(SimpleMovingAverage(self.fast_period))
        self.slow_sma = self.add_indicator(SimpleMovingAverage(self.slow_period))

    def on_bar(self, bar: BarReceived) -> None:
        symbol = bar.symbol
        fast_prev, slow_prev = self.fast_sma[symbol, -2], self.slow_sma[symbol, -2]
        fast, slow = self.fast_sma.latest(symbol), self.slow_sma.latest(symbol)
        if fast_prev <= slow_prev and fast > slow and self.position <= 0:
            self.submit_order(
                OrderType.MARKET,
                TradeSide.BUY,
                self.quantity,
                action=ActionType.ENTRY_LONG,
                signal="sma_crossover_up",
            )
        if fast_prev >= slow_prev and fast < slow and self.position >= 0:
            self.submit_order(
                OrderType.MARKET,
                TradeSide.SELL,
                self.quantity,
                action=ActionType.EXIT_LONG,
                signal="sma_crossover_down",
            )
