"""The bar's own fields as indicators (for example as the source of another computation)."""

from __future__ import annotations

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, Indicator, source_index


class _MarketField(Indicator):
    field = "close"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._src = source_index(self.field)
        self.name = self.field.upper()

    def _compute(self, bar: BarReceived) -> float:
        value = bar[self._src]
        return NAN if value is None else float(value)


class Open(_MarketField):
    field = "open"


class High(_MarketField):
    field = "high"


class Low(_MarketField):
    field = "low"


class Close(_MarketField):
    field = "close"


class Volume(_MarketField):
    field = "volume"
