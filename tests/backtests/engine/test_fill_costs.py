"""Trading costs on hand-built bars: slippage on each side, partial fills under a volume
participation cap (commission per fill, the minimum once per order), latency."""

from __future__ import annotations

import numpy as np
import pytest

from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import BarPeriod, FillTiming, OrderType, TradeSide
from backtests.engine.events import (
    BarReceived,
    CancellationAccepted,
    CancellationRejected,
    FillEvent,
    ModificationAccepted,
    ModificationRejected,
)
from backtests.engine.fill_model import (
    MSG_PARTICIPATION,
    MSG_SLIPPAGE_BOTH,
    FillConfig,
)
from backtests.engine.matching import MSG_NO_TICK_SIZE
from backtests.engine.memory import ListDatafeed, MemoryRecorder
from backtests.engine.orchestrator import Orchestrator
from backtests.engine.strategies.base import ParamSpec, StrategyBase
from tests.backtests.engine.bars import random_walk
from tests.backtests.engine.fill_harness import (
    BUY,
    CLASSIC,
    INTRABAR,
    LIMIT,
    MARKET,
    SECOND,
    SELL,
    STOP,
    STOP_LIMIT,
    STRICT,
    FillHarness,
    fills_of,
    mbar,
    sbar,
    times_of,
)

# --- slippage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "bar", "expected"),
    [
        # 2 ticks of 0.01 against the trader: market buy pays open + 0.02, a sell gets - 0.02
        ((MARKET, BUY, None, None), (100.0, 101.0, 99.0, 100.5), 100.02),
        ((MARKET, SELL, None, None), (100.0, 101.0, 99.0, 100.5), 99.98),
        # stops fill at the worse of stop and open, then slip
        ((STOP, BUY, None, 100.5), (100.0, 101.0, 99.0, 100.5), 100.52),
        ((STOP, SELL, None, 99.5), (100.0, 101.0, 99.0, 100.5), 99.48),
        ((STOP, BUY, None, 100.5), (101.0, 101.5, 100.8, 101.2), 101.02),  # gap: the open
        # limits never slip
        ((LIMIT, BUY, 99.5, None), (100.0, 101.0, 99.0, 100.5), 99.5),
        ((LIMIT, SELL, 100.5, None), (100.0, 101.0, 99.0, 100.5), 100.5),
        # a stop-limit slips from its trigger price, never beyond its limit
        ((STOP_LIMIT, BUY, 100.51, 100.5), (100.0, 101.0, 99.0, 100.5), 100.51),
        ((STOP_LIMIT, BUY, 100.6, 100.5), (100.0, 101.0, 99.0, 100.5), 100.52),
        ((STOP_LIMIT, SELL, 99.49, 99.5), (100.0, 101.0, 99.0, 100.5), 99.49),
    ],
)
def test_slippage_in_ticks_against_the_trader(order, bar, expected):
    order_type, side, limit, stop = order
    h = FillHarness(STRICT, slippage_ticks=2, tick_sizes={"AAA": 0.01})
    oid = h.submit(0, order_type, side, limit=limit, stop=stop)
    fills = h.feed(mbar(1, *bar))
    assert len(fills) == 1
    assert fills[0].associated_order_id == oid
    assert fills[0].fill_price == pytest.approx(expected, abs=1e-9)


def test_slippage_tick_size_of_the_run_overrides_the_data():
    h = FillHarness(CLASSIC, slippage_ticks=1, tick_size=0.25, tick_sizes={"AAA": 0.01})
    h.submit(0, MARKET, BUY)
    assert [f.fill_price for f in h.feed(mbar(1, 100.0, 101.0, 99.0, 100.5))] == [100.25]


@pytest.mark.parametrize(("side", "expected"), [(BUY, 100.1), (SELL, 99.9)])
def test_slippage_in_basis_points(side, expected):
    # 10 bp of the fill price 100 is 0.1
    h = FillHarness(CLASSIC, slippage_bps=10)
    h.submit(0, MARKET, side)
    [fill] = h.feed(mbar(1, 100.0, 101.0, 99.0, 100.5))
    assert fill.fill_price == pytest.approx(expected, abs=1e-9)


