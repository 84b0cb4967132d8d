"""Simulated broker: trigger and fill prices, commissions, modifications, cancellations,
rejections and the no-look-ahead rule, on hand-built bars with hand-computed answers."""

from __future__ import annotations

import math

import pytest

from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import OrderType, RejectionReason, TradeSide
from backtests.engine.events import (
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
from tests.backtests.engine.bars import SECOND, bar

BUY, SELL = TradeSide.BUY, TradeSide.SELL
MARKET, LIMIT, STOP, STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)


class Harness:
    def __init__(self, **commission) -> None:
        self.broker = SimulatedBroker(**commission)
        self.events: list = []
        self.broker.bind(self.events.append)
        self.seq = 0

    def submit(self, t, order_type, side, quantity=1.0, limit=None, stop=None, symbol="AAA") -> str:
        self.seq += 1
        oid = f"O{self.seq:06d}"
        self.broker.on_submission(
            OrderSubmissionRequest(
                ts_event_ns=t * SECOND,
                ts_created_ns=t * SECOND,
                system_order_id=oid,
                symbol=symbol,
                order_type=order_type,
                side=side,
                quantity=quantity,
                limit_price=limit,
                stop_price=stop,
            )
        )
        return oid

    def modify(self, t, oid, quantity=None, limit=None, stop=None) -> None:
        self.broker.on_modification(
            OrderModificationRequest(
                ts_event_ns=t * SECOND,
                ts_created_ns=t * SECOND,
                system_order_id=oid,
                symbol="AAA",
                quantity=quantity,
                limit_price=limit,
                stop_price=stop,
            )
        )

    def cancel(self, t, oid) -> None:
        self.broker.on_cancellation(
            OrderCancellationRequest(
                ts_event_ns=t * SECOND,
                ts_created_ns=t * SECOND,
                system_order_id=oid,
                symbol="AAA",
            )
        )

    def feed(self, *bars) -> list[FillEvent]:
        start = len(self.events)
        for b in bars:
            self.broker.on_bar(b)
        return [e for e in self.events[start:] if isinstance(e, FillEvent)]

    def last(self):
        return self.events[-1]


def fills_of(fills):
    return [(f.associated_order_id, f.side, f.quantity_filled, f.fill_price) for f in fills]


# --- market -------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [BUY, SELL])
def test_market_order_next_bar_fills_at_open(side):
    h = Harness()
    oid = h.submit(1, MARKET, side, 2.0)
    fills = h.feed(bar(2, 10.0, 11.0, 9.0, 10.5))
    assert fills_of(fills) == [(oid, side, 2.0, 10.0)]
    f = fills[0]
    assert (f.ts_event_ns, f.ts_broker_ns, f.fill_id, f.broker_order_id) == (
        2 * SECOND,
        2 * SECOND,
        "F000001",
        "B000001",
    )


def test_market_order_submitting_bar_does_not_fill():
    h = Harness()
    h.submit(1, MARKET, BUY)
    assert h.feed(bar(1, 10.0, 11.0, 9.0, 10.5)) == []
    assert fills_of(h.feed(bar(2, 12.0, 12.5, 11.5, 12.0)))[0][3] == 12.0


def test_order_other_symbol_bars_do_not_fill():
    h = Harness()
    h.submit(1, MARKET, BUY, symbol="BBB")
    assert h.feed(bar(2, 10.0, 11.0, 9.0, 10.5, symbol="AAA")) == []
    assert fills_of(h.feed(bar(2, 20.0, 21.0, 19.0, 20.5, symbol="BBB")))[0][3] == 20.0


# --- stop ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "stop", "bars", "expected"),
    [
        # buy stop 10.5: high 10.4 does not trigger, high 10.8 fills at the stop
        (BUY, 10.5, [(10.0, 10.4, 9.8, 10.2), (10.2, 10.8, 10.1, 10.6)], 10.5),
        # buy stop 10.5, gap above at the open 11.0: fills at the worse price, the open
        (BUY, 10.5, [(11.0, 11.5, 10.9, 11.2)], 11.0),
        # buy stop touched exactly by the high
        (BUY, 10.5, [(10.0, 10.5, 9.9, 10.1)], 10.5),
        # sell stop 9.5: low 9.6 does not trigger, low 9.2 fills at the stop
        (SELL, 9.5, [(10.0, 10.1, 9.6, 9.9), (9.8, 9.9, 9.2, 9.3)], 9.5),
        # sell stop 9.5, gap below at the open 9.0: fills at the open
        (SELL, 9.5, [(9.0, 9.3, 8.8, 9.1)], 9.0),
    ],
)
def test_stop_order_trigger_and_fill_price(side, stop, bars, expected):
    h = Harness()
    oid = h.submit(0, STOP, side, stop=stop)
    fills = h.feed(*(bar(i + 1, *ohlc) for i, ohlc in enumerate(bars)))
    assert fills_of(fills) == [(oid, side, 1.0, expected)]
    assert fills[0].ts_event_ns == len(bars) * SECOND


