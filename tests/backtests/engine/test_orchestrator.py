"""Orchestrator wiring: order of work per bar, no look-ahead across symbols, recording
levels, progress and cancellation, expiry, outcome figures and error propagation."""

from __future__ import annotations

import math

import pytest

from backtests.engine import orchestrator as orchestrator_module
from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import FillTiming, OrderType, TradeSide
from backtests.engine.events import (
    BarProcessed,
    BarReceived,
    FillEvent,
    ModificationAccepted,
    OrderAccepted,
    OrderExpired,
    OrderModificationRequest,
    OrderSubmissionRequest,
)
from backtests.engine.indicators import SimpleMovingAverage
from backtests.engine.memory import ListDatafeed, MemoryRecorder
from backtests.engine.orchestrator import Orchestrator
from backtests.engine.strategies.examples.sma_crossover import SMACrossover
from tests.backtests.engine.bars import SECOND, bar, interleave, random_walk
from tests.backtests.engine.scripted import Scripted

BUY, SELL = TradeSide.BUY, TradeSide.SELL


def market(side, qty=1.0, symbol=None):
    return lambda s: s.submit_order(OrderType.MARKET, side, qty, symbol=symbol)


def run(strategy, bars, recorder=None, batch_size=10_000, **kw):
    recorder = recorder if recorder is not None else MemoryRecorder(records_bars=False)
    outcome = Orchestrator(
        strategy=strategy,
        datafeed=ListDatafeed(bars, batch_size=batch_size),
        broker=kw.pop("broker", SimulatedBroker()),
        recorder=recorder,
        **kw,
    ).run()
    return outcome, recorder


def flat_bars(n, symbol="AAA", start=0):
    return [bar(i, 10.0 + i, 10.5 + i, 9.5 + i, 10.2 + i, symbol) for i in range(start, start + n)]


@pytest.mark.parametrize(
    ("fill_timing", "position_on_bar_2"),
    [
        # default, as OneSecondTrader 0.75: on_bar(2) does not know yet of the fill at 2's open
        (FillTiming.NEXT_BAR, (0.0, 0.0)),
        (FillTiming.SAME_BAR, (2.0, 12.0)),
    ],
)
def test_market_order_fills_at_next_bar_open_position_seen_per_fill_timing(
    fill_timing, position_on_bar_2
):
    strategy = Scripted({(1, "AAA"): [market(BUY, 2.0)]})
    outcome, rec = run(strategy, flat_bars(4), fill_timing=fill_timing)
    (fill,) = rec.of_type(FillEvent)
    assert (fill.ts_event_ns, fill.fill_price, fill.quantity_filled) == (2 * SECOND, 12.0, 2.0)
    assert strategy.seen == [
        (0, "AAA", 0.0, 0.0),
        (1, "AAA", 0.0, 0.0),
        (2, "AAA", *position_on_bar_2),
        (3, "AAA", 2.0, 12.0),
    ]
    assert len(strategy.fills) == 1
    assert (outcome.status, outcome.bars, outcome.orders, outcome.fills) == ("completed", 4, 1, 1)
    # Long 2 @ 12 marked at the last close 13.2: open P&L 2.4, nothing realised.
    assert outcome.account.realised_before_commission == 0.0
    assert outcome.net_pnl == pytest.approx(2.4)


@pytest.mark.parametrize("fill_timing", list(FillTiming))
def test_limit_repriced_every_bar_fills_at_old_price_when_bar_reaches_it(fill_timing):
    # The broker evaluates bar t with the order as it stood before t, so an order re-priced
    # on every bar still fills, whatever the fill timing. Bars: open 10+t, low 9.5+t.
    #   bar 0: buy limit at 9.0
    #   bar 1 (low 10.5): 9.0 not reached; re-priced to low + 1.0 = 11.5
    #   bar 2 (low 11.5): 11.5 reached -> fills at min(11.5, open 12.0) = 11.5
    def place(s):
        return s.submit_order(OrderType.LIMIT, BUY, 1.0, limit_price=9.0)

    def reprice(s):
        if s.open_orders:
            s.submit_modification(s.ids[0], limit_price=s.bar.low[-1] + 1.0)

    script = {(t, "AAA"): [reprice] for t in range(1, 6)}
    script[(0, "AAA")] = [place]
    strategy = Scripted(script)
    _, rec = run(strategy, flat_bars(6), fill_timing=fill_timing)
    (fill,) = rec.of_type(FillEvent)
    assert (fill.ts_event_ns, fill.fill_price) == (2 * SECOND, 11.5)


