"""Immutable, slotted event types.

Every event carries ``ts_event_ns`` (simulated time, UTC ns) and ``ts_created_ns``. In a
backtest both are simulated time, never the wall clock, so a run is deterministic byte for
byte. Broker responses add ``ts_broker_ns``. Bar timestamps are the *start* of the bar's
interval (Databento's convention). Field names match the columns of the runs database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from backtests.engine.enums import (
    ActionType,
    BarPeriod,
    OrderType,
    RejectionReason,
    TradeSide,
)

_event = dataclass(frozen=True, slots=True, kw_only=True)


@_event
class Event:
    ts_event_ns: int
    ts_created_ns: int


# --- Market ------------------------------------------------------------------------------
# Bars are the hot path (one or two per bar of data), so they are NamedTuples: immutable,
# slotted and about four times cheaper to build than a frozen dataclass. The rarer order
# events below are frozen dataclasses with an inheritance tree.


class BarReceived(NamedTuple):
    """One OHLCV bar of one symbol as the datafeed delivers it (prices as floats)."""

    ts_event_ns: int
    ts_created_ns: int
    symbol: str
    bar_period: BarPeriod
    open: float
    high: float
    low: float
    close: float
    volume: int | None


class BarProcessed(NamedTuple):
    """A bar after a strategy's indicators were updated, with their values (name -> value)."""

    ts_event_ns: int
    ts_created_ns: int
    symbol: str
    bar_period: BarPeriod
    open: float
    high: float
    low: float
    close: float
    volume: int | None
    indicators: Mapping[str, float]

    @classmethod
    def from_bar(cls, bar: BarReceived, indicators: Mapping[str, float]) -> BarProcessed:
        return cls(*bar, indicators)


# --- Requests (strategy -> broker) -------------------------------------------------------


@_event
class OrderSubmissionRequest(Event):
    system_order_id: str
    symbol: str
    order_type: OrderType
    side: TradeSide
    quantity: float
    limit_price: float | None = None
    stop_price: float | None = None
    action: ActionType | None = None
    signal: str | None = None


@_event
class OrderModificationRequest(Event):
    """Change a pending order; ``None`` keeps the current value."""

    system_order_id: str
    symbol: str
    quantity: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None


@_event
class OrderCancellationRequest(Event):
    system_order_id: str
    symbol: str


# --- Responses (broker -> strategy) ------------------------------------------------------


@_event
class BrokerResponse(Event):
    ts_broker_ns: int
    associated_order_id: str


@_event
class Accepted(BrokerResponse):
    broker_order_id: str | None = None


@_event
class Rejected(BrokerResponse):
    rejection_reason: RejectionReason
    rejection_message: str


@_event
class OrderAccepted(Accepted):
    pass


@_event
class OrderRejected(Rejected):
    pass


@_event
class ModificationAccepted(Accepted):
    pass


@_event
class ModificationRejected(Rejected):
    pass


@_event
class CancellationAccepted(Accepted):
    pass


@_event
class CancellationRejected(Rejected):
    pass


@_event
class FillEvent(BrokerResponse):
    """An execution. ``side`` and ``quantity_filled`` say how the position changed."""

    broker_order_id: str | None
    symbol: str
    fill_id: str
    broker_fill_id: str | None
    side: TradeSide
    quantity_filled: float
    fill_price: float
    commission: float
    exchange: str = "SIMULATED"


@_event
class OrderExpired(BrokerResponse):
    """A pending order that ended unfilled (for example when the data ran out)."""

    broker_order_id: str | None
    symbol: str


AnyEvent = Event | BarReceived | BarProcessed
