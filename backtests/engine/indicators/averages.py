"""Moving averages of one bar field (close by default)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, Indicator, source_index

if TYPE_CHECKING:
    from backtests.engine.chunks import SymbolBars


def _label(base: str, args: str, source: str) -> str:
    return f"{base}({args})" if source == "close" else f"{base}({args}, {source})"


# Below this many bars, batched sums are plain Python sums; above, numpy adds whole columns.
_NUMPY_MIN_BARS = 256


def window_sums(series: Sequence[float] | np.ndarray, period: int) -> np.ndarray:
    """``sum(series[i:i + period])`` for every full window, added left to right.

    Bit for bit what Python's ``sum`` gives (the original engine's mean), computed with
    ``period`` vectorised column additions in the same order instead of one Python loop per
    window: floating-point addition is not associative, so no running total or pairwise sum.
    """
    count = len(series) - period + 1
    if count <= 0:
        return np.empty(0, dtype=np.float64)
    if count < _NUMPY_MIN_BARS:
        series = series.tolist() if isinstance(series, np.ndarray) else list(series)
        return np.array([sum(series[i : i + period]) for i in range(count)], dtype=np.float64)
    values = np.asarray(series, dtype=np.float64)
    totals = values[:count].copy()
    for offset in range(1, period):
        totals += values[offset : offset + count]
    return totals


class SimpleMovingAverage(Indicator):
    """Arithmetic mean of the last ``period`` values; NaN until the window is full.

    The mean is ``sum(window) / period`` on every bar, exactly as the original engine
    computes it: a running sum would drift by an ulp now and then and could flip a
    crossover between two equal averages. In a backtest the sums of a whole chunk of bars
    are computed at once (``compute_block``: the same values, about 20x less work).
    """

    def __init__(self, period: int = 20, *, source: str = "close", **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self.source = source
        self._src = source_index(source)
        self._windows: dict[str, deque[float]] = {}  # symbol -> the last ``period`` inputs
        self.name = _label("SMA", str(self.period), source)

    def _window(self, symbol: str) -> deque[float]:
        window = self._windows.get(symbol)
        if window is None:
            window = self._windows[symbol] = deque(maxlen=self.period)
        return window

    def _compute(self, bar: BarReceived) -> float:
        window = self._window(bar[2])
        value = bar[self._src]
        window.append(NAN if value is None else value)
        return sum(window) / self.period if len(window) == self.period else NAN

    def compute_block(self, part: SymbolBars) -> np.ndarray:
        """The means of a chunk of one symbol's bars at once, continuing its window."""
        window = self._window(part.symbol)
        period = self.period
        values = part.column(self._src)
        prior = list(window)[1 - period :] if period > 1 else []  # up to period - 1 inputs
        series = np.concatenate((np.array(prior, dtype=np.float64), values)) if prior else values
        means = window_sums(series, period) / period
        window.extend(values[-period:].tolist())
        warm_up = len(values) - len(means)  # bars before the window is full
        if warm_up:
            return np.concatenate((np.full(warm_up, NAN), means))
        return means


class ExponentialMovingAverage(Indicator):
    """EMA with alpha = 2 / (period + 1), seeded with the first value (pandas ``adjust=False``).

    NaN for the first ``period - 1`` bars (warm-up), then the recursive average.
    """

    def __init__(self, period: int = 20, *, source: str = "close", **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self.alpha = 2.0 / (self.period + 1)
        self.source = source
        self._src = source_index(source)
        self._state: dict[str, list] = {}  # symbol -> [count, ema]
        self.name = _label("EMA", str(self.period), source)

    def _compute(self, bar: BarReceived) -> float:
        value = bar[self._src]
        if value is None:
            value = NAN
        state = self._state.get(bar[2])
        if state is None:
            state = self._state[bar[2]] = [1, float(value)]
        else:
            state[0] += 1
            state[1] = (1.0 - self.alpha) * state[1] + self.alpha * value
        return state[1] if state[0] >= self.period else NAN