def test_order_for_other_symbol_same_timestamp_not_filled_at_that_timestamp():
    bars = interleave(
        flat_bars(3, "AAA"),
        [bar(i, 50.0 + i, 51.0 + i, 49.0 + i, 50.5 + i, "BBB") for i in range(3)],
    )
    # on AAA's bar at t=1, buy BBB; BBB's bar at t=1 comes later in the same timestamp
    strategy = Scripted({(1, "AAA"): [market(BUY, symbol="BBB")]}, symbols=("AAA", "BBB"))
    _, rec = run(strategy, bars)
    (fill,) = rec.of_type(FillEvent)
    assert (fill.symbol, fill.ts_event_ns, fill.fill_price) == ("BBB", 2 * SECOND, 52.0)


def test_order_for_unknown_symbol_raises():
    strategy = Scripted({(0, "AAA"): [market(BUY, symbol="ZZZ")]})
    with pytest.raises(ValueError, match="'ZZZ' is not one of this strategy's symbols"):
        run(strategy, flat_bars(2))


def test_event_sequence_is_recorded_in_causal_order():
    strategy = Scripted({(0, "AAA"): [market(BUY)]})
    _, rec = run(strategy, flat_bars(2), MemoryRecorder(records_bars=True))
    kinds = [type(e).__name__ for e in rec.events]
    assert kinds == [
        "BarReceived",
        "BarProcessed",
        "OrderSubmissionRequest",
        "OrderAccepted",
        "FillEvent",
        "BarReceived",
        "BarProcessed",
    ]
    submission = rec.events[2]
    assert (submission.system_order_id, submission.ts_event_ns, submission.ts_created_ns) == (
        "O000001",
        0,
        0,
    )
    assert rec.flushes == 1


def test_bar_processed_carries_indicator_values_by_name():
    class WithSma(Scripted):
        def setup(self):
            self.sma = self.add_indicator(SimpleMovingAverage(2))

    _, rec = run(WithSma({}), flat_bars(3), MemoryRecorder(records_bars=True))
    processed = rec.of_type(BarProcessed)
    assert [list(p.indicators) for p in processed] == [["SMA(2)"]] * 3
    assert math.isnan(processed[0].indicators["SMA(2)"])
    assert processed[1].indicators["SMA(2)"] == (10.2 + 11.2) / 2
    assert processed[1][:9] == tuple(rec.of_type(BarReceived)[1])


def test_trades_level_recorder_gets_no_bar_events():
    strategy = Scripted({(0, "AAA"): [market(BUY)]})
    _, rec = run(strategy, flat_bars(3), MemoryRecorder(records_bars=False))
    assert not any(isinstance(e, (BarReceived, BarProcessed)) for e in rec.events)
    assert len(rec.of_type(FillEvent)) == 1


def test_pending_orders_expire_at_end_of_data():
    strategy = Scripted(
        {(1, "AAA"): [lambda s: s.submit_order(OrderType.LIMIT, BUY, 1.0, limit_price=1.0)]}
    )
    _, rec = run(strategy, flat_bars(3))
    (expired,) = rec.of_type(OrderExpired)
    assert (expired.associated_order_id, expired.ts_event_ns, expired.broker_order_id) == (
        "O000001",
        2 * SECOND,
        "B000001",
    )
    assert strategy.expired == [expired] and strategy.open_orders == {}


def test_progress_reported_per_sub_batch_and_reaches_one():
    progress: list[float] = []
    outcome, _ = run(Scripted({}), flat_bars(10), batch_size=4, on_progress=progress.append)
    # Sub-batches start at one bar and double (at this speed), within feed batches of 4:
    # [0] [1 2] [3] | [4 5 6 7] | [8 9]
    assert progress == [0.1, 0.3, 0.4, 0.8, 1.0] and outcome.bars == 10


