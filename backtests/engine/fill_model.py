"""How the simulated broker fills orders: the fill model and the optional trading costs.

- ``classic``: OneSecondTrader 0.75's rules, the default (results identical to the original).
- ``strict``: as ``classic``, but a stop-limit order whose stop is reached inside a bar
  (not at its open) fills no better than its stop price, and fills the bar's open decides
  come before those reached later in the bar.
- ``intrabar``: ``strict``, and a bar whose order of events matters (it is *ambiguous*) is
  walked through its finer bars (1-second under 1-minute; 1-second, else 1-minute, under
  hourly and daily), each order filling at the first finer bar that reaches it.

Costs, all off by default: slippage in ticks or basis points on market and stop fills (and on
a stop-limit's fill at its trigger, never beyond its limit), a cap on the share of a bar's
volume an order may take (partial fills), and a latency between a decision and its arrival.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

NS_PER_MS = 1_000_000


class FillModel(enum.Enum):
    CLASSIC = "classic"
    STRICT = "strict"
    INTRABAR = "intrabar"


FILL_MODELS = tuple(model.value for model in FillModel)

MSG_MODEL = "fill_model must be one of: " + ", ".join(FILL_MODELS)
MSG_NOT_NUMBER = "{field} must be a finite number >= 0"
MSG_SLIPPAGE_BOTH = "give slippage in ticks or in basis points, not both"
MSG_TICK_SIZE = "tick_size must be a positive number (or empty: from the data's prices)"
MSG_PARTICIPATION = (
    "participation_cap must be a fraction of a bar's volume in (0, 1], e.g. 0.1 for 10 %"
    " (or empty: no cap)"
)


@dataclass(frozen=True)
class FillConfig:
    """A run's fill model and costs; the defaults reproduce OneSecondTrader 0.75's fills.

    ``slippage_ticks`` uses ``tick_size`` when given, else each symbol's tick size as the
    data's prices show it. ``participation_cap`` is a fraction of a bar's volume (None: no
    cap). ``latency_ms``: an order, modification or cancellation decided on a bar reaches the
    broker that long after the bar's end.
    """

    model: FillModel = FillModel.CLASSIC
    slippage_ticks: float = 0.0
    slippage_bps: float = 0.0
    tick_size: float | None = None
    participation_cap: float | None = None
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        problem = fill_config_problem(self)
        if problem is not None:
            raise ValueError(problem)

    @property
    def is_classic(self) -> bool:
        """The original's rules without any cost: the broker's fast path."""
        return (
            self.model is FillModel.CLASSIC
            and not self.slippage_ticks
            and not self.slippage_bps
            and self.participation_cap is None
            and not self.latency_ms
        )

    @property
    def latency_ns(self) -> int:
        return round(self.latency_ms * NS_PER_MS)

    def to_config(self) -> dict[str, Any]:
        """The run config's keys for these settings."""
        return {
            "fill_model": self.model.value,
            "slippage_ticks": self.slippage_ticks,
            "slippage_bps": self.slippage_bps,
            "tick_size": self.tick_size,
            "participation_cap": self.participation_cap,
            "latency_ms": self.latency_ms,
        }


def _finite_at_least_zero(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def fill_config_problem(config: FillConfig) -> str | None:
    """The first thing wrong with ``config``, or None."""
    if not isinstance(config.model, FillModel):
        return MSG_MODEL
    for name in ("slippage_ticks", "slippage_bps", "latency_ms"):
        if not _finite_at_least_zero(getattr(config, name)):
            return MSG_NOT_NUMBER.format(field=name)
    if config.slippage_ticks and config.slippage_bps:
        return MSG_SLIPPAGE_BOTH
    tick = config.tick_size
    if tick is not None and not (_finite_at_least_zero(tick) and tick > 0):
        return MSG_TICK_SIZE
    cap = config.participation_cap
    if cap is not None and not (_finite_at_least_zero(cap) and 0 < cap <= 1):
        return MSG_PARTICIPATION
    return None
