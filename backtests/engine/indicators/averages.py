"""Moving averages of one bar field (close by default)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, Indicator, source_index


def _label(base: str, args: str, source: str) -> str:
    return f"{base}({args})" if source == "close" else f"{base}({args}, {source})"


# Below this many bars, batched sums are plain Python sums; above, numpy adds whole columns.
_NUMPY_MIN_BARS = 256


def window_sums(series: Sequence[float], period: int) -> list[float]:
    """``sum(series[i:i + period])`` for every full window, added left to right.

    Bit for bit what Python's ``sum`` gives (the original engine's mean), computed with
    ``period`` vectorised column additions in the same order instead of one Python loop per
    window: floating-point addition is not associative, so no running total or pairwise sum.
    """
    count = len(series) - period + 1
    if count <= 0:
        return []
    if count < _NUMPY_MIN_BARS:
        return [sum(series[i : i + period]) for i in range(count)]
    values = np.asarray(series, dtype=float)
    totals = values[:count].copy()
    for offset in range(1, period):
        totals += values[offset : offset + count]
    return totals.tolist()


class SimpleMovingAverage(Indicator):
    """Arithmetic mean of the last ``period`` values; NaN until the window is full.

    The mean is ``sum(window) / period`` on every bar, exactly as the original engine
    computes it: a running sum would drift by an ulp now and then and could flip a
    crossover between two equal averages. In a backtest the sums of a whole batch of bars
    are computed at once (``bind_symbol_batched``, same values, about 20x less work).
    """

    def __init__(self, period: int = 20, *, source: str = "close", **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self.source = source
        self._src = source_index(source)
        # symbol -> (input window, value history); update() is fused for speed (hot path)
        self._state: dict[str, tuple[deque[float], deque[float]]] = {}
        self.name = _label("SMA", str(self.period), source)

    def _state_for(self, symbol: str) -> tuple[deque[float], deque[float]]:
        state = self._state.get(symbol)
        if state is None:
            history = self._history.get(symbol)
            if history is None:
                history = self._history[symbol] = deque(maxlen=self._max_history)
            state = self._state[symbol] = (deque(maxlen=self.period), history)
        return state

    def update(self, bar: BarReceived) -> float:
        window, history = self._state_for(bar[2])
        value = bar[self._src]
        window.append(NAN if value is None else value)
        result = sum(window) / self.period if len(window) == self.period else NAN
        history.append(result)
        return result

    def bind_symbol(self, symbol: str) -> Callable[[BarReceived], float]:
        """``update`` for one symbol as a closure over its window and history (hot path)."""
        if type(self).update is not SimpleMovingAverage.update:
            return self.update  # a subclass changed update(): keep its behaviour
        window, history = self._state_for(symbol)
        period, src = self.period, self._src
        push, store = window.append, history.append

        def update(bar: BarReceived) -> float:
            value = bar[src]
            push(NAN if value is None else value)
            result = sum(window) / period if len(window) == period else NAN
            store(result)
            return result

        return update

    def bind_symbol_batched(
        self, symbol: str
    ) -> tuple[Callable[[Sequence[BarReceived]], None], Callable[[BarReceived], float]] | None:
        """``prepare(bars)`` computes the means of a batch of ``symbol``'s bars at once."""
        if (
            type(self).update is not SimpleMovingAverage.update
            or type(self).bind_symbol is not SimpleMovingAverage.bind_symbol
        ):
            return None  # a subclass changed how values are computed: keep its per-bar path
        window, history = self._state_for(symbol)
        period, src = self.period, self._src
        ready: deque[float] = deque()

        def prepare(bars: Sequence[BarReceived]) -> None:
            values = [NAN if (v := bar[src]) is None else v for bar in bars]
            prior = list(window)[-(period - 1) :] if period > 1 else []
            means = [total / period for total in window_sums(prior + values, period)]
            ready.extend([NAN] * (len(values) - len(means)))  # warm-up: window not full
            ready.extend(means)
            window.extend(values)  # the per-bar path continues from here

        take, store = ready.popleft, history.append

        def update(bar: BarReceived) -> float:
            value = take()
            store(value)
            return value

        return prepare, update


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