def test_cancel_checked_per_sub_batch_stops_run_without_expiry():
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) == 3  # before bar 0, before bars 1-2, then cancelled

    strategy = Scripted(
        {(1, "AAA"): [lambda s: s.submit_order(OrderType.LIMIT, BUY, 1.0, limit_price=1.0)]}
    )
    outcome, rec = run(strategy, flat_bars(10), batch_size=3, should_cancel=should_cancel)
    assert (outcome.status, outcome.bars, outcome.orders) == ("cancelled", 3, 1)
    assert rec.of_type(OrderExpired) == [] and rec.flushes == 1
    assert outcome.account.bars == 3  # the account marked every bar walked before the cancel


def test_strategy_exception_propagates():
    def boom(s):
        raise ZeroDivisionError("strategy bug")

    with pytest.raises(ZeroDivisionError, match="strategy bug"):
        run(Scripted({(1, "AAA"): [boom]}), flat_bars(3))


def test_outcome_pnl_gross_and_net_by_hand():
    # buy 2 @ open of bar 2 (12.0), sell 2 @ open of bar 4 (14.0): gross +4.0
    # commission max(2 * 0.5, 1.5) = 1.5 per fill -> net 4.0 - 3.0 = 1.0
    strategy = Scripted({(1, "AAA"): [market(BUY, 2.0)], (3, "AAA"): [market(SELL, 2.0)]})
    broker = SimulatedBroker(commission_per_unit=0.5, minimum_commission=1.5)
    outcome, _ = run(strategy, flat_bars(6), broker=broker)
    assert (outcome.orders, outcome.fills) == (2, 2)
    assert outcome.account.realised_before_commission == pytest.approx(4.0)
    assert outcome.account.commission == pytest.approx(3.0)
    assert outcome.net_pnl == pytest.approx(1.0)


def test_modification_updates_strategy_open_order():
    def place(s):
        return s.submit_order(OrderType.LIMIT, BUY, 1.0, limit_price=1.0, signal="dip")

    prices = []

    def reprice(s):
        s.submit_modification(s.ids[0], limit_price=2.0)
        prices.append((s.open_orders[s.ids[0]].limit_price, s.open_orders[s.ids[0]].signal))

    strategy = Scripted({(0, "AAA"): [place], (1, "AAA"): [reprice]})
    _, rec = run(strategy, flat_bars(2))
    assert len(rec.of_type(ModificationAccepted)) == 1
    assert rec.of_type(OrderModificationRequest)[0].symbol == "AAA"
    assert prices == [(2.0, "dip")]
    assert len(rec.of_type(OrderAccepted)) == 1


def test_submitting_outside_a_bar_raises():
    strategy = Scripted({})
    with pytest.raises(RuntimeError, match="only be submitted while a bar is processed"):
        strategy.submit_order(OrderType.MARKET, BUY, 1.0)


def test_order_ids_sequential_and_requests_stamped_with_simulated_time():
    strategy = Scripted({(1, "AAA"): [market(BUY), market(BUY)], (2, "AAA"): [market(SELL)]})
    _, rec = run(strategy, flat_bars(4))
    subs = rec.of_type(OrderSubmissionRequest)
    assert [(s.system_order_id, s.ts_event_ns) for s in subs] == [
        ("O000001", SECOND),
        ("O000002", SECOND),
        ("O000003", 2 * SECOND),
    ]
    assert [f.fill_id for f in rec.of_type(FillEvent)] == ["F000001", "F000002", "F000003"]


def test_rejection_reaches_strategy_hook_and_clears_open_order():
    strategy = Scripted({(1, "AAA"): [lambda s: s.submit_order(OrderType.LIMIT, BUY, 1.0)]})
    _, rec = run(strategy, flat_bars(3))
    (rejected,) = strategy.rejections
    assert rejected.rejection_message == "LIMIT order needs a positive finite limit_price, got None"
    assert strategy.open_orders == {} and rec.of_type(FillEvent) == []


