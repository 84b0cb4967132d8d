"""Mean reversion at the Bollinger bands with resting limit orders.

Flat and the bands wide enough: a buy limit rests at the lower band and a sell limit at
the upper band, both re-priced every bar (modifications). When the bands get too narrow
the stale entries are cancelled. When an entry fills, the other entry is cancelled and two
exits go out: a stop-loss (STOP) ``stop_pct`` percent beyond the entry price and a
take-profit (LIMIT) at the middle band, re-priced every bar. Whichever exit fills cancels
the other (one-cancels-other by hand).

Entries trade ``quantity`` units, or, with ``equity_pct`` above 0, that percent of the
account's equity at the last close (``quantity_for``), in whole units.
"""

from __future__ import annotations

import math

from backtests.engine.enums import ActionType, BarPeriod, OrderType, TradeSide
from backtests.engine.events import BarReceived, FillEvent
from backtests.engine.indicators import (
    BollingerBandwidth,
    BollingerLower,
    BollingerUpper,
    SimpleMovingAverage,
)
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class _Orders:
    __slots__ = ("buy_entry", "sell_entry", "stop_exit", "profit_exit")

    def __init__(self) -> None:
        self.buy_entry = self.sell_entry = self.stop_exit = self.profit_exit = None


class BollingerReversion(StrategyBase):
    name = "Bollinger Reversion"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "period": ParamSpec(default=20, min=5, max=200, step=1),
        "num_std": ParamSpec(default=2.0, min=0.5, max=5.0, step=0.1),
        "min_bandwidth": ParamSpec(default=0.0, min=0.0, max=100.0, step=0.01),
        "stop_pct": ParamSpec(default=1.0, min=0.01, max=50.0, step=0.01),
        "quantity": ParamSpec(default=1.0, min=0.1, max=100.0, step=0.1),
        "equity_pct": ParamSpec(default=0.0, min=0.0, max=100.0, step=0.5),
    }

    def setup(self) -> None:
        self.upper = self.add_indicator(BollingerUpper(self.period, self.num_std))
        self.middle = self.add_indicator(SimpleMovingAverage(self.period))
        self.lower = self.add_indicator(BollingerLower(self.period, self.num_std))
        self.width = self.add_indicator(BollingerBandwidth(self.period, self.num_std))
        self._orders: dict[str, _Orders] = {}

    def _state(self, symbol: str) -> _Orders:
        state = self._orders.get(symbol)
        if state is None:
            state = self._orders[symbol] = _Orders()
        return state

    def on_bar(self, bar: BarReceived) -> None:
        symbol = bar.symbol
        state = self._state(symbol)
        upper, lower = self.upper.latest(symbol), self.lower.latest(symbol)
        middle, width = self.middle.latest(symbol), self.width.latest(symbol)
        if self.position == 0:
            signal = not math.isnan(width) and width >= self.min_bandwidth
            if not signal:
                self._cancel_entries(state)
            else:
                state.buy_entry = self._place_or_reprice(
                    state.buy_entry, TradeSide.BUY, lower, ActionType.ENTRY_LONG, "lower_band"
                )
                state.sell_entry = self._place_or_reprice(
                    state.sell_entry, TradeSide.SELL, upper, ActionType.ENTRY_SHORT, "upper_band"
                )
        elif state.profit_exit is not None and not math.isnan(middle):
            self.submit_modification(state.profit_exit, limit_price=middle)

    def on_fill(self, fill: FillEvent) -> None:
        state = self._state(fill.symbol)
        order_id = fill.associated_order_id
        if order_id in (state.buy_entry, state.sell_entry):
            if order_id == state.buy_entry:
                state.buy_entry = None
            else:
                state.sell_entry = None
            self._cancel_entries(state)
            self._place_exits(state, fill)
        elif order_id in (state.stop_exit, state.profit_exit):
            other = state.profit_exit if order_id == state.stop_exit else state.stop_exit
            state.stop_exit = state.profit_exit = None
            if other is not None and other in self.open_orders:
                self.submit_cancellation(other)

    def _place_or_reprice(
        self, order_id: str | None, side: TradeSide, price: float, action: ActionType, signal: str
    ) -> str | None:
        if order_id is not None and order_id in self.open_orders:
            if self.open_orders[order_id].limit_price != price:
                self.submit_modification(order_id, limit_price=price)
            return order_id
        quantity = self._entry_quantity()
        if quantity <= 0:
            return None
        return self.submit_order(
            OrderType.LIMIT, side, quantity, limit_price=price, action=action, signal=signal
        )

    def _entry_quantity(self) -> float:
        """``quantity``, or ``equity_pct`` percent of the equity in whole units."""
        if self.equity_pct > 0:
            return self.quantity_for(self.equity_pct / 100)
        return self.quantity

    def _cancel_entries(self, state: _Orders) -> None:
        for order_id in (state.buy_entry, state.sell_entry):
            if order_id is not None and order_id in self.open_orders:
                self.submit_cancellation(order_id)
        state.buy_entry = state.sell_entry = None

    def _place_exits(self, state: _Orders, fill: FillEvent) -> None:
        long = fill.side is TradeSide.BUY
        exit_side = TradeSide.SELL if long else TradeSide.BUY
        factor = 1 - self.stop_pct / 100 if long else 1 + self.stop_pct / 100
        state.stop_exit = self.submit_order(
            OrderType.STOP,
            exit_side,
            fill.quantity_filled,
            stop_price=fill.fill_price * factor,
            action=ActionType.STOP_LOSS_LONG if long else ActionType.STOP_LOSS_SHORT,
            signal="stop_loss",
        )
        target = self.middle.latest(fill.symbol)
        state.profit_exit = self.submit_order(
            OrderType.LIMIT,
            exit_side,
            fill.quantity_filled,
            limit_price=target,
            action=ActionType.TAKE_PROFIT_LONG if long else ActionType.TAKE_PROFIT_SHORT,
            signal="middle_band",
        )
