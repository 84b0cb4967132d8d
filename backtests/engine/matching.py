"""The broker's general rules: the strict and intrabar fill models, slippage, volume caps and
latency (``fill_model.FillConfig``). The classic model without costs never comes here: it is
``SimulatedBroker.on_bar``, the fast path.

Per bar of a symbol with pending orders (all prices of one bar or finer bar):

- **Prices** as classic: market orders at the open; stops at the worse of stop and open;
  limits at the better of limit and open. A stop-limit triggered at the open is a limit
  from the open on. One triggered *inside* the bar fills, under ``classic``, as a limit at
  the better of limit and open; under ``strict`` and ``intrabar`` at its stop price (or at
  its limit when the limit lies beyond the stop: the price has to come back to it).
- **Order of fills**: under ``classic`` the original's (market, stops, limits, then the
  stop-limits triggered on this bar). Under ``strict`` and ``intrabar``, what the open
  decides comes first (in that order), then what is reached later in the bar (in that order).
- **Ambiguous bars** (``strict`` and ``intrabar``): two or more different price levels of
  working orders are reached after the open, a stop-limit triggers after the open, or an
  order, a modification or a cancellation reaches the broker inside the bar (latency) and the
  bar reaches that order's level (as it stands or as the modification moves it).
  ``intrabar`` walks such a bar's finer bars with the same rules, fills stamped with the
  bar's time (``ts_event_ns``) and the finer bar's (``ts_broker_ns``); when there are none,
  or they do not span the bar's high and low, the bar is ``unresolved`` and filled as
  ``strict`` fills it. ``strict`` counts ambiguous bars (all unresolved).
- **Slippage** (ticks or basis points) moves market and stop fills, and a stop-limit's fill
  at its trigger (never beyond its limit), against the trader. Limit fills do not slip.
- **Participation cap**: the orders of a symbol take at most ``cap`` × the (finer) bar's
  volume together, in fill order; the rest stays working (a triggered stop's rest as a
  market order, a triggered stop-limit's as a limit order). No volume, no cap.
- **Latency**: an order decided on the bar starting at t is sent at t + bar period (the
  strategy decides at the end of its bar) and reaches the broker ``latency`` later; it can
  fill from the first (finer) bar starting at or after that moment. Modifications and
  cancellations reach the broker the same way and are answered then; until then the order
  works as it stood. With no latency, all take effect before the next bar, as in classic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from backtests.engine.enums import RejectionReason, TradeSide
from backtests.engine.events import (
    BarReceived,
    CancellationAccepted,
    CancellationRejected,
    ModificationRejected,
    OrderCancellationRequest,
    OrderModificationRequest,
)
from backtests.engine.fill_model import FillConfig, FillModel

QUANTITY_EPSILON = 1e-9  # remaining quantities below this are filled

MSG_NEEDS_FINER_BARS = "the intrabar fill model needs a finer-bars provider"
MSG_NO_TICK_SIZE = (
    "slippage in ticks needs the tick size of {symbol!r}: its prices did not show one;"
    " give tick_size"
)
MSG_FILLED_FIRST = "order {order_id} filled before the {what} reached the broker"

_BUY = TradeSide.BUY
# How a fill price takes slippage.
_SLIP, _SLIP_CAPPED, _NO_SLIP = 0, 1, 2
# Ranks within a phase: the original's order of order types.
_MARKET, _STOP, _LIMIT, _TRIGGERED = 0, 1, 2, 3


class Matcher:
    """Fills a ``SimulatedBroker``'s orders under a ``FillConfig`` other than plain classic."""

    def __init__(
        self,
        broker: Any,
        config: FillConfig,
        *,
        finer_bars: Any = None,
        tick_sizes: Mapping[str, float],
    ) -> None:
        if config.model is FillModel.INTRABAR and finer_bars is None:
            raise ValueError(MSG_NEEDS_FINER_BARS)
        self.broker = broker
        self.books = broker.books
        self.phased = config.model is not FillModel.CLASSIC
        self.intrabar = config.model is FillModel.INTRABAR
        self.cap = config.participation_cap
        self.latency_ns = config.latency_ns
        self.defers = self.latency_ns > 0
        self.slip_ticks = config.slippage_ticks
        self.slip_bps = config.slippage_bps
        self.tick_size = config.tick_size
        self.tick_sizes = dict(tick_sizes)
        self.finer_bars = finer_bars
        # order id -> modification and cancellation requests on their way (latency)
        self.pending: dict[str, list[OrderModificationRequest | OrderCancellationRequest]] = {}
        self.ambiguous_bars = 0
        self.resolved_bars = 0
        self.unresolved_bars = 0

    def stats(self) -> dict[str, int] | None:
        if not self.phased:
            return None
        return {
            "ambiguous_bars": self.ambiguous_bars,
            "resolved_bars": self.resolved_bars,
            "unresolved_bars": self.unresolved_bars,
        }

    # --- bars ------------------------------------------------------------------------------

    def on_bar(self, bar: BarReceived) -> None:
        symbol = bar[2]
        book = self.books.get(symbol)
        if book is None:
            return
        ts = bar[0]
        period = bar[3].nanoseconds
        if self.pending:  # requests that reached the broker by the bar's start
            self._arrive(symbol, ts, ts, period)
            book = self.books.get(symbol)
            if book is None:
                return
        if (
            not book[0]
            and _quiet(book, bar[5], bar[6])
            and not (self.pending and self._requests_reach(symbol, bar[5], bar[6]))
        ):
            return  # no market order; no level, old or requested, within the bar's range
        # An order made on the bar starting at t may fill from the bar starting at
        # t + offset: the next bar without latency (as classic: any later bar).
        offset = period + self.latency_ns if self.latency_ns else 1
        if self.phased and self._ambiguous(book, bar, period, offset):
            self.ambiguous_bars += 1
            finer = self._finer(bar, period) if self.intrabar else None
            if finer:
                self.resolved_bars += 1
                self._walk_finer(symbol, ts, finer, period, offset)
                return
            self.unresolved_bars += 1
        self._match(book, ts, ts, bar[4], bar[5], bar[6], bar[8], offset)

    def _walk_finer(
        self, symbol: str, ts: int, finer: Sequence[BarReceived], period: int, offset: int
    ) -> None:
        """Match the finer bars of the bar starting at ``ts`` in order. A finer bar in which
        no working order's level is reached, no order becomes ready and no request arrives
        changes nothing: it is passed over without matching (``_watch``)."""
        watch = None
        for step in finer:
            if watch is not None:
                up, down, soon = watch
                if step[5] < up and step[6] > down and step[0] < soon:
                    continue
            if self.pending:
                self._arrive(symbol, step[0], ts, period)
            book = self.books.get(symbol)
            if book is None:
                return
            self._match(book, ts, step[0], step[4], step[5], step[6], step[8], offset)
            book = self.books.get(symbol)
            if book is None:
                return
            watch = self._watch(symbol, book, step[0], period, offset)

    def _watch(
        self, symbol: str, book: tuple, at: int, period: int, offset: int
    ) -> tuple[float, float, float] | None:
        """What makes a later (finer) bar worth matching, as of the bar at ``at``: a high at
        or above ``up`` (buy stops and stop-limits, sell limits), a low at or below ``down``
        (sell stops and stop-limits, buy limits), a start at or after ``soon`` (an order
        becoming ready, a request arriving). None when a market order works: every bar."""
        up, down, soon = math.inf, -math.inf, math.inf
        market, stops, stop_limits, limits = book
        for order in market.values():
            ready = order.eligible_after_ns + offset
            if ready <= at:
                return None
            soon = min(soon, ready)
        for orders, level in ((stops, "stop_price"), (stop_limits, "stop_price")):
            for order in orders.values():
                ready = order.eligible_after_ns + offset
                if ready > at:
                    soon = min(soon, ready)
                elif order.side is _BUY:
                    up = min(up, getattr(order, level))
                else:
                    down = max(down, getattr(order, level))
        for order in limits.values():
            ready = order.eligible_after_ns + offset
            if ready > at:
                soon = min(soon, ready)
            elif order.side is _BUY:
                down = max(down, order.limit_price)
            else:
                up = min(up, order.limit_price)
        if self.pending:
            for order_id, requests in self.pending.items():
                order = self.broker.pending_order(order_id)
                if order is not None and order.symbol == symbol:
                    for request in requests:
                        soon = min(soon, request.ts_event_ns + period + self.latency_ns)
        return up, down, soon

    def _finer(self, bar: BarReceived, period: int) -> Sequence[BarReceived] | None:
        """The finer bars of ``bar`` if they exist and span its high and low."""
        steps = self.finer_bars.finer_bars(bar[2], bar[0], bar[0] + period)
        if not steps:
            return None
        if max(step[5] for step in steps) != bar[5] or min(step[6] for step in steps) != bar[6]:
            return None
        return steps

    def _ambiguous(self, book: tuple, bar: BarReceived, period: int, offset: int) -> bool:
        """Whether the bar alone cannot tell in which order its fills happen (see above)."""
        ts, o, h, low = bar[0], bar[4], bar[5], bar[6]
        end = ts + period
        if self.pending and self._arrives_within(bar[2], ts, end, period, h, low):
            return True
        market, stops, stop_limits, limits = book
        levels: set[float] = set()
        for order in market.values():
            if ts < order.eligible_after_ns + offset < end:
                return True
        for order in stops.values():
            ready = order.eligible_after_ns + offset
            if ready > ts:
                if ready < end and _reachable(order, h, low):
                    return True  # arrives inside the bar, which reaches its level
                continue
            stop = order.stop_price
            if (o < stop <= h) if order.side is _BUY else (low <= stop < o):
                levels.add(stop)
        for order in stop_limits.values():
            ready = order.eligible_after_ns + offset
            if ready > ts:
                if ready < end and _reachable(order, h, low):
                    return True
                continue
            stop, limit = order.stop_price, order.limit_price
            if order.side is _BUY:
                if o < stop <= h:
                    return True
                if o >= stop and low <= limit < o:
                    levels.add(limit)
            else:
                if low <= stop < o:
                    return True
                if o <= stop and o < limit <= h:
                    levels.add(limit)
        for order in limits.values():
            ready = order.eligible_after_ns + offset
            if ready > ts:
                if ready < end and _reachable(order, h, low, limit_book=True):
                    return True
                continue
            limit = order.limit_price
            if (low <= limit < o) if order.side is _BUY else (o < limit <= h):
                levels.add(limit)
        return len(levels) >= 2

    def _match(
        self,
        book: tuple,
        ts: int,
        at: int,
        o: float,
        h: float,
        low: float,
        volume: int | None,
        offset: int,
    ) -> None:
        """Trigger and fill the book's orders ready at ``at`` against one (finer) bar's
        prices; fills belong to the bar starting at ``ts``."""
        market, stops, stop_limits, limits = book
        phased = self.phased
        entries: list[tuple] = []  # (phase, rank, order, price, slippage kind, rest's book)
        for order in list(market.values()):
            if order.eligible_after_ns + offset <= at:
                entries.append((0, _MARKET, order, o, _SLIP, None))
        for order in list(stops.values()):
            if order.eligible_after_ns + offset > at:
                continue
            stop = order.stop_price
            if order.side is _BUY:
                if o >= stop:
                    entries.append((0, _STOP, order, o, _SLIP, market))
                elif h >= stop:
                    entries.append((1, _STOP, order, stop, _SLIP, market))
            elif o <= stop:
                entries.append((0, _STOP, order, o, _SLIP, market))
            elif low <= stop:
                entries.append((1, _STOP, order, stop, _SLIP, market))
        for order in list(limits.values()):
            if order.eligible_after_ns + offset > at:
                continue
            limit = order.limit_price
            if order.side is _BUY:
                if o <= limit:
                    entries.append((0, _LIMIT, order, o, _NO_SLIP, None))
                elif low <= limit:
                    entries.append((1, _LIMIT, order, limit, _NO_SLIP, None))
            elif o >= limit:
                entries.append((0, _LIMIT, order, o, _NO_SLIP, None))
            elif h >= limit:
                entries.append((1, _LIMIT, order, limit, _NO_SLIP, None))
        for order in list(stop_limits.values()):
            if order.eligible_after_ns + offset > at:
                continue
            entry = _stop_limit_entry(order, o, h, low, phased)
            if entry is False:
                continue  # not triggered
            del stop_limits[order.order_id]  # triggered: a limit order from now on
            limits[order.order_id] = order
            if entry is not None:
                entries.append(entry)
        if not entries:
            return
        entries.sort(key=_phase_rank if phased else _rank)
        budget = None if self.cap is None or volume is None else self.cap * volume
        alive = self.broker.pending_order
        for _phase, _kind, order, price, slip, rest_book in entries:
            if alive(order.order_id) is None:
                continue
            remaining = order.quantity - order.filled
            quantity = remaining if budget is None else min(remaining, budget)
            if quantity > QUANTITY_EPSILON:
                if slip != _NO_SLIP and (self.slip_ticks or self.slip_bps):
                    price = self._slipped(order, price, slip)
                if budget is not None:
                    budget -= quantity
                self.broker.fill_part(order, quantity, price, ts, at)
            if rest_book is not None and alive(order.order_id) is not None:
                del stops[order.order_id]  # a triggered stop: a market order from now on
                rest_book[order.order_id] = order

    def _slipped(self, order: Any, price: float, slip: int) -> float:
        if self.slip_ticks:
            tick = self.tick_size or self.tick_sizes.get(order.symbol)
            if tick is None:
                raise ValueError(MSG_NO_TICK_SIZE.format(symbol=order.symbol))
            amount = self.slip_ticks * tick
        else:
            amount = price * self.slip_bps / 10_000
        if order.side is _BUY:
            price += amount
            return min(price, order.limit_price) if slip == _SLIP_CAPPED else price
        price -= amount
        return max(price, order.limit_price) if slip == _SLIP_CAPPED else price

    # --- latency ---------------------------------------------------------------------------

    def defer(self, request: OrderModificationRequest | OrderCancellationRequest) -> None:
        """Hold a checked modification or cancellation until it reaches the broker."""
        self.pending.setdefault(request.system_order_id, []).append(request)

    def _arrives_within(
        self, symbol: str, ts: int, end: int, period: int, high: float, low: float
    ) -> bool:
        """Whether a request reaches the broker inside the bar for an order the bar can
        reach, as it stands or as the request changes it."""
        books = self.books.get(symbol)
        for order_id, requests in self.pending.items():
            order = self.broker.pending_order(order_id)
            if order is None or order.symbol != symbol:
                continue
            if not any(ts < r.ts_event_ns + period + self.latency_ns < end for r in requests):
                continue
            limit_book = books is not None and order_id in books[3]
            in_market = books is not None and order_id in books[0]
            if in_market or _reachable(order, high, low, limit_book=limit_book):
                return True
            if _modification_reaches(order, requests, high, low, limit_book=limit_book):
                return True
        return False

    def _requests_reach(self, symbol: str, high: float, low: float) -> bool:
        """Whether a modification on its way for ``symbol`` moves a level into the range."""
        books = self.books.get(symbol)
        for order_id, requests in self.pending.items():
            order = self.broker.pending_order(order_id)
            if order is None or order.symbol != symbol:
                continue
            limit_book = books is not None and order_id in books[3]
            if _modification_reaches(order, requests, high, low, limit_book=limit_book):
                return True
        return False

    def _arrive(self, symbol: str, at: int, ts: int, period: int) -> None:
        """Carry out the requests of ``symbol``'s orders that reached the broker by ``at``."""
        for order_id in list(self.pending):
            order = self.broker.pending_order(order_id)
            if order is None or order.symbol != symbol:
                continue
            requests = self.pending[order_id]
            while requests and requests[0].ts_event_ns + period + self.latency_ns <= at:
                self._carry_out(order, requests.pop(0), ts, at)
                if self.broker.pending_order(order_id) is None:
                    break
            if not requests:
                self.pending.pop(order_id, None)

    def _carry_out(self, order: Any, request: Any, ts: int, at: int) -> None:
        broker = self.broker
        if isinstance(request, OrderCancellationRequest):
            broker.remove(order.order_id)
            broker.respond(
                CancellationAccepted,
                ts,
                order.order_id,
                ts_broker=at,
                broker_order_id=order.broker_id,
            )
            self.on_order_done(order.order_id, ts, at)
            return
        if request.quantity is not None and request.quantity - order.filled <= QUANTITY_EPSILON:
            broker.respond(
                ModificationRejected,
                ts,
                order.order_id,
                RejectionReason.INVALID_QUANTITY,
                filled_quantity_message(order),
                ts_broker=at,
            )
            return
        broker.apply_modification(order, request, ts, at, arrived_late=True)

    def on_order_done(self, order_id: str, ts: int, at: int) -> None:
        """An order filled, was cancelled or expired: requests still on their way to it are
        refused when they arrive, which is now (the broker knows no such order)."""
        for request in self.pending.pop(order_id, ()):
            cancel = isinstance(request, OrderCancellationRequest)
            self.broker.respond(
                CancellationRejected if cancel else ModificationRejected,
                ts,
                order_id,
                RejectionReason.UNKNOWN_ORDER,
                MSG_FILLED_FIRST.format(
                    order_id=order_id, what="cancellation" if cancel else "modification"
                ),
                ts_broker=at,
            )

    def arrive_all(self, ts: int) -> None:
        """End of data: every request on its way arrives."""
        for order_id in list(self.pending):
            requests = self.pending.get(order_id)
            while requests:  # a cancellation answers the requests after it (on_order_done)
                request = requests.pop(0)
                self._carry_out(self.broker.pending_order(order_id), request, ts, ts)
                requests = self.pending.get(order_id)
            self.pending.pop(order_id, None)