# --- limit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "limit", "bars", "expected"),
    [
        # buy limit 9.5: low 9.6 no fill; low 9.4 with open 10.0 fills at the limit
        (BUY, 9.5, [(10.0, 10.2, 9.6, 10.1), (10.0, 10.1, 9.4, 9.7)], 9.5),
        # buy limit 9.5, gap down to an open of 9.2: fills at the better price, the open
        (BUY, 9.5, [(9.2, 9.4, 9.0, 9.3)], 9.2),
        # sell limit 10.5: high 10.4 no fill; high 10.6 with open 10.0 fills at the limit
        (SELL, 10.5, [(10.0, 10.4, 9.9, 10.1), (10.0, 10.6, 9.9, 10.3)], 10.5),
        # sell limit 10.5, gap up to an open of 10.8: fills at the open
        (SELL, 10.5, [(10.8, 11.0, 10.7, 10.9)], 10.8),
    ],
)
def test_limit_order_trigger_and_fill_price(side, limit, bars, expected):
    h = Harness()
    oid = h.submit(0, LIMIT, side, limit=limit)
    fills = h.feed(*(bar(i + 1, *ohlc) for i, ohlc in enumerate(bars)))
    assert fills_of(fills) == [(oid, side, 1.0, expected)]


# --- stop-limit ---------------------------------------------------------------------------


def test_stop_limit_buy_triggers_and_fills_same_bar():
    h = Harness()
    oid = h.submit(0, STOP_LIMIT, BUY, stop=10.5, limit=10.6)
    # high 10.7 >= stop triggers; as a limit: low 9.9 <= 10.6, fill at min(10.6, open 10.0)
    assert fills_of(h.feed(bar(1, 10.0, 10.7, 9.9, 10.4))) == [(oid, BUY, 1.0, 10.0)]


def test_stop_limit_sell_triggers_and_fills_same_bar():
    h = Harness()
    oid = h.submit(0, STOP_LIMIT, SELL, stop=9.5, limit=9.4)
    # low 9.3 <= stop triggers; as a limit: high 9.7 >= 9.4, fill at max(9.4, open 9.6)
    assert fills_of(h.feed(bar(1, 9.6, 9.7, 9.3, 9.35))) == [(oid, SELL, 1.0, 9.6)]


def test_stop_limit_triggered_limit_not_reached_fills_later_as_limit():
    h = Harness()
    oid = h.submit(0, STOP_LIMIT, BUY, stop=10.5, limit=10.6)
    # gap to 10.8: triggered (high 11.0 >= 10.5) but low 10.7 > limit 10.6: no fill
    assert h.feed(bar(1, 10.8, 11.0, 10.7, 10.9)) == []
    # now a resting buy limit at 10.6: high below the stop no longer matters
    assert h.feed(bar(2, 10.9, 10.95, 10.65, 10.7)) == []
    assert fills_of(h.feed(bar(3, 10.7, 10.75, 10.55, 10.6))) == [(oid, BUY, 1.0, 10.6)]


def test_stop_limit_not_triggered_does_not_fill_even_if_limit_reached():
    h = Harness()
    h.submit(0, STOP_LIMIT, BUY, stop=10.5, limit=10.6)
    # low 9.0 would satisfy the limit, but high 10.4 never reached the stop
    assert h.feed(bar(1, 10.0, 10.4, 9.0, 10.2)) == []


# --- processing order, commissions --------------------------------------------------------


def test_bar_processing_order_market_stop_stoplimit_limit():
    h = Harness()
    limit = h.submit(0, LIMIT, BUY, limit=10.0)
    stop_limit = h.submit(0, STOP_LIMIT, BUY, stop=10.1, limit=10.5)
    stop = h.submit(0, STOP, BUY, stop=10.2)
    market = h.submit(0, MARKET, BUY)
    fills = h.feed(bar(1, 10.0, 10.5, 9.5, 10.3))
    # the triggered stop-limit joins the limit orders behind the resting limit (as in the
    # original engine), so the limit pass fills the older limit order first
    assert [f.associated_order_id for f in fills] == [market, stop, limit, stop_limit]
    assert [f.fill_id for f in fills] == ["F000001", "F000002", "F000003", "F000004"]


@pytest.mark.parametrize(("quantity", "expected"), [(50.0, 1.0), (500.0, 5.0), (100.0, 1.0)])
def test_commission_per_unit_with_minimum(quantity, expected):
    h = Harness(commission_per_unit=0.01, minimum_commission=1.0)
    h.submit(0, MARKET, BUY, quantity)
    (fill,) = h.feed(bar(1, 10.0, 10.0, 10.0, 10.0))
    assert fill.commission == pytest.approx(expected)


