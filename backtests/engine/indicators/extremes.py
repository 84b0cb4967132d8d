"""Highest and lowest value of a bar field over the last ``period`` bars."""

from __future__ import annotations

from collections import deque

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, Indicator, PlotHint, source_index


class _PeriodExtreme(Indicator, register=False):
    label = ""
    pick = staticmethod(max)

    def __init__(self, period: int = 20, *, source: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.period = max(1, int(period))
        self.source = source or self.default_source
        self._src = source_index(self.source)
        self._windows: dict[str, deque[float]] = {}
        self.name = f"{self.label}({self.period}, {self.source})"

    def _compute(self, bar: BarReceived) -> float:
        window = self._windows.get(bar[2])
        if window is None:
            window = self._windows[bar[2]] = deque(maxlen=self.period)
        value = bar[self._src]
        window.append(NAN if value is None else value)
        if len(window) < self.period:
            return NAN
        return self.pick(window)


class PeriodHighest(_PeriodExtreme):
    """Highest value (of the high by default) over the last ``period`` bars."""

    label = "HIGHEST"
    default_source = "high"
    default_plot = PlotHint(placement="overlay", style="dashed")
    pick = staticmethod(max)


class PeriodLowest(_PeriodExtreme):
    """Lowest value (of the low by default) over the last ``period`` bars."""

    label = "LOWEST"
    default_source = "low"
    default_plot = PlotHint(placement="overlay", style="dashed")
    pick = staticmethod(min)
