"""Bollinger bands (population standard deviation) and Wilder's average true range."""

from __future__ import annotations

import math
from collections import deque
from operator import mul

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, Indicator, PlotHint, source_index


def true_range(high: float, low: float, prev_close: float) -> float:
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


class _Bollinger(Indicator, register=False):
    label = ""

    def __init__(
        self, period: int = 20, num_std: float = 2.0, *, source: str = "close", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self.num_std = float(num_std)
        self.source = source
        self._src = source_index(source)
        self._windows: dict[str, deque[float]] = {}
        args = f"{self.period}, {self.num_std:g}" + ("" if source == "close" else f", {source}")
        self.name = f"{self.label}({args})"

    def _mean_std(self, bar: BarReceived) -> tuple[float, float] | None:
        window = self._windows.get(bar[2])
        if window is None:
            window = self._windows[bar[2]] = deque(maxlen=self.period)
        value = bar[self._src]
        window.append(NAN if value is None else value)
        if len(window) < self.period:
            return None
        mean = sum(window) / self.period
        deviations = [x - mean for x in window]
        variance = sum(map(mul, deviations, deviations)) / self.period
        return mean, math.sqrt(variance)


class BollingerUpper(_Bollinger):
    """Mean + num_std × standard deviation of the last ``period`` values."""

    label = "BB upper"
    default_plot = PlotHint(placement="overlay", style="dashed")

    def _compute(self, bar: BarReceived) -> float:
        ms = self._mean_std(bar)
        return NAN if ms is None else ms[0] + self.num_std * ms[1]


class BollingerLower(_Bollinger):
    """Mean - num_std × standard deviation of the last ``period`` values."""

    label = "BB lower"
    default_plot = PlotHint(placement="overlay", style="dashed")

    def _compute(self, bar: BarReceived) -> float:
        ms = self._mean_std(bar)
        return NAN if ms is None else ms[0] - self.num_std * ms[1]


class BollingerBandwidth(_Bollinger):
    """Band width in percent of the mean: 2 × num_std × std / mean × 100 (NaN if mean ~ 0)."""

    label = "BB width"
    default_plot = PlotHint(placement="panel")

    def _compute(self, bar: BarReceived) -> float:
        ms = self._mean_std(bar)
        if ms is None or abs(ms[0]) < 1e-12:
            return NAN
        return 2.0 * self.num_std * ms[1] / ms[0] * 100.0


class AverageTrueRange(Indicator):
    """Wilder's ATR: mean of the first ``period`` true ranges, then (atr·(n-1) + tr) / n.

    The first bar of a symbol has no previous close, so the first true range is on bar 2
    and the first value on bar ``period + 1``.
    """

    default_plot = PlotHint(placement="panel")

    def __init__(self, period: int = 14, **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self._state: dict[str, list] = {}  # symbol -> [prev_close, count, tr_sum_or_atr]
        self.name = f"ATR({self.period})"

    def _compute(self, bar: BarReceived) -> float:
        state = self._state.get(bar[2])
        if state is None:
            self._state[bar[2]] = [bar[7], 0, 0.0]
            return NAN
        tr = true_range(bar[5], bar[6], state[0])
        state[0] = bar[7]
        state[1] += 1
        n = self.period
        if state[1] < n:
            state[2] += tr
            return NAN
        if state[1] == n:
            state[2] = (state[2] + tr) / n
        else:
            state[2] = (state[2] * (n - 1) + tr) / n
        return state[2]