def test_slippage_in_ticks_without_a_tick_size_raises_naming_the_symbol():
    h = FillHarness(CLASSIC, slippage_ticks=1)
    h.submit(0, MARKET, BUY)
    with pytest.raises(ValueError, match="'AAA'") as info:
        h.feed(mbar(1, 100.0, 101.0, 99.0, 100.5))
    assert str(info.value) == MSG_NO_TICK_SIZE.format(symbol="AAA")


def test_slippage_in_ticks_and_bps_together_refused():
    with pytest.raises(ValueError, match=MSG_SLIPPAGE_BOTH):
        FillConfig(slippage_ticks=1, slippage_bps=5)


@pytest.mark.parametrize("cap", [0, -0.1, 1.5, float("nan"), True])
def test_participation_cap_outside_zero_one_refused(cap):
    with pytest.raises(ValueError, match="participation_cap") as info:
        FillConfig(participation_cap=cap)
    assert str(info.value) == MSG_PARTICIPATION


# --- participation cap: partial fills -------------------------------------------------------


def test_partial_fills_over_three_bars_under_ten_percent_cap_commission_per_fill():
    # Buy 25 at market, 10 % of each bar's volume: 100 -> 10, 120 -> 12, 300 -> the last 3.
    # Commission 0.05 a unit, minimum 1 per order: cumulative 10 -> max(0.5, 1) = 1 paid;
    # 22 -> max(1.1, 1) = 1.1, 0.1 more; 25 -> 1.25, 0.15 more: 1.25 in all, as one fill.
    h = FillHarness(
        CLASSIC, participation_cap=0.1, commission_per_unit=0.05, minimum_commission=1.0
    )
    oid = h.submit(0, MARKET, BUY, quantity=25.0)
    fills = h.feed(
        mbar(1, 100.0, 100.5, 99.5, 100.2, volume=100),
        mbar(2, 100.2, 100.9, 100.1, 100.8, volume=120),
        mbar(3, 100.8, 101.0, 100.4, 100.5, volume=300),
        mbar(4, 100.5, 101.0, 100.4, 100.5, volume=300),
    )
    assert fills_of(fills) == [
        (oid, BUY, 10.0, 100.0),
        (oid, BUY, 12.0, 100.2),
        (oid, BUY, 3.0, 100.8),
    ]
    assert [f.commission for f in fills] == pytest.approx([1.0, 0.1, 0.15])
    assert [f.fill_id for f in fills] == ["F000001", "F000002", "F000003"]
    assert h.broker.pending_count() == 0


def test_partial_fills_minimum_commission_applies_once_per_order():
    # 0.005 a unit, minimum 1: 25 units never exceed the minimum: 1, then 0, then 0.
    h = FillHarness(
        CLASSIC, participation_cap=0.1, commission_per_unit=0.005, minimum_commission=1.0
    )
    h.submit(0, MARKET, BUY, quantity=25.0)
    fills = h.feed(*(mbar(m, 100.0, 100.5, 99.5, 100.2, volume=100) for m in (1, 2, 3)))
    assert [f.commission for f in fills] == [1.0, 0.0, 0.0]


def test_participation_cap_shared_by_a_symbols_orders_in_fill_order():
    # Two market orders of 8 and a 10 % cap of 100: the first takes 8, the second the 2 left.
    h = FillHarness(CLASSIC, participation_cap=0.1)
    first = h.submit(0, MARKET, BUY, quantity=8.0)
    second = h.submit(0, MARKET, BUY, quantity=8.0)
    fills = h.feed(mbar(1, 100.0, 100.5, 99.5, 100.2, volume=100))
    assert fills_of(fills) == [(first, BUY, 8.0, 100.0), (second, BUY, 2.0, 100.0)]