def _modification_reaches(
    order: Any, requests: Any, high: float, low: float, *, limit_book: bool
) -> bool:
    """Whether one of ``requests`` (on their way) modifies ``order``'s levels into the range."""
    return any(
        isinstance(request, OrderModificationRequest)
        and _reachable(
            order,
            high,
            low,
            limit_book=limit_book,
            stop=request.stop_price,
            limit=request.limit_price,
        )
        for request in requests
    )


def _reachable(
    order: Any,
    high: float,
    low: float,
    *,
    limit_book: bool = False,
    stop: float | None = None,
    limit: float | None = None,
) -> bool:
    """Whether a bar with this range can trigger or fill ``order`` (with the ``stop`` and
    ``limit`` a modification asks for, when given). Stops and stop-limits (unless in the
    limit book: triggered) by their stop price, limits by their limit price; market orders
    always."""
    stop = order.stop_price if stop is None else stop
    limit = order.limit_price if limit is None else limit
    if stop is not None and not limit_book:
        return high >= stop if order.side is _BUY else low <= stop
    if limit is not None:
        return low <= limit if order.side is _BUY else high >= limit
    return True


def _quiet(book: tuple, high: float, low: float) -> bool:
    """Whether no stop, stop-limit or limit level of the book lies within [low, high]: then
    nothing fills, triggers or is ambiguous on the bar (nor on its finer bars)."""
    _, stops, stop_limits, limits = book
    for orders in (stops, stop_limits):
        for order in orders.values():
            if high >= order.stop_price if order.side is _BUY else low <= order.stop_price:
                return False
    for order in limits.values():
        if low <= order.limit_price if order.side is _BUY else high >= order.limit_price:
            return False
    return True


