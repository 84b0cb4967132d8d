"""Long entries when the RSI climbs out of oversold, confirmed by a breakout, with a
trailing stop and a take-profit.

When RSI crosses up through ``entry_level`` and the strategy is flat, a buy STOP_LIMIT
rests at the bar's high (stop) with a limit ``slippage_pct`` above it; if it has not
triggered after ``entry_timeout`` bars it is cancelled. After the entry fills, a sell STOP
trails ``trail_pct`` percent below the highest close since entry (moved up with
modifications) and a sell LIMIT takes profit ``take_profit_pct`` above the entry price.
Whichever exit fills cancels the other.
"""

from __future__ import annotations

from backtests.engine.enums import ActionType, BarPeriod, OrderType, TradeSide
from backtests.engine.events import BarReceived, FillEvent
from backtests.engine.indicators import RSI
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class _State:
    __slots__ = ("entry", "entry_age", "stop", "stop_price", "target")

    def __init__(self) -> None:
        self.entry = self.stop = self.target = None
        self.entry_age = 0
        self.stop_price = 0.0


class RSITrailingStop(StrategyBase):
    name = "RSI Trailing Stop"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "rsi_period": ParamSpec(default=14, min=2, max=100, step=1),
        "entry_level": ParamSpec(default=30.0, min=1.0, max=99.0, step=1.0),
        "slippage_pct": ParamSpec(default=0.1, min=0.0, max=10.0, step=0.01),
        "entry_timeout": ParamSpec(default=5, min=1, max=100, step=1),
        "trail_pct": ParamSpec(default=0.5, min=0.01, max=20.0, step=0.01),
        "take_profit_pct": ParamSpec(default=1.0, min=0.01, max=50.0, step=0.01),
        "quantity": ParamSpec(default=1.0, min=0.1, max=100.0, step=0.1),
    }

    def setup(self) -> None:
        self.rsi = self.add_indicator(RSI(self.rsi_period))
        self._states: dict[str, _State] = {}

    def _state(self, symbol: str) -> _State:
        state = self._states.get(symbol)
        if state is None:
            state = self._states[symbol] = _State()
        return state

    def on_bar(self, bar: BarReceived) -> None:
        state = self._state(bar.symbol)
        if state.entry is not None:
            state.entry_age += 1
            if state.entry_age > self.entry_timeout:
                self.submit_cancellation(state.entry)
                state.entry = None
            return
        if state.stop is not None:
            trailed = bar.close * (1 - self.trail_pct / 100)
            if trailed > state.stop_price:
                state.stop_price = trailed
                self.submit_modification(state.stop, stop_price=trailed)
            return
        previous, latest = self.rsi[bar.symbol, -2], self.rsi.latest(bar.symbol)
        if self.position == 0 and previous < self.entry_level <= latest:
            state.entry = self.submit_order(
                OrderType.STOP_LIMIT,
                TradeSide.BUY,
                self.quantity,
                stop_price=bar.high,
                limit_price=bar.high * (1 + self.slippage_pct / 100),
                action=ActionType.ENTRY_LONG,
                signal="rsi_cross_up",
            )
            state.entry_age = 0

    def on_fill(self, fill: FillEvent) -> None:
        state = self._state(fill.symbol)
        order_id = fill.associated_order_id
        if order_id == state.entry:
            state.entry = None
            state.stop_price = fill.fill_price * (1 - self.trail_pct / 100)
            state.stop = self.submit_order(
                OrderType.STOP,
                TradeSide.SELL,
                fill.quantity_filled,
                stop_price=state.stop_price,
                action=ActionType.STOP_LOSS_LONG,
                signal="trailing_stop",
            )
            state.target = self.submit_order(
                OrderType.LIMIT,
                TradeSide.SELL,
                fill.quantity_filled,
                limit_price=fill.fill_price * (1 + self.take_profit_pct / 100),
                action=ActionType.TAKE_PROFIT_LONG,
                signal="take_profit",
            )
        elif order_id in (state.stop, state.target):
            other = state.target if order_id == state.stop else state.stop
            state.stop = state.target = None
            if other is not None and other in self.open_orders:
                self.submit_cancellation(other)