def test_partially_filled_stop_rest_is_a_market_order():
    # Sell stop 99 for 20 with a 10 % cap: 10 fill at the stop on the triggering bar; the
    # other 10 fill at the next bar's open (101, above the stop: a market order now).
    h = FillHarness(STRICT, participation_cap=0.1)
    oid = h.submit(0, STOP, SELL, quantity=20.0, stop=99.0)
    fills = h.feed(
        mbar(1, 100.0, 100.0, 98.5, 98.8, volume=100),
        mbar(2, 101.0, 101.5, 100.5, 101.0, volume=500),
    )
    assert fills_of(fills) == [(oid, SELL, 10.0, 99.0), (oid, SELL, 10.0, 101.0)]


def test_partially_filled_limit_rest_keeps_working_at_its_limit():
    h = FillHarness(CLASSIC, participation_cap=0.1)
    oid = h.submit(0, LIMIT, BUY, quantity=15.0, limit=99.0)
    fills = h.feed(
        mbar(1, 100.0, 100.5, 98.5, 99.2, volume=100),  # 10 at 99
        mbar(2, 100.0, 100.5, 99.5, 100.2, volume=500),  # not reached
        mbar(3, 98.0, 99.5, 97.5, 98.2, volume=500),  # the last 5 at the open 98
    )
    assert fills_of(fills) == [(oid, BUY, 10.0, 99.0), (oid, BUY, 5.0, 98.0)]


def test_zero_volume_bar_fills_nothing_under_a_cap_and_no_volume_means_no_cap():
    h = FillHarness(CLASSIC, participation_cap=0.5)
    oid = h.submit(0, MARKET, BUY, quantity=4.0)
    assert h.feed(mbar(1, 100.0, 100.5, 99.5, 100.2, volume=0)) == []
    fills = h.feed(mbar(2, 101.0, 101.5, 100.5, 101.2, volume=None))
    assert fills_of(fills) == [(oid, BUY, 4.0, 101.0)]


def test_modifying_quantity_of_partially_filled_order_sets_its_total():
    h = FillHarness(CLASSIC, participation_cap=0.1)
    oid = h.submit(0, MARKET, BUY, quantity=25.0)
    h.feed(mbar(1, 100.0, 100.5, 99.5, 100.2, volume=100))  # 10 filled
    h.modify(1, oid, quantity=10.0)  # not above what has filled
    assert isinstance(h.events[-1], ModificationRejected)
    assert "has filled 10 of 25 already" in h.events[-1].rejection_message
    h.modify(1, oid, quantity=14.0)  # total 14: 4 left
    assert isinstance(h.events[-1], ModificationAccepted)
    fills = h.feed(mbar(2, 100.2, 100.9, 100.1, 100.8, volume=1000))
    assert fills_of(fills) == [(oid, BUY, 4.0, 100.2)]


class _Buy25(StrategyBase, register=False):
    """Buys 25 at market on its first bar; notes its open order at every bar."""

    parameters = {"bar_period": ParamSpec(default=BarPeriod.SECOND)}

    def setup(self) -> None:
        self.seen: list[tuple] = []

    def on_bar(self, bar) -> None:
        if not self.seen and self.position == 0:
            self.oid = self.submit_order(OrderType.MARKET, TradeSide.BUY, 25.0)
        order = self.open_orders.get(self.oid)
        self.seen.append(
            (
                self.position,
                None if order is None else (order.filled_quantity, order.remaining_quantity),
            )
        )


def _second_bar(t: int, volume: int) -> BarReceived:
    return BarReceived(
        t * SECOND, t * SECOND, "AAA", BarPeriod.SECOND, 100.0, 101.0, 99.0, 100.0, volume
    )


