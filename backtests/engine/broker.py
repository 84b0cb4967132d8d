"""The simulated broker: validates requests and fills pending orders against bars.

Per bar of an order's symbol, in this order: market orders fill at the open; stop orders
trigger when high >= stop (buy) or low <= stop (sell) and fill at the worse of stop and
open; triggered stop-limit orders become limit orders evaluated on the same bar; limit
orders fill when low <= limit (buy) or high >= limit (sell) at the better of limit and
open. Commission = max(quantity × per-unit rate, minimum per order). Orders fill whole.
That is the ``classic`` fill model without costs, the default, and this module's fast path;
the other models and the costs (``fill_model.FillConfig``) are ``matching.Matcher``'s.

No look-ahead: an order, or its latest modification, made while the run processes
timestamp t only takes part in bars with ts_event_ns > t. Invalid requests are answered
with a rejection event carrying a reason and a precise message, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from backtests.engine.enums import OrderType, RejectionReason, TradeSide
from backtests.engine.events import (
    BarReceived,
    BrokerResponse,
    CancellationAccepted,
    CancellationRejected,
    FillEvent,
    ModificationAccepted,
    ModificationRejected,
    OrderAccepted,
    OrderCancellationRequest,
    OrderExpired,
    OrderModificationRequest,
    OrderRejected,
    OrderSubmissionRequest,
)
from backtests.engine.fill_model import FillConfig
from backtests.engine.matching import QUANTITY_EPSILON, Matcher, filled_quantity_message
from backtests.engine.protocols import FinerBars

_MARKET, _STOP, _STOP_LIMIT, _LIMIT = 0, 1, 2, 3
_BOOK_INDEX = {
    OrderType.MARKET: _MARKET,
    OrderType.STOP: _STOP,
    OrderType.STOP_LIMIT: _STOP_LIMIT,
    OrderType.LIMIT: _LIMIT,
}
_NEEDS_LIMIT = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_NEEDS_STOP = (OrderType.STOP, OrderType.STOP_LIMIT)


class _Order:
    __slots__ = (
        "order_id",
        "broker_id",
        "symbol",
        "order_type",
        "side",
        "quantity",
        "limit_price",
        "stop_price",
        "eligible_after_ns",
        "seq",
        "filled",
        "paid",
    )

    def __init__(self, request: OrderSubmissionRequest, broker_id: str, seq: int) -> None:
        self.order_id = request.system_order_id
        self.broker_id = broker_id
        self.symbol = request.symbol
        self.order_type = request.order_type
        self.side = request.side
        self.quantity = request.quantity
        self.limit_price = request.limit_price
        self.stop_price = request.stop_price
        self.eligible_after_ns = request.ts_event_ns
        self.seq = seq
        self.filled = 0.0  # quantity filled so far (partial fills under a volume cap)
        self.paid = 0.0  # commission paid so far


def _positive(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _check_prices(
    order_type: OrderType, limit_price: Any, stop_price: Any
) -> tuple[RejectionReason, str] | None:
    name = order_type.name
    if order_type in _NEEDS_LIMIT:
        if not _positive(limit_price):
            return (
                RejectionReason.INVALID_LIMIT_PRICE,
                f"{name} order needs a positive finite limit_price, got {limit_price!r}",
            )
    elif limit_price is not None:
        return (
            RejectionReason.INVALID_LIMIT_PRICE,
            f"{name} order takes no limit_price, got {limit_price!r}",
        )
    if order_type in _NEEDS_STOP:
        if not _positive(stop_price):
            return (
                RejectionReason.INVALID_STOP_PRICE,
                f"{name} order needs a positive finite stop_price, got {stop_price!r}",
            )
    elif stop_price is not None:
        return (
            RejectionReason.INVALID_STOP_PRICE,
            f"{name} order takes no stop_price, got {stop_price!r}",
        )
    return None


def unknown_order_message(order_id: str) -> str:
    return (
        f"no pending order {order_id!r} (never accepted, or already filled, cancelled or expired)"
    )


class SimulatedBroker:
    """Fills orders against bars with the rules above; one instance per run.

    ``fills`` chooses the fill model and costs (default: classic, none). The ``intrabar``
    model needs ``finer_bars``; slippage in ticks without a ``tick_size`` needs each
    symbol's tick size in ``tick_sizes``.
    """

    def __init__(
        self,
        *,
        commission_per_unit: float = 0.0,
        minimum_commission: float = 0.0,
        fills: FillConfig | None = None,
        finer_bars: FinerBars | None = None,
        tick_sizes: Mapping[str, float] | None = None,
    ) -> None:
        if not (math.isfinite(commission_per_unit) and commission_per_unit >= 0):
            raise ValueError(
                f"commission_per_unit must be a finite number >= 0, got {commission_per_unit!r}"
            )
        if not (math.isfinite(minimum_commission) and minimum_commission >= 0):
            raise ValueError(
                f"minimum_commission must be a finite number >= 0, got {minimum_commission!r}"
            )
        self.commission_per_unit = float(commission_per_unit)
        self.minimum_commission = float(minimum_commission)
        self._orders: dict[str, _Order] = {}
        # symbol -> four dicts of pending orders (market, stop, stop-limit, limit); a symbol
        # is present only while it has pending orders, so the run can skip the broker cheaply.
        self.books: dict[str, tuple[dict[str, _Order], ...]] = {}
        self._broker_seq = 0
        self._fill_seq = 0
        self._publish: Callable[[Any], None] = _unbound
        self.fills = fills if fills is not None else FillConfig()
        self.matcher: Matcher | None = None
        if not self.fills.is_classic:
            self.matcher = Matcher(
                self, self.fills, finer_bars=finer_bars, tick_sizes=tick_sizes or {}
            )
            self.on_bar = self.matcher.on_bar  # the general rules replace the fast path

    def bind(self, publish: Callable[[Any], None]) -> None:
        """Where responses and fills go (the run's dispatcher, or a list in tests)."""
        self._publish = publish

    def commission(self, quantity: float) -> float:
        return max(quantity * self.commission_per_unit, self.minimum_commission)

    def pending_count(self) -> int:
        return len(self._orders)

    def fill_stats(self) -> dict[str, int] | None:
        """``ambiguous_bars``, ``resolved_bars``, ``unresolved_bars`` under the strict and
        intrabar models (None under classic, which does not look)."""
        return None if self.matcher is None else self.matcher.stats()

    # --- requests ----------------------------------------------------------------------

    def on_submission(self, request: OrderSubmissionRequest) -> None:
        problem = None
        if not _positive(request.quantity):
            problem = (
                RejectionReason.INVALID_QUANTITY,
                f"quantity must be a positive finite number, got {request.quantity!r}",
            )
        elif not isinstance(request.order_type, OrderType):
            problem = RejectionReason.UNKNOWN, f"unknown order type {request.order_type!r}"
        elif not isinstance(request.side, TradeSide):
            problem = RejectionReason.UNKNOWN, f"unknown side {request.side!r}"
        else:
            problem = _check_prices(request.order_type, request.limit_price, request.stop_price)
        if problem is None and request.system_order_id in self._orders:
            problem = (
                RejectionReason.UNKNOWN,
                f"order id {request.system_order_id!r} is already pending",
            )
        ts = request.ts_event_ns
        if problem is not None:
            self._respond(OrderRejected, ts, request.system_order_id, *problem)
            return
        self._broker_seq += 1
        order = _Order(request, f"B{self._broker_seq:06d}", self._broker_seq)
        self._orders[order.order_id] = order
        book = self.books.get(order.symbol)
        if book is None:
            book = self.books[order.symbol] = ({}, {}, {}, {})
        book[_BOOK_INDEX[order.order_type]][order.order_id] = order
        self._respond(OrderAccepted, ts, order.order_id, broker_order_id=order.broker_id)

    def on_modification(self, request: OrderModificationRequest) -> None:
        order = self._orders.get(request.system_order_id)
        problem = None
        if order is None:
            problem = RejectionReason.UNKNOWN_ORDER, unknown_order_message(request.system_order_id)
        elif request.quantity is not None and not _positive(request.quantity):
            problem = (
                RejectionReason.INVALID_QUANTITY,
                f"quantity must be a positive finite number, got {request.quantity!r}",
            )
        elif (
            request.quantity is not None
            and order.filled
            and not _above_filled(request.quantity, order)
        ):
            problem = RejectionReason.INVALID_QUANTITY, filled_quantity_message(order)
        elif request.limit_price is not None and order.order_type not in _NEEDS_LIMIT:
            problem = (
                RejectionReason.ORDER_NOT_MODIFIABLE,
                f"{order.order_type.name} order {order.order_id} has no limit price to modify",
            )
        elif request.stop_price is not None and order.order_type not in _NEEDS_STOP:
            problem = (
                RejectionReason.ORDER_NOT_MODIFIABLE,
                f"{order.order_type.name} order {order.order_id} has no stop price to modify",
            )
        else:
            problem = _check_prices(
                order.order_type,
                order.limit_price if request.limit_price is None else request.limit_price,
                order.stop_price if request.stop_price is None else request.stop_price,
            )
        ts = request.ts_event_ns
        if problem is not None:
            self._respond(ModificationRejected, ts, request.system_order_id, *problem)
            return
        if self.matcher is not None and self.matcher.defers:
            self.matcher.defer(request)  # takes effect when it reaches the broker
            return
        self.apply_modification(order, request, ts, ts)

    def apply_modification(
        self,
        order: _Order,
        request: OrderModificationRequest,
        ts: int,
        ts_broker: int,
        *,
        arrived_late: bool = False,
    ) -> None:
        """Change ``order`` as ``request`` says and accept it (checked already).

        Without latency the changed order is new: eligible from the next bar on. A change
        that reached the broker after a latency applies from that moment, the order working
        as it stood until then."""
        if request.quantity is not None:
            order.quantity = request.quantity
        if request.limit_price is not None:
            order.limit_price = request.limit_price
        if request.stop_price is not None:
            order.stop_price = request.stop_price
        if not arrived_late:
            order.eligible_after_ns = max(order.eligible_after_ns, ts)
        self._respond(
            ModificationAccepted,
            ts,
            order.order_id,
            ts_broker=ts_broker,
            broker_order_id=order.broker_id,
        )

    def on_cancellation(self, request: OrderCancellationRequest) -> None:
        ts = request.ts_event_ns
        if (
            self.matcher is not None
            and self.matcher.defers
            and request.system_order_id in self._orders
        ):
            self.matcher.defer(request)  # takes effect when it reaches the broker
            return
        order = self._remove(request.system_order_id)
        if order is None:
            order_id = request.system_order_id
            self._respond(
                CancellationRejected,
                ts,
                order_id,
                RejectionReason.UNKNOWN_ORDER,
                unknown_order_message(order_id),
            )
            return
        self._respond(CancellationAccepted, ts, order.order_id, broker_order_id=order.broker_id)

    # --- bars --------------------------------------------------------------------------

    def on_bar(self, bar: BarReceived) -> None:
        """Trigger and fill this symbol's eligible pending orders against ``bar``."""
        book = self.books.get(bar[2])
        if book is None:
            return
        ts, open_, high, low = bar[0], bar[4], bar[5], bar[6]
        market, stops, stop_limits, limits = book
        if market:
            for order in list(market.values()):
                if order.eligible_after_ns < ts and order.order_id in self._orders:
                    self._fill(order, open_, ts)
        if stops:
            for order in list(stops.values()):
                if order.eligible_after_ns < ts and order.order_id in self._orders:
                    stop = order.stop_price
                    if order.side is TradeSide.BUY:
                        if high >= stop:
                            self._fill(order, max(stop, open_), ts)
                    elif low <= stop:
                        self._fill(order, min(stop, open_), ts)
        if stop_limits:
            for order in list(stop_limits.values()):
                if order.eligible_after_ns >= ts or order.order_id not in self._orders:
                    continue
                stop = order.stop_price
                if high >= stop if order.side is TradeSide.BUY else low <= stop:
                    del stop_limits[order.order_id]  # triggered: a limit order from now on
                    limits[order.order_id] = order
        if limits:
            for order in list(limits.values()):
                if order.eligible_after_ns < ts and order.order_id in self._orders:
                    limit = order.limit_price
                    if order.side is TradeSide.BUY:
                        if low <= limit:
                            self._fill(order, min(limit, open_), ts)
                    elif high >= limit:
                        self._fill(order, max(limit, open_), ts)

    def expire_all(self, ts_ns: int) -> None:
        """End of data: requests still on their way arrive (latency), then every pending
        order expires, in submission order."""
        if self.matcher is not None:
            self.matcher.arrive_all(ts_ns)
        for order in sorted(self._orders.values(), key=lambda o: o.seq):
            self._remove(order.order_id)
            self._respond(
                OrderExpired,
                ts_ns,
                order.order_id,
                broker_order_id=order.broker_id,
                symbol=order.symbol,
            )

    def _fill(self, order: _Order, price: float, ts: int) -> None:
        self._remove(order.order_id)
        self._fill_seq += 1
        self._respond(
            FillEvent,
            ts,
            order.order_id,
            broker_order_id=order.broker_id,
            symbol=order.symbol,
            fill_id=f"F{self._fill_seq:06d}",
            broker_fill_id=None,
            side=order.side,
            quantity_filled=order.quantity,
            fill_price=price,
            commission=self.commission(order.quantity),
        )

    def fill_part(
        self, order: _Order, quantity: float, price: float, ts: int, ts_broker: int
    ) -> None:
        """Fill ``quantity`` of ``order`` (all that remains, or part of it) at ``price``.

        ``ts`` is the bar the fill belongs to, ``ts_broker`` the (finer) bar it happened on.
        The fill pays max(cumulative filled quantity × rate, minimum) minus what the order
        paid already, so the minimum applies once per order.
        """
        rest = order.quantity - order.filled - quantity
        order.filled = order.quantity if rest <= QUANTITY_EPSILON else order.filled + quantity
        due = self.commission(order.filled) - order.paid
        order.paid += due
        done = rest <= QUANTITY_EPSILON
        if done:
            self._remove(order.order_id)
        self._fill_seq += 1
        self._respond(
            FillEvent,
            ts,
            order.order_id,
            ts_broker=ts_broker,
            broker_order_id=order.broker_id,
            symbol=order.symbol,
            fill_id=f"F{self._fill_seq:06d}",
            broker_fill_id=None,
            side=order.side,
            quantity_filled=quantity,
            fill_price=price,
            commission=due,
        )
        if done and self.matcher is not None:
            self.matcher.on_order_done(order.order_id, ts, ts_broker)

    def respond(self, *args: Any, **fields: Any) -> None:
        """Publish a broker response (for the matcher): ``_respond``'s arguments."""
        self._respond(*args, **fields)

    def pending_order(self, order_id: str) -> _Order | None:
        return self._orders.get(order_id)

    def remove(self, order_id: str) -> _Order | None:
        return self._remove(order_id)

    def _respond(
        self,
        event_type: type[BrokerResponse],
        ts: int,
        order_id: str,
        rejection_reason: RejectionReason | None = None,
        rejection_message: str | None = None,
        ts_broker: int | None = None,
        **fields: Any,
    ) -> None:
        """Publish a broker response stamped with simulated time ``ts`` (event, created,
        and broker time unless ``ts_broker`` says when within the bar it happened).

        Rejections pass their reason and message positionally; other responses their fields.
        """
        if rejection_reason is not None:
            fields["rejection_reason"] = rejection_reason
            fields["rejection_message"] = rejection_message
        self._publish(
            event_type(
                ts_event_ns=ts,
                ts_created_ns=ts,
                ts_broker_ns=ts if ts_broker is None else ts_broker,
                associated_order_id=order_id,
                **fields,
            )
        )

    def _remove(self, order_id: str) -> _Order | None:
        order = self._orders.pop(order_id, None)
        if order is None:
            return None
        book = self.books[order.symbol]
        for orders in book:
            if orders.pop(order_id, None) is not None:
                break
        if not any(book):
            del self.books[order.symbol]
        return order


def _above_filled(quantity: float, order: _Order) -> bool:
    return quantity - order.filled > QUANTITY_EPSILON


def _unbound(event: Any) -> None:
    raise RuntimeError("SimulatedBroker.bind(publish) must be called before requests are sent")