def test_commission_default_is_zero():
    h = Harness()
    h.submit(0, MARKET, SELL, 3.0)
    assert h.feed(bar(1, 10.0, 10.0, 10.0, 10.0))[0].commission == 0.0


# --- responses, modification, cancellation, expiry ----------------------------------------


def test_accepted_submission_carries_broker_id():
    h = Harness()
    h.submit(5, LIMIT, BUY, limit=9.0)
    h.submit(5, MARKET, SELL)
    accepted = [e for e in h.events if isinstance(e, OrderAccepted)]
    assert [(a.associated_order_id, a.broker_order_id) for a in accepted] == [
        ("O000001", "B000001"),
        ("O000002", "B000002"),
    ]
    assert accepted[0].ts_event_ns == accepted[0].ts_broker_ns == 5 * SECOND


def test_modification_reprices_limit_order():
    h = Harness()
    oid = h.submit(0, LIMIT, BUY, limit=9.0)
    h.modify(0, oid, limit=9.5, quantity=3.0)
    assert isinstance(h.last(), ModificationAccepted) and h.last().broker_order_id == "B000001"
    # low 9.4 reaches the new limit 9.5 (not the old 9.0); open 10.0 -> fill at 9.5, 3 units
    assert fills_of(h.feed(bar(1, 10.0, 10.1, 9.4, 9.8))) == [(oid, BUY, 3.0, 9.5)]


def test_modification_moves_stop():
    h = Harness()
    oid = h.submit(0, STOP, SELL, stop=9.0)
    h.modify(0, oid, stop=9.8)
    assert fills_of(h.feed(bar(1, 10.0, 10.1, 9.7, 9.9))) == [(oid, SELL, 1.0, 9.8)]


def test_modified_order_not_eligible_on_bar_of_modification_timestamp():
    h = Harness()
    oid = h.submit(1, LIMIT, BUY, limit=9.0)
    h.modify(2, oid, limit=9.5)
    assert h.feed(bar(2, 10.0, 10.1, 9.4, 9.8)) == []  # modified while processing t=2
    assert fills_of(h.feed(bar(3, 10.0, 10.1, 9.4, 9.8))) == [(oid, BUY, 1.0, 9.5)]


def test_cancellation_accepted_then_no_fill():
    h = Harness()
    oid = h.submit(0, LIMIT, BUY, limit=9.5)
    h.cancel(0, oid)
    assert isinstance(h.last(), CancellationAccepted) and h.last().broker_order_id == "B000001"
    assert h.feed(bar(1, 9.0, 9.1, 8.9, 9.0)) == []
    assert h.broker.pending_count() == 0 and h.broker.books == {}


@pytest.mark.parametrize("state", ["never_submitted", "filled", "cancelled"])
def test_cancel_and_modify_unknown_order_rejected(state):
    h = Harness()
    oid = "O000099"
    if state != "never_submitted":
        oid = h.submit(0, MARKET, BUY)
        if state == "filled":
            h.feed(bar(1, 10.0, 10.0, 10.0, 10.0))
        else:
            h.cancel(0, oid)
    h.cancel(2, oid)
    rejected = h.last()
    assert isinstance(rejected, CancellationRejected)
    assert rejected.rejection_reason is RejectionReason.UNKNOWN_ORDER
    assert rejected.rejection_message == (
        f"no pending order {oid!r} (never accepted, or already filled, cancelled or expired)"
    )
    h.modify(2, oid, quantity=2.0)
    assert isinstance(h.last(), ModificationRejected)
    assert h.last().rejection_reason is RejectionReason.UNKNOWN_ORDER