@pytest.mark.parametrize("timing", [FillTiming.SAME_BAR, FillTiming.NEXT_BAR])
def test_strategy_open_order_shows_remaining_quantity(timing):
    strategy = _Buy25(symbols=["AAA"])
    bars = [_second_bar(t, v) for t, v in enumerate((100, 100, 120, 300, 300))]
    outcome = Orchestrator(
        strategy=strategy,
        datafeed=ListDatafeed(bars),
        broker=SimulatedBroker(fills=FillConfig(participation_cap=0.1)),
        fill_timing=timing,
    ).run()
    assert outcome.fills == 3
    if timing is FillTiming.SAME_BAR:  # the strategy sees each bar's fill in its on_bar
        expected = [(0.0, (0.0, 25.0)), (10.0, (10.0, 15.0)), (22.0, (22.0, 3.0))]
    else:  # ... one bar later, as OneSecondTrader 0.75
        expected = [(0.0, (0.0, 25.0)), (0.0, (0.0, 25.0)), (10.0, (10.0, 15.0))]
    assert strategy.seen[:3] == expected
    assert strategy.seen[-1] == (25.0, None)


# --- latency --------------------------------------------------------------------------------

# The strategy decides at the END of the bar it is handed: an order made on minute 0 is sent
# at 60 s and, with 500 ms of latency, reaches the broker at 60.5 s.
FINER_MINUTE_1 = [
    sbar(60, 100.0, 100.3, 99.9, 100.2),  # starts before 60.5 s: too early
    sbar(61, 100.2, 100.6, 100.1, 100.5),  # the first second starting after: fills here
    sbar(75, 100.5, 101.0, 99.8, 100.9),
]
MINUTE_1 = mbar(1, 100.0, 101.0, 99.8, 100.9)
MINUTE_2 = mbar(2, 100.9, 101.2, 100.7, 101.0)


def test_latency_pushes_market_fill_to_next_finer_bar():
    h = FillHarness(INTRABAR, finer=FINER_MINUTE_1, latency_ms=500)
    oid = h.submit(0, MARKET, BUY)
    fills = h.feed(MINUTE_1, MINUTE_2)
    assert fills_of(fills) == [(oid, BUY, 1.0, 100.2)]  # second 61's open
    assert times_of(fills) == [(60, 61)]
    assert h.stats() == {"ambiguous_bars": 1, "resolved_bars": 1, "unresolved_bars": 0}


@pytest.mark.parametrize("model", [CLASSIC, STRICT, INTRABAR])
def test_latency_without_finer_bars_pushes_fill_to_next_bar(model):
    h = FillHarness(model, finer=[], latency_ms=500)
    oid = h.submit(0, MARKET, BUY)
    fills = h.feed(MINUTE_1, MINUTE_2)
    assert fills_of(fills) == [(oid, BUY, 1.0, 100.9)]  # minute 2's open
    assert times_of(fills) == [(120, 120)]


def test_no_latency_fills_at_next_bar_open_as_classic():
    h = FillHarness(INTRABAR, finer=FINER_MINUTE_1, latency_ms=0)
    oid = h.submit(0, MARKET, BUY)
    fills = h.feed(MINUTE_1)
    assert fills_of(fills) == [(oid, BUY, 1.0, 100.0)]
    assert h.finer.asked == []


def test_latency_cancellation_arrives_late_order_fills_first_and_cancel_is_rejected():
    # Limit buy 99.9; cancelled on minute 1 (arrives at 120.5 s). Minute 2 reaches 99.9 and,
    # without finer bars, the cancellation has not arrived at its start: the order fills.
    h = FillHarness(CLASSIC, latency_ms=500)
    oid = h.submit(0, LIMIT, BUY, limit=99.9)
    h.feed(mbar(1, 100.0, 100.5, 100.0, 100.2))
    h.cancel(1, oid)
    assert not any(isinstance(e, CancellationAccepted) for e in h.events)  # on its way
    fills = h.feed(mbar(2, 100.2, 100.3, 99.5, 99.8))
    assert fills_of(fills) == [(oid, BUY, 1.0, 99.9)]
    assert isinstance(h.events[-1], CancellationRejected)
    assert (
        h.events[-1].rejection_message
        == "order O000001 filled before the cancellation reached the broker"
    )


