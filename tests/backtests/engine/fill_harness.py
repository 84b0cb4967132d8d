"""A broker harness on 1-minute bars with 1-second finer bars, for fill-model tests."""

from __future__ import annotations

from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.events import (
    BarReceived,
    FillEvent,
    OrderCancellationRequest,
    OrderModificationRequest,
    OrderSubmissionRequest,
)
from backtests.engine.fill_model import FillConfig, FillModel
from backtests.engine.memory import ListFinerBars

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
BUY, SELL = TradeSide.BUY, TradeSide.SELL
MARKET, LIMIT, STOP, STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)
CLASSIC, STRICT, INTRABAR = FillModel.CLASSIC, FillModel.STRICT, FillModel.INTRABAR


def mbar(
    minute: int, o: float, h: float, low: float, c: float, volume: int | None = 1000
) -> BarReceived:
    """A 1-minute bar of AAA starting at ``minute`` minutes."""
    ts = minute * MINUTE
    return BarReceived(ts, ts, "AAA", BarPeriod.MINUTE, o, h, low, c, volume)


def sbar(
    second: int, o: float, h: float, low: float, c: float, volume: int | None = 100
) -> BarReceived:
    """A 1-second bar of AAA starting at ``second`` seconds."""
    ts = second * SECOND
    return BarReceived(ts, ts, "AAA", BarPeriod.SECOND, o, h, low, c, volume)


class FillHarness:
    """A broker with a fill configuration, its finer bars in memory, and its events."""

    def __init__(
        self,
        model: FillModel = CLASSIC,
        finer: list[BarReceived] = (),
        tick_sizes: dict[str, float] | None = None,
        commission_per_unit: float = 0.0,
        minimum_commission: float = 0.0,
        **costs,
    ) -> None:
        self.finer = ListFinerBars(list(finer))
        self.broker = SimulatedBroker(
            commission_per_unit=commission_per_unit,
            minimum_commission=minimum_commission,
            fills=FillConfig(model=model, **costs),
            finer_bars=self.finer,
            tick_sizes=tick_sizes,
        )
        self.events: list = []
        self.broker.bind(self.events.append)
        self.seq = 0

    def submit(self, minute, order_type, side, quantity=1.0, limit=None, stop=None) -> str:
        self.seq += 1
        oid = f"O{self.seq:06d}"
        ts = minute * MINUTE
        self.broker.on_submission(
            OrderSubmissionRequest(
                ts_event_ns=ts,
                ts_created_ns=ts,
                system_order_id=oid,
                symbol="AAA",
                order_type=order_type,
                side=side,
                quantity=quantity,
                limit_price=limit,
                stop_price=stop,
            )
        )
        return oid

    def modify(self, minute, oid, quantity=None, limit=None, stop=None) -> None:
        ts = minute * MINUTE
        self.broker.on_modification(
            OrderModificationRequest(
                ts_event_ns=ts,
                ts_created_ns=ts,
                system_order_id=oid,
                symbol="AAA",
                quantity=quantity,
                limit_price=limit,
                stop_price=stop,
            )
        )

    def cancel(self, minute, oid) -> None:
        ts = minute * MINUTE
        self.broker.on_cancellation(
            OrderCancellationRequest(
                ts_event_ns=ts, ts_created_ns=ts, system_order_id=oid, symbol="AAA"
            )
        )

    def feed(self, *bars) -> list[FillEvent]:
        start = len(self.events)
        for b in bars:
            self.broker.on_bar(b)
        return [e for e in self.events[start:] if isinstance(e, FillEvent)]

    def stats(self) -> dict[str, int] | None:
        return self.broker.fill_stats()


def fills_of(fills) -> list[tuple]:
    """(order id, side, quantity, price) of each fill."""
    return [(f.associated_order_id, f.side, f.quantity_filled, f.fill_price) for f in fills]


def times_of(fills) -> list[tuple[int, int]]:
    """(bar second, broker second) of each fill."""
    return [(f.ts_event_ns // SECOND, f.ts_broker_ns // SECOND) for f in fills]
