"""Momentum oscillators: Wilder's RSI, rate of change and the detrend oscillator."""

from __future__ import annotations

import math
from collections import deque

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, Indicator, PlotHint, source_index


def _label(base: str, args: str, source: str) -> str:
    return f"{base}({args})" if source == "close" else f"{base}({args}, {source})"


class RSI(Indicator):
    """Wilder's relative strength index in [0, 100].

    Average gain and loss start as the mean of the first ``period`` changes, then are
    smoothed with alpha = 1/period. 100 when there are no losses, 50 when the price did not
    move at all. The first value is on bar ``period + 1``.
    """

    default_plot = PlotHint(placement="panel")

    def __init__(self, period: int = 14, *, source: str = "close", **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self.source = source
        self._src = source_index(source)
        self._state: dict[str, list] = {}  # symbol -> [prev, count, avg_gain, avg_loss]
        self.name = _label("RSI", str(self.period), source)

    def _compute(self, bar: BarReceived) -> float:
        price = bar[self._src]
        if price is None or not math.isfinite(price):
            return NAN
        state = self._state.get(bar[2])
        if state is None:
            self._state[bar[2]] = [price, 0, 0.0, 0.0]
            return NAN
        change = price - state[0]
        state[0] = price
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        state[1] += 1
        n = self.period
        if state[1] < n:
            state[2] += gain
            state[3] += loss
            return NAN
        if state[1] == n:
            state[2] = (state[2] + gain) / n
            state[3] = (state[3] + loss) / n
        else:
            alpha = 1.0 / n
            state[2] = (1.0 - alpha) * state[2] + alpha * gain
            state[3] = (1.0 - alpha) * state[3] + alpha * loss
        avg_gain, avg_loss = state[2], state[3]
        if avg_loss <= 1e-12:
            return 100.0 if avg_gain > 1e-12 else 50.0
        return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


class RateOfChange(Indicator):
    """Percent change against the value ``period`` bars ago; NaN if that value is 0."""

    default_plot = PlotHint(placement="panel")

    def __init__(self, period: int = 14, *, source: str = "close", **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self.source = source
        self._src = source_index(source)
        self._windows: dict[str, deque[float]] = {}
        self.name = _label("ROC", str(self.period), source)

    def _compute(self, bar: BarReceived) -> float:
        window = self._windows.get(bar[2])
        if window is None:
            window = self._windows[bar[2]] = deque(maxlen=self.period + 1)
        value = bar[self._src]
        value = NAN if value is None else value
        window.append(value)
        if len(window) <= self.period:
            return NAN
        previous = window[0]
        if previous == 0:
            return NAN
        return (value - previous) / previous * 100


class Detrend(Indicator):
    """Short simple moving average minus long simple moving average."""

    default_plot = PlotHint(placement="panel")

    def __init__(
        self, short_period: int = 3, long_period: int = 7, *, source: str = "close", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.short_period = max(1, int(short_period))
        self.long_period = max(1, int(long_period))
        self.source = source
        self._src = source_index(source)
        self._short: dict[str, deque[float]] = {}
        self._long: dict[str, deque[float]] = {}
        self.name = _label("DETREND", f"{self.short_period}, {self.long_period}", source)

    def _compute(self, bar: BarReceived) -> float:
        symbol = bar[2]
        short = self._short.get(symbol)
        if short is None:
            short = self._short[symbol] = deque(maxlen=self.short_period)
            self._long[symbol] = deque(maxlen=self.long_period)
        long = self._long[symbol]
        value = bar[self._src]
        value = NAN if value is None else value
        short.append(value)
        long.append(value)
        if len(short) < self.short_period or len(long) < self.long_period:
            return NAN
        return sum(short) / self.short_period - sum(long) / self.long_period