def test_latency_cancellation_arriving_inside_bar_prevents_later_fill_intrabar():
    finer = [
        sbar(120, 100.2, 100.3, 100.1, 100.2),  # before 120.5 s: still working, not reached
        sbar(121, 100.2, 100.2, 100.0, 100.1),  # the cancellation arrives here
        sbar(130, 100.1, 100.1, 99.5, 99.8),  # reaches 99.9, but the order is gone
    ]
    h = FillHarness(INTRABAR, finer=finer, latency_ms=500)
    oid = h.submit(0, LIMIT, BUY, limit=99.9)
    h.feed(mbar(1, 100.0, 100.5, 100.0, 100.2))
    h.cancel(1, oid)
    fills = h.feed(mbar(2, 100.2, 100.3, 99.5, 99.8))
    assert fills == []
    accepted = [e for e in h.events if isinstance(e, CancellationAccepted)]
    assert [(e.associated_order_id, e.ts_event_ns, e.ts_broker_ns) for e in accepted] == [
        (oid, 120 * SECOND, 121 * SECOND)
    ]


def test_latency_modification_old_values_work_until_it_arrives():
    # Sell stop 95 moved to 99 on minute 1 (arrives at 120.5 s). Minute 2 falls to 98: the
    # order still has its old stop 95 then. The change applies from minute 3 on.
    h = FillHarness(CLASSIC, latency_ms=500)
    oid = h.submit(0, STOP, SELL, stop=95.0)
    h.feed(mbar(1, 100.0, 100.5, 99.5, 100.2))
    h.modify(1, oid, stop=99.0)
    assert h.feed(mbar(2, 100.2, 100.3, 98.0, 98.5)) == []
    fills = h.feed(mbar(3, 98.5, 98.9, 98.2, 98.4))
    accepted = [e for e in h.events if isinstance(e, ModificationAccepted)]
    assert [e.ts_event_ns // SECOND for e in accepted] == [180]
    assert fills_of(fills) == [(oid, SELL, 1.0, 98.5)]  # stop 99 at the open 98.5


def test_latency_requests_on_their_way_arrive_at_end_of_data():
    h = FillHarness(CLASSIC, latency_ms=500)
    oid = h.submit(0, LIMIT, BUY, limit=90.0)
    h.feed(mbar(1, 100.0, 100.5, 99.5, 100.2))
    h.cancel(1, oid)
    h.broker.expire_all(60 * SECOND)
    assert [type(e).__name__ for e in h.events[-1:]] == ["CancellationAccepted"]
    assert h.broker.pending_count() == 0


# --- classic without costs stays the fast path, with costs the same fills -------------------


def test_classic_default_uses_the_fast_path():
    broker = SimulatedBroker()
    assert broker.matcher is None
    assert broker.on_bar.__func__ is SimulatedBroker.on_bar


class _RandomTrader(StrategyBase, register=False):
    """Submits, modifies and cancels orders of every type at random (seeded)."""

    parameters = {"bar_period": ParamSpec(default=BarPeriod.SECOND)}

    def setup(self) -> None:
        self.rng = np.random.default_rng(7)

    def on_bar(self, bar) -> None:
        rng, close = self.rng, bar.close
        roll = rng.random()
        if roll < 0.3:
            kind = [OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT][
                int(rng.integers(4))
            ]
            side = TradeSide.BUY if rng.random() < 0.5 else TradeSide.SELL
            away = float(rng.uniform(-1.0, 1.0))
            limit = close + away if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
            stop = (
                close + float(rng.uniform(-1.0, 1.0))
                if kind in (OrderType.STOP, OrderType.STOP_LIMIT)
                else None
            )
            self.submit_order(
                kind, side, float(rng.integers(1, 4)), limit_price=limit, stop_price=stop
            )
        elif roll < 0.4 and self.open_orders:
            oid = sorted(self.open_orders)[int(rng.integers(len(self.open_orders)))]
            order = self.open_orders[oid]
            self.submit_modification(
                oid,
                limit_price=close - 0.3 if order.limit_price is not None else None,
                stop_price=close + 0.3 if order.stop_price is not None else None,
            )
        elif roll < 0.45 and self.open_orders:
            self.submit_cancellation(sorted(self.open_orders)[0])


def _events(fills: FillConfig) -> list:
    bars = [b._replace(volume=10**9) for b in random_walk(3000, seed=11)]
    recorder = MemoryRecorder(records_bars=False)
    Orchestrator(
        strategy=_RandomTrader(symbols=["AAA"]),
        datafeed=ListDatafeed(bars),
        broker=SimulatedBroker(commission_per_unit=0.01, minimum_commission=0.5, fills=fills),
        recorder=recorder,
    ).run()
    return recorder.events


def test_general_rules_with_costs_that_never_bind_give_the_classic_fills():
    # A 100 % cap of a volume far above any order changes nothing: the general rules (used
    # whenever a cost is set) must then give exactly the fast path's events.
    fast = _events(FillConfig())
    general = _events(FillConfig(participation_cap=1.0))
    assert sum(isinstance(e, FillEvent) for e in fast) > 300
    assert general == fast


def test_latency_order_arriving_in_a_bar_that_cannot_reach_it_is_not_ambiguous():
    h = FillHarness(INTRABAR, finer=FINER_MINUTE_1, latency_ms=500)
    h.submit(0, LIMIT, BUY, limit=90.0)  # arrives at 60.5 s; minute 1 never goes below 99.8
    assert h.feed(MINUTE_1) == []
    assert h.finer.asked == []
    assert h.stats() == {"ambiguous_bars": 0, "resolved_bars": 0, "unresolved_bars": 0}


def test_latency_modification_moving_a_stop_into_reach_is_resolved_from_the_seconds():
    # Sell stop 95 (out of reach) moved to 99.9 on minute 1; the change arrives at 120.5 s,
    # inside minute 2, which falls to 99.5: the seconds show the stop filled at second 121.
    finer = [
        sbar(120, 100.2, 100.3, 100.0, 100.1),  # before the change: stop 95, nothing
        sbar(121, 100.1, 100.1, 99.5, 99.6),  # the change arrives; 99.9 is reached
    ]
    h = FillHarness(INTRABAR, finer=finer, latency_ms=500)
    oid = h.submit(0, STOP, SELL, stop=95.0)
    h.feed(mbar(1, 100.0, 100.5, 99.9, 100.2))
    h.modify(1, oid, stop=99.9)
    fills = h.feed(mbar(2, 100.2, 100.3, 99.5, 99.6))
    assert fills_of(fills) == [(oid, SELL, 1.0, 99.9)]
    assert times_of(fills) == [(120, 121)]
    accepted = [e for e in h.events if isinstance(e, ModificationAccepted)]
    assert [(e.ts_event_ns // SECOND, e.ts_broker_ns // SECOND) for e in accepted] == [(120, 121)]
    assert h.stats() == {"ambiguous_bars": 1, "resolved_bars": 1, "unresolved_bars": 0}


def test_latency_cancellation_is_answered_when_it_arrives_even_on_a_quiet_bar():
    # Limit buy 90, far from every bar; cancelled on minute 1, the cancellation arrives at
    # 120.5 s: minute 2 (starting at 120 s) still has the order, minute 3 answers it.
    h = FillHarness(STRICT, latency_ms=500)
    oid = h.submit(0, LIMIT, BUY, limit=90.0)
    h.feed(mbar(1, 100.0, 100.5, 100.0, 100.2))
    h.cancel(1, oid)
    h.feed(mbar(2, 100.2, 100.5, 100.0, 100.3))
    assert not any(isinstance(e, CancellationAccepted) for e in h.events)
    assert h.broker.pending_count() == 1
    h.feed(mbar(3, 100.3, 100.5, 100.0, 100.4))
    accepted = [e for e in h.events if isinstance(e, CancellationAccepted)]
    assert [(e.associated_order_id, e.ts_event_ns // SECOND) for e in accepted] == [(oid, 180)]
    assert h.broker.pending_count() == 0
