"""Validation of a backtest request's fill model and cost fields (part of the run's spec).

Values come as JSON numbers, form or command-line strings, or a stored config; empty means
the default. Every wrong field gets its own message under its own name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from backtests.engine.broker import SimulatedBroker
from backtests.engine.fill_model import FILL_MODELS, FillConfig, FillModel

FILL_FIELDS = (
    "fill_model",
    "slippage_ticks",
    "slippage_bps",
    "tick_size",
    "participation_cap",
    "latency_ms",
)
MAX_SLIPPAGE_TICKS = 10_000
MAX_SLIPPAGE_BPS = 1_000  # 10 %
MAX_LATENCY_MS = 86_400_000  # a day

FILL_MODEL_INVALID = "fill_model must be one of: " + ", ".join(FILL_MODELS)
SLIPPAGE_TICKS_INVALID = f"slippage_ticks must be a number from 0 to {MAX_SLIPPAGE_TICKS:,}"
SLIPPAGE_BPS_INVALID = (
    f"slippage_bps must be a number of basis points from 0 to {MAX_SLIPPAGE_BPS:,}"
)
SLIPPAGE_BOTH = "give slippage in ticks or in basis points, not both"
TICK_SIZE_INVALID = "tick_size must be a positive number (or empty: each symbol's from its prices)"
PARTICIPATION_INVALID = (
    "participation_cap must be a fraction of a bar's volume above 0 and at most 1,"
    " e.g. 0.1 for 10 % (or empty: no cap)"
)
LATENCY_INVALID = f"latency_ms must be a number of milliseconds from 0 to {MAX_LATENCY_MS:,}"


def fill_fields_from_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fill fields of a request body or stored config (absent ones left out)."""
    return {name: data[name] for name in FILL_FIELDS if name in data}


def fill_config_clean(
    *,
    fill_model: Any = FillModel.CLASSIC.value,
    slippage_ticks: Any = 0,
    slippage_bps: Any = 0,
    tick_size: Any = None,
    participation_cap: Any = None,
    latency_ms: Any = 0,
    errors: dict[str, str],
) -> FillConfig:
    """The ``FillConfig`` these values ask for; problems go into ``errors`` by field."""
    model = _clean_model(fill_model, errors)
    ticks = _number(slippage_ticks, default=0.0)
    if ticks is None or not 0 <= ticks <= MAX_SLIPPAGE_TICKS:
        errors["slippage_ticks"] = SLIPPAGE_TICKS_INVALID
        ticks = 0.0
    bps = _number(slippage_bps, default=0.0)
    if bps is None or not 0 <= bps <= MAX_SLIPPAGE_BPS:
        errors["slippage_bps"] = SLIPPAGE_BPS_INVALID
        bps = 0.0
    if ticks and bps:
        errors["slippage_bps"] = SLIPPAGE_BOTH
        bps = 0.0
    tick = _number(tick_size, default=None)
    if tick is not None and tick <= 0 or tick is None and not _empty(tick_size):
        errors["tick_size"] = TICK_SIZE_INVALID
        tick = None
    cap = _number(participation_cap, default=None)
    if cap is not None and not 0 < cap <= 1 or cap is None and not _empty(participation_cap):
        errors["participation_cap"] = PARTICIPATION_INVALID
        cap = None
    latency = _number(latency_ms, default=0.0)
    if latency is None or not 0 <= latency <= MAX_LATENCY_MS:
        errors["latency_ms"] = LATENCY_INVALID
        latency = 0.0
    return FillConfig(
        model=model,
        slippage_ticks=ticks,
        slippage_bps=bps,
        tick_size=tick,
        participation_cap=cap,
        latency_ms=latency,
    )


def _clean_model(raw: Any, errors: dict[str, str]) -> FillModel:
    if _empty(raw):
        return FillModel.CLASSIC
    if isinstance(raw, str) and raw.strip().lower() in FILL_MODELS:
        return FillModel(raw.strip().lower())
    errors["fill_model"] = FILL_MODEL_INVALID
    return FillModel.CLASSIC


def _empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _number(raw: Any, *, default: float | None) -> float | None:
    """A finite float from a number or numeric text; ``default`` when empty; None when it
    is not a finite number."""
    if _empty(raw):
        return default
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    if value is None or not math.isfinite(value):
        return None
    return value


def broker_build(
    *, commission_per_unit: float, minimum_commission: float, fills: FillConfig, datafeed: Any
) -> SimulatedBroker:
    """The run's broker: its fill model and costs, the datafeed as the finer-bars provider
    (``intrabar``), and the symbols' tick sizes read from their prices when slippage is
    given in ticks without a tick size."""
    ticks = datafeed.tick_sizes() if fills.slippage_ticks and fills.tick_size is None else None
    return SimulatedBroker(
        commission_per_unit=commission_per_unit,
        minimum_commission=minimum_commission,
        fills=fills,
        finer_bars=datafeed if fills.model is FillModel.INTRABAR else None,
        tick_sizes=ticks,
    )