def filled_quantity_message(order: Any) -> str:
    return (
        f"order {order.order_id} has filled {order.filled:g} of {order.quantity:g} already;"
        " a new quantity (the order's total) must be larger than what has filled"
    )


def _rank(entry: tuple) -> int:
    return entry[1]


def _phase_rank(entry: tuple) -> tuple[int, int]:
    return entry[0], entry[1]


def _stop_limit_entry(order: Any, o: float, h: float, low: float, strict: bool) -> Any:
    """What a pending stop-limit does on a bar: False (not triggered), None (triggered, its
    limit not reached) or the fill entry (phase, rank, order, price, slippage, None)."""
    stop, limit = order.stop_price, order.limit_price
    if order.side is _BUY:
        if o >= stop:  # triggered at the open: a limit order from the open on
            if o <= limit:
                return (0, _TRIGGERED, order, o, _SLIP_CAPPED, None)
            return (1, _TRIGGERED, order, limit, _NO_SLIP, None) if low <= limit else None
        if h < stop:
            return False
        if not strict:  # classic: a limit at the better of limit and open
            if low > limit:
                return None
            return (1, _TRIGGERED, order, min(limit, o), _SLIP_CAPPED, None)
        if limit >= stop:
            return (1, _TRIGGERED, order, stop, _SLIP_CAPPED, None)
        return (1, _TRIGGERED, order, limit, _NO_SLIP, None) if low <= limit else None
    if o <= stop:
        if o >= limit:
            return (0, _TRIGGERED, order, o, _SLIP_CAPPED, None)
        return (1, _TRIGGERED, order, limit, _NO_SLIP, None) if h >= limit else None
    if low > stop:
        return False
    if not strict:
        if h < limit:
            return None
        return (1, _TRIGGERED, order, max(limit, o), _SLIP_CAPPED, None)
    if limit <= stop:
        return (1, _TRIGGERED, order, stop, _SLIP_CAPPED, None)
    return (1, _TRIGGERED, order, limit, _NO_SLIP, None) if h >= limit else None