def test_limit_reached_on_submitting_bar_fills_only_later():
    # bar 1 spans 10.5..11.5; a buy limit at 11.4 placed on bar 1 must wait for bar 2
    bars = [bar(0, 10, 10.5, 9.5, 10), bar(1, 11, 11.5, 10.5, 11), bar(2, 12, 12.5, 11.2, 12)]
    limit = lambda s: s.submit_order(OrderType.LIMIT, BUY, 1.0, limit_price=11.4)  # noqa: E731
    _, rec = run(Scripted({(1, "AAA"): [limit]}), bars)
    (fill,) = rec.of_type(FillEvent)
    assert (fill.ts_event_ns, fill.fill_price) == (2 * SECOND, 11.4)


def test_bars_of_symbols_outside_the_strategy_are_skipped_and_not_counted():
    seen = []

    class Watch(Scripted):
        def setup(self):
            self.sma = self.add_indicator(SimpleMovingAverage(2))

        def on_bar(self, bar):
            seen.append((bar.symbol, self.bar.close[-1], self.sma.latest(bar.symbol)))

    bars = interleave(flat_bars(3, "AAA"), flat_bars(3, "ZZZ"))
    outcome, _ = run(Watch({}), bars)

    assert outcome.bars == 3
    assert [s for s, _, _ in seen] == ["AAA"] * 3
    assert [c for _, c, _ in seen] == [10.2, 11.2, 12.2]
    assert math.isnan(seen[0][2]) and seen[2][2] == (11.2 + 12.2) / 2


class _ClosingFeed:
    """A generator feed that notes whether its stream was closed (as a DB feed ends its read)."""

    def __init__(self, bars):
        self.bars, self.closed = bars, False

    def total_bars(self):
        return len(self.bars)

    def batches(self):
        try:
            for b in self.bars:
                yield [b]
        finally:
            self.closed = True


def test_strategy_exception_closes_the_datafeed_stream_before_propagating():
    def boom(s):
        raise RuntimeError("strategy bug")

    feed = _ClosingFeed(flat_bars(5))
    orchestrator = Orchestrator(
        strategy=Scripted({(1, "AAA"): [boom]}), datafeed=feed, broker=SimulatedBroker()
    )
    with pytest.raises(RuntimeError, match="strategy bug"):
        try:
            orchestrator.run()
        except RuntimeError:
            assert feed.closed  # closed while the exception is still on its way out
            raise


class _PerBarSMA(SimpleMovingAverage):
    """The same mean through the per-bar path only: its own ``update`` runs on every bar."""

    def update(self, bar):
        return super().update(bar)


def _crossover_events(sma_class, bars, monkeypatch, batch_size, step):
    class Crossover(SMACrossover, register=False):
        def setup(self):
            self.fast_sma = self.add_indicator(sma_class(self.fast_period))
            self.slow_sma = self.add_indicator(sma_class(self.slow_period))

    monkeypatch.setattr(orchestrator_module, "CANCEL_CHECK_BARS", step)
    strategy = Crossover(symbols=["AAA", "BBB"], params={"fast_period": 5, "slow_period": 30})
    _, rec = run(strategy, bars, MemoryRecorder(records_bars=True), batch_size=batch_size)
    return rec.events


@pytest.mark.parametrize(("batch_size", "step"), [(1, 1), (13, 5), (500, 64), (100_000, 4096)])
def test_indicators_computed_ahead_give_the_events_of_the_per_bar_path(
    monkeypatch, batch_size, step
):
    # Chunks of any size, walked in sub-batches cut anywhere: the same orders, fills and
    # indicator values bit for bit as computing every bar alone.
    bars = interleave(random_walk(1500, seed=5), random_walk(1500, seed=6, symbol="BBB"))
    per_bar = _crossover_events(_PerBarSMA, bars, monkeypatch, batch_size, step)
    batched = _crossover_events(SimpleMovingAverage, bars, monkeypatch, batch_size, step)
    assert sum(isinstance(e, FillEvent) for e in per_bar) > 10
    assert len(batched) == len(per_bar)
    for mine, reference in zip(batched, per_bar, strict=True):
        if isinstance(reference, BarProcessed):
            assert mine[:9] == reference[:9]
            assert [str(v) for v in mine.indicators.values()] == [
                str(v) for v in reference.indicators.values()
            ]
        else:
            assert mine == reference


