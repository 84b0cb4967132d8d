"""A strategy driven by a script: {(second, symbol): [callable(strategy), ...]}."""

from __future__ import annotations

from collections.abc import Callable

from backtests.engine.enums import BarPeriod
from backtests.engine.strategies.base import ParamSpec, StrategyBase

SECOND = 1_000_000_000


class Scripted(StrategyBase, register=False):
    name = "Scripted"
    parameters = {"bar_period": ParamSpec(default=BarPeriod.SECOND)}

    def __init__(
        self, script: dict[tuple[int, str], list[Callable]], symbols=("AAA",), **kw
    ) -> None:
        self.script = script
        self.seen: list[tuple] = []  # (second, symbol, position, avg_price) at each on_bar
        self.fills: list = []
        self.rejections: list = []
        self.expired: list = []
        self.ids: list[str] = []
        super().__init__(symbols=list(symbols), **kw)

    def on_bar(self, bar) -> None:
        self.seen.append((bar.ts_event_ns // SECOND, bar.symbol, self.position, self.avg_price))
        for action in self.script.get((bar.ts_event_ns // SECOND, bar.symbol), []):
            result = action(self)
            if isinstance(result, str):
                self.ids.append(result)

    def on_fill(self, fill) -> None:
        self.fills.append(fill)

    def on_order_rejected(self, rejected) -> None:
        self.rejections.append(rejected)

    def on_order_expired(self, expired) -> None:
        self.expired.append(expired)