@pytest.mark.parametrize(
    ("order_type", "quantity", "limit", "stop", "reason", "message"),
    [
        (
            MARKET,
            0.0,
            None,
            None,
            RejectionReason.INVALID_QUANTITY,
            "quantity must be a positive finite number, got 0.0",
        ),
        (
            MARKET,
            -1.0,
            None,
            None,
            RejectionReason.INVALID_QUANTITY,
            "quantity must be a positive finite number, got -1.0",
        ),
        (
            MARKET,
            math.nan,
            None,
            None,
            RejectionReason.INVALID_QUANTITY,
            "quantity must be a positive finite number, got nan",
        ),
        (
            LIMIT,
            1.0,
            None,
            None,
            RejectionReason.INVALID_LIMIT_PRICE,
            "LIMIT order needs a positive finite limit_price, got None",
        ),
        (
            LIMIT,
            1.0,
            -2.0,
            None,
            RejectionReason.INVALID_LIMIT_PRICE,
            "LIMIT order needs a positive finite limit_price, got -2.0",
        ),
        (
            STOP,
            1.0,
            None,
            None,
            RejectionReason.INVALID_STOP_PRICE,
            "STOP order needs a positive finite stop_price, got None",
        ),
        (
            STOP,
            1.0,
            None,
            0.0,
            RejectionReason.INVALID_STOP_PRICE,
            "STOP order needs a positive finite stop_price, got 0.0",
        ),
        (
            STOP_LIMIT,
            1.0,
            None,
            10.0,
            RejectionReason.INVALID_LIMIT_PRICE,
            "STOP_LIMIT order needs a positive finite limit_price, got None",
        ),
        (
            STOP_LIMIT,
            1.0,
            10.0,
            None,
            RejectionReason.INVALID_STOP_PRICE,
            "STOP_LIMIT order needs a positive finite stop_price, got None",
        ),
        (
            MARKET,
            1.0,
            10.0,
            None,
            RejectionReason.INVALID_LIMIT_PRICE,
            "MARKET order takes no limit_price, got 10.0",
        ),
        (
            LIMIT,
            1.0,
            10.0,
            9.0,
            RejectionReason.INVALID_STOP_PRICE,
            "LIMIT order takes no stop_price, got 9.0",
        ),
    ],
)
def test_invalid_submission_rejected_with_reason(
    order_type, quantity, limit, stop, reason, message
):
    h = Harness()
    oid = h.submit(3, order_type, BUY, quantity, limit=limit, stop=stop)
    rejected = h.last()
    assert isinstance(rejected, OrderRejected)
    assert (
        rejected.associated_order_id,
        rejected.rejection_reason,
        rejected.rejection_message,
    ) == (
        oid,
        reason,
        message,
    )
    assert rejected.ts_broker_ns == 3 * SECOND
    assert h.broker.pending_count() == 0


@pytest.mark.parametrize(
    ("order_type", "change", "reason", "message"),
    [
        (
            LIMIT,
            {"quantity": 0.0},
            RejectionReason.INVALID_QUANTITY,
            "quantity must be a positive finite number, got 0.0",
        ),
        (
            LIMIT,
            {"limit": -1.0},
            RejectionReason.INVALID_LIMIT_PRICE,
            "LIMIT order needs a positive finite limit_price, got -1.0",
        ),
        (
            STOP,
            {"stop": math.inf},
            RejectionReason.INVALID_STOP_PRICE,
            "STOP order needs a positive finite stop_price, got inf",
        ),
        (
            MARKET,
            {"limit": 10.0},
            RejectionReason.ORDER_NOT_MODIFIABLE,
            "MARKET order O000001 has no limit price to modify",
        ),
        (
            LIMIT,
            {"stop": 10.0},
            RejectionReason.ORDER_NOT_MODIFIABLE,
            "LIMIT order O000001 has no stop price to modify",
        ),
    ],
)
def test_invalid_modification_rejected_order_unchanged(order_type, change, reason, message):
    h = Harness()
    prices = {LIMIT: {"limit": 9.5}, STOP: {"stop": 10.5}, MARKET: {}}[order_type]
    oid = h.submit(0, order_type, BUY, **prices)
    h.modify(0, oid, **change)
    rejected = h.last()
    assert isinstance(rejected, ModificationRejected)
    assert (rejected.rejection_reason, rejected.rejection_message) == (reason, message)
    # the order still fills with its original terms on a bar that satisfies them
    fills = h.feed(bar(1, 10.0, 11.0, 9.0, 10.0))
    expected = {LIMIT: 9.5, STOP: 10.5, MARKET: 10.0}[order_type]
    assert fills_of(fills) == [(oid, BUY, 1.0, expected)]


def test_duplicate_order_id_rejected():
    h = Harness()
    h.submit(0, LIMIT, BUY, limit=9.0)
    h.seq = 0
    h.submit(0, LIMIT, BUY, limit=9.0)
    assert isinstance(h.last(), OrderRejected)
    assert h.last().rejection_message == "order id 'O000001' is already pending"


def test_expire_all_pending_in_submission_order():
    h = Harness()
    a = h.submit(0, LIMIT, BUY, limit=1.0)
    b = h.submit(0, STOP, SELL, stop=1.0, symbol="BBB")
    h.broker.expire_all(7 * SECOND)
    expired = [e for e in h.events if isinstance(e, OrderExpired)]
    assert [
        (e.associated_order_id, e.symbol, e.broker_order_id, e.ts_event_ns) for e in expired
    ] == [
        (a, "AAA", "B000001", 7 * SECOND),
        (b, "BBB", "B000002", 7 * SECOND),
    ]
    assert h.broker.pending_count() == 0


@pytest.mark.parametrize(
    "kwargs", [{"commission_per_unit": -1.0}, {"minimum_commission": math.nan}]
)
def test_broker_negative_commission_raises(kwargs):
    with pytest.raises(ValueError):
        SimulatedBroker(**kwargs)