# --- cancellation by time (sub-batch sizing) ---------------------------------------------------


class _SimulatedClock:
    """Stands in for ``time.perf_counter``: each bar a strategy walks costs ``per_bar`` s."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Costly(Scripted, register=False):
    """Costs ``per_bar`` simulated seconds a bar, ``slow_per_bar`` from bar ``slow_from`` on."""

    def __init__(
        self,
        clock: _SimulatedClock,
        per_bar: float,
        *,
        slow_from: int | None = None,
        slow_per_bar: float = 0.0,
        **kw,
    ) -> None:
        self.clock, self.per_bar = clock, per_bar
        self.slow_from, self.slow_per_bar = slow_from, slow_per_bar
        self.walked = 0
        super().__init__({}, **kw)

    def on_bar(self, bar) -> None:
        slow = self.slow_from is not None and self.walked >= self.slow_from
        self.clock.now += self.slow_per_bar if slow else self.per_bar
        self.walked += 1


@pytest.fixture
def clock(monkeypatch) -> _SimulatedClock:
    simulated = _SimulatedClock()
    monkeypatch.setattr(orchestrator_module, "_clock", simulated)
    return simulated


def test_strategy_taking_a_second_a_bar_is_checked_for_cancel_after_every_bar(clock):
    cancel_at = 3.5  # simulated seconds
    checks: list[float] = []

    def should_cancel() -> bool:
        checks.append(clock.now)
        return clock.now >= cancel_at

    strategy = _Costly(clock, per_bar=1.0)
    outcome, _ = run(strategy, flat_bars(300), batch_size=100, should_cancel=should_cancel)
    # Checked after each one-second bar; the cancel asked at 3.5 s is seen at 4 s.
    assert checks == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert (outcome.status, outcome.bars) == ("cancelled", 4)
    assert outcome.account.bars == 4  # one-bar sub-batches, marked together at the cancel


def test_sub_batches_shrink_when_a_strategy_slows_down(clock):
    checks: list[float] = []

    def should_cancel() -> bool:
        checks.append(round(clock.now, 6))
        return False

    strategy = _Costly(clock, per_bar=0.001, slow_from=31, slow_per_bar=0.5)
    run(strategy, flat_bars(80), batch_size=80, should_cancel=should_cancel)
    gaps = [round(b - a, 6) for a, b in zip(checks, checks[1:], strict=False)]
    # 1 ms a bar: sub-batches of 1, 2, 4, 8, 16 bars (31 bars); the next, of 32 bars, runs
    # at 0.5 s a bar (16 s: the one long wait, as the pace changed inside it); then one bar a
    # sub-batch, 0.5 s each.
    assert gaps[:5] == [0.001, 0.002, 0.004, 0.008, 0.016]
    assert gaps[5] == 16.0
    assert gaps[6:] == [0.5] * (80 - 63 - 1)


def test_fast_strategy_reaches_full_sub_batches_after_a_few_checks(clock):
    fractions: list[float] = []
    strategy = _Costly(clock, per_bar=1e-6)
    total = 100_000
    run(strategy, flat_bars(total), batch_size=10_000, on_progress=fractions.append)
    done = [round(f * total) for f in fractions]
    sizes = [b - a for a, b in zip([0, *done], done, strict=False)]
    # Feed batches of 10,000 bars. Sizes double from 1 (each under 0.1 s at 1 us a bar) up to
    # 4,096 (8,191 bars), the batch's last 1,809 bars; then 8,192 and 1,808; then the step
    # (16,384) exceeds a batch, so each later batch is one sub-batch.
    assert sizes == [2**i for i in range(13)] + [1809, 8192, 1808] + [10_000] * 8
