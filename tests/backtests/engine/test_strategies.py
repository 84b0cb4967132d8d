"""Strategy bookkeeping, the example strategies, determinism and the registry/discovery."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import BarPeriod, FillTiming, OrderType, TradeSide
from backtests.engine.events import (
    CancellationAccepted,
    FillEvent,
    ModificationAccepted,
    OrderSubmissionRequest,
)
from backtests.engine.indicators import Indicator
from backtests.engine.memory import ListDatafeed, MemoryRecorder
from backtests.engine.orchestrator import Orchestrator
from backtests.engine.positions import PositionBook
from backtests.engine.registry import discover_user_code, get_strategy, strategy_registry
from backtests.engine.strategies.base import ParamSpec, StrategyBase
from tests.backtests.engine.bars import SECOND, bar, interleave, random_walk
from tests.backtests.engine.scripted import Scripted

BUY, SELL = TradeSide.BUY, TradeSide.SELL


def run(strategy, bars, records_bars=False, fill_timing=FillTiming.SAME_BAR, **broker):
    """Run with fills visible on their own bar, so positions read naturally in these tests."""
    rec = MemoryRecorder(records_bars=records_bars)
    outcome = Orchestrator(
        strategy=strategy,
        datafeed=ListDatafeed(bars, batch_size=997),
        broker=SimulatedBroker(**broker),
        recorder=rec,
        fill_timing=fill_timing,
    ).run()
    return outcome, rec


# --- positions --------------------------------------------------------------------------


def test_position_book_scale_in_partial_exit_reversal_by_hand():
    book = PositionBook()
    assert book.apply("A", 2.0, 10.0) == 0.0  # long 2 @ 10
    assert book.apply("A", 1.0, 13.0) == 0.0  # scale in: (2*10 + 1*13)/3 = 11
    assert (book.position("A"), book.avg_price("A")) == (3.0, 11.0)
    assert book.apply("A", -1.0, 14.0) == 3.0  # partial exit: (14 - 11) * 1, avg kept
    assert (book.position("A"), book.avg_price("A")) == (2.0, 11.0)
    assert book.apply("A", -5.0, 9.0) == -4.0  # reversal: closes 2 at (9 - 11), short 3 @ 9
    assert (book.position("A"), book.avg_price("A")) == (-3.0, 9.0)
    assert book.apply("A", 3.0, 8.0) == 3.0  # cover the short: (9 - 8) * 3
    assert (book.position("A"), book.avg_price("A")) == (0.0, 0.0)


def test_position_book_reversal_to_smaller_size_opens_at_fill_price():
    book = PositionBook()
    book.apply("A", 3.0, 10.0)
    assert book.apply("A", -5.0, 12.0) == 6.0  # closes 3 at +2, opens short 2 @ 12
    assert (book.position("A"), book.avg_price("A")) == (-2.0, 12.0)


def test_position_book_float_residue_counts_as_flat():
    book = PositionBook()
    for _ in range(3):
        book.apply("A", 0.1, 10.0)
    book.apply("A", -0.3, 10.0)
    assert (book.position("A"), book.avg_price("A")) == (0.0, 0.0)


def test_strategy_position_and_avg_price_follow_fills():
    def market(side, qty):
        return lambda s: s.submit_order(OrderType.MARKET, side, qty)

    # opens of bars 1..5: 11, 12, 13, 14, 15
    script = {
        (0, "AAA"): [market(BUY, 2.0)],  # fills @ 11
        (1, "AAA"): [market(BUY, 2.0)],  # fills @ 12 -> 4 @ 11.5
        (2, "AAA"): [market(SELL, 1.0)],  # fills @ 13 -> 3 @ 11.5
        (3, "AAA"): [market(SELL, 5.0)],  # fills @ 14 -> -2 @ 14
    }
    bars = [bar(i, 10.0 + i, 10.5 + i, 9.5 + i, 10.2 + i) for i in range(6)]
    strategy = Scripted(script)
    outcome, _ = run(strategy, bars)
    assert [(t, p, a) for t, _, p, a in strategy.seen] == [
        (0, 0.0, 0.0),
        (1, 2.0, 11.0),
        (2, 4.0, 11.5),
        (3, 3.0, 11.5),
        (4, -2.0, 14.0),
        (5, -2.0, 14.0),
    ]
    account = outcome.account
    assert account.realised_before_commission == pytest.approx(1 * 1.5 + 3 * 2.5)
    # Short 2 @ 14 still open at the last close 15.2: open P&L -2.4, net 9.0 - 2.4.
    assert account.open_pnl == pytest.approx(-2.4)
    assert outcome.net_pnl == pytest.approx(6.6)


# --- examples -----------------------------------------------------------------------------


def sma_crossover_reference(
    closes: pd.Series, opens: pd.Series, fast: int, slow: int, lagged=False
):
    """Expected fills of the SMA crossover, computed with pandas: a signal on bar i (using
    bars i-1 and i) fills at bar i+1's open; position gates buys (<= 0) and sells (>= 0).
    ``lagged``: the signal on bar i sees the position before bar i's fills (original engine)."""
    f, s = closes.rolling(fast).mean().to_numpy(), closes.rolling(slow).mean().to_numpy()
    position, pending, fills = 0.0, [], []
    for i in range(len(closes)):
        arriving = [(i, side, float(opens.iloc[i])) for side in pending]
        seen = position
        position += sum(1.0 if side == "BUY" else -1.0 for side in pending)
        fills.extend(arriving)
        if not lagged:
            seen = position
        pending = []
        if i == 0:
            continue
        if f[i - 1] <= s[i - 1] and f[i] > s[i] and seen <= 0:
            pending.append("BUY")
        if f[i - 1] >= s[i - 1] and f[i] < s[i] and seen >= 0:
            pending.append("SELL")
    return fills


@pytest.mark.parametrize("fill_timing", list(FillTiming))
def test_sma_crossover_fills_match_pandas_reference(fill_timing):
    bars = random_walk(4000, seed=7)
    frame = pd.DataFrame(bars, columns=list(bars[0]._fields))
    params = {"fast_period": 5, "slow_period": 20}
    strategy = get_strategy("SMACrossover")(symbols=["AAA"], params=params)
    rec = MemoryRecorder(records_bars=False)
    Orchestrator(
        strategy=strategy,
        datafeed=ListDatafeed(bars),
        broker=SimulatedBroker(),
        recorder=rec,
        fill_timing=fill_timing,
    ).run()
    fills = [(f.ts_event_ns // SECOND, f.side.name, f.fill_price) for f in rec.of_type(FillEvent)]
    expected = sma_crossover_reference(
        frame.close, frame.open, 5, 20, lagged=fill_timing is FillTiming.NEXT_BAR
    )
    assert len(expected) > 50
    assert fills == expected
    assert {s.order_type for s in rec.of_type(OrderSubmissionRequest)} == {OrderType.MARKET}


def test_sma_crossover_position_timing_changes_some_fills():
    # the two timings differ exactly when a crossover follows a fill on the very next bar
    frame = pd.DataFrame(random_walk(4000, seed=7), columns=list(bars_fields()))
    same_bar = sma_crossover_reference(frame.close, frame.open, 5, 20)
    next_bar = sma_crossover_reference(frame.close, frame.open, 5, 20, lagged=True)
    assert same_bar != next_bar


def bars_fields():
    return random_walk(1)[0]._fields


def test_sma_crossover_defaults_match_original():
    cls = get_strategy("SMACrossover")
    assert cls.name == "SMA Crossover"
    schema = {p["name"]: p for p in cls.schema()["parameters"]}
    assert schema["bar_period"]["default"] == "SECOND"
    assert (
        schema["fast_period"]["default"],
        schema["fast_period"]["min"],
        schema["fast_period"]["max"],
    ) == (20, 5, 100)
    assert (
        schema["slow_period"]["default"],
        schema["slow_period"]["min"],
        schema["slow_period"]["max"],
    ) == (100, 10, 500)
    assert (schema["quantity"]["default"], schema["quantity"]["step"]) == (1.0, 0.1)


@pytest.mark.parametrize(
    ("strategy_id", "params", "order_types"),
    [
        (
            "BollingerReversion",
            {"period": 20, "min_bandwidth": 1.0},
            {OrderType.LIMIT, OrderType.STOP},
        ),
        (
            "RSITrailingStop",
            {"rsi_period": 7},
            {OrderType.STOP_LIMIT, OrderType.STOP, OrderType.LIMIT},
        ),
    ],
)
def test_example_strategies_use_their_order_types_modifications_and_cancellations(
    strategy_id, params, order_types
):
    bars = interleave(
        random_walk(3000, seed=11, symbol="AAA"), random_walk(3000, seed=12, symbol="BBB")
    )
    strategy = get_strategy(strategy_id)(symbols=["AAA", "BBB"], params=params)
    outcome, rec = run(strategy, bars, commission_per_unit=0.01)
    assert {s.order_type for s in rec.of_type(OrderSubmissionRequest)} == order_types
    assert len(rec.of_type(ModificationAccepted)) > 10
    assert len(rec.of_type(CancellationAccepted)) > 3
    fills = rec.of_type(FillEvent)
    assert len(fills) > 10 and {f.symbol for f in fills} == {"AAA", "BBB"}
    assert outcome.fills == len(fills)


def test_rsi_trailing_stop_only_raises_its_stop():
    bars = random_walk(3000, seed=5)
    strategy = get_strategy("RSITrailingStop")(symbols=["AAA"], params={"rsi_period": 7})
    _, rec = run(strategy, bars)
    stops: dict[str, float] = {}
    for e in rec.events:
        if isinstance(e, OrderSubmissionRequest) and e.order_type is OrderType.STOP:
            stops[e.system_order_id] = e.stop_price
        elif type(e).__name__ == "OrderModificationRequest" and e.system_order_id in stops:
            assert e.stop_price > stops[e.system_order_id]
            stops[e.system_order_id] = e.stop_price
    assert stops


@pytest.mark.parametrize("strategy_id", ["SMACrossover", "BollingerReversion", "RSITrailingStop"])
def test_runs_are_deterministic(strategy_id):
    bars = interleave(
        random_walk(1500, seed=3, symbol="AAA"), random_walk(1500, seed=4, symbol="BBB")
    )
    params = {"SMACrossover": {"fast_period": 5, "slow_period": 15}}.get(strategy_id, {})

    def once():
        strategy = get_strategy(strategy_id)(symbols=["AAA", "BBB"], params=params)
        outcome, rec = run(strategy, bars, records_bars=True, minimum_commission=1.0)
        return outcome, rec.events

    first, second = once(), once()
    assert first[0] == second[0]
    assert len(first[1]) > 6000
    # NaN != NaN, so compare what the events say, field by field, as text
    assert [repr(e) for e in first[1]] == [repr(e) for e in second[1]]


class TwoAverages(StrategyBase, register=False):
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "first": ParamSpec(default=20),
        "second": ParamSpec(default=20),
    }

    def setup(self) -> None:
        from backtests.engine.indicators import SimpleMovingAverage

        self.add_indicator(SimpleMovingAverage(self.first))
        self.add_indicator(SimpleMovingAverage(self.second))

    def on_bar(self, bar) -> None:
        pass


def test_equal_periods_get_distinct_indicator_names():
    strategy = TwoAverages(symbols=["AAA"])
    assert [ind.name for ind in strategy.indicators] == ["SMA(20)", "SMA(20) #2"]


def test_indicator_colours_assigned_from_palette_in_order():
    strategy = get_strategy("BollingerReversion")(symbols=["AAA"])
    colours = [ind.plot.color for ind in strategy.indicators]
    assert len(set(colours)) == len(colours) == 4


# --- registry and discovery -----------------------------------------------------------------


def test_registry_contains_examples_sorted():
    registry = strategy_registry()
    assert {"SMACrossover", "BollingerReversion", "RSITrailingStop"} <= set(registry)
    assert list(registry) == sorted(registry)
    assert not any(name.startswith("_") or name == "Scripted" for name in registry)


def test_get_strategy_unknown_lists_ids():
    with pytest.raises(KeyError, match=r"unknown strategy 'Nope'; known: .*SMACrossover"):
        get_strategy("Nope")


USER_STRATEGY = """
from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase
from user_indicators.double_close import DoubleClose


class UserOneStrategy(StrategyBase):
    name = "User strategy"
    parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE), "n": ParamSpec(default=3)}

    def setup(self):
        self.double = self.add_indicator(DoubleClose())

    def on_bar(self, bar):
        if self.position == 0:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, 1.0)
"""

USER_INDICATOR = """
from backtests.engine.indicators import Indicator


class DoubleClose(Indicator):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.name = "2xCLOSE"

    def _compute(self, bar):
        return 2 * bar.close
"""


def test_discover_user_strategy_and_indicator(tmp_path):
    strategies, indicators = tmp_path / "strategies", tmp_path / "indicators"
    strategies.mkdir()
    indicators.mkdir()
    (indicators / "double_close.py").write_text(USER_INDICATOR)
    (strategies / "user_one.py").write_text(USER_STRATEGY)
    (strategies / "broken.py").write_text("def oops(:\n")
    (strategies / "raises.py").write_text("raise RuntimeError('cannot load')\n")
    (strategies / "_private.py").write_text("raise RuntimeError('never imported')\n")
    try:
        errors = discover_user_code(strategies_dir=strategies, indicators_dir=indicators)
        assert len(errors) == 2
        assert errors[0].startswith(f"{strategies / 'broken.py'}: SyntaxError: ")
        assert errors[1] == f"{strategies / 'raises.py'}: RuntimeError: cannot load"
        cls = get_strategy("UserOneStrategy")
        assert cls.name == "User strategy"
        strategy = cls(symbols=["AAA"], params={"n": "4"})
        outcome, rec = run(
            strategy, [bar(i, 10.0, 11.0, 9.0, 10.0) for i in range(3)], records_bars=True
        )
        assert outcome.fills == 1
        assert rec.events[1].indicators == {"2xCLOSE": 20.0}
        # discovering again does not import the same files twice
        assert len(discover_user_code(strategies_dir=strategies, indicators_dir=indicators)) == 2
    finally:
        from backtests.engine.indicators.base import _indicator_classes
        from backtests.engine.strategies.base import _strategy_classes

        _strategy_classes.pop("UserOneStrategy", None)
        _indicator_classes.pop("DoubleClose", None)
        for name in [
            m
            for m in sys.modules
            if m.startswith(("user_indicators", "user_strategies", "ost_user_"))
        ]:
            del sys.modules[name]


def test_discover_missing_directories_is_not_an_error(tmp_path):
    assert discover_user_code(strategies_dir=tmp_path / "nope", indicators_dir=None) == []


def test_discover_strategy_without_bar_period_reports_error(tmp_path):
    (tmp_path / "bad_params.py").write_text(
        "from backtests.engine.strategies.base import StrategyBase\n"
        "class NoBarPeriod(StrategyBase):\n    parameters = {}\n"
    )
    (errors,) = discover_user_code(strategies_dir=tmp_path, indicators_dir=None)
    assert "TypeError: strategy NoBarPeriod: parameters must contain 'bar_period'" in errors
    assert "NoBarPeriod" not in strategy_registry()


def test_strategy_of_a_removed_twin_file_comes_back_from_the_file_still_there(tmp_path):
    # Two folders define a class of the same name; the later import wins. When that file is
    # removed (and forgotten with its strategies), the other file must serve the id again.
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    source = (
        "from backtests.engine.enums import BarPeriod\n"
        "from backtests.engine.strategies.base import ParamSpec, StrategyBase\n"
        "class TwinStrategy(StrategyBase):\n"
        "    name = {name!r}\n"
        "    parameters = {{'bar_period': ParamSpec(default=BarPeriod.MINUTE)}}\n"
        "    def on_bar(self, bar):\n"
        "        pass\n"
    )
    (first / "twin_a.py").write_text(source.format(name="first"))
    (second / "twin_b.py").write_text(source.format(name="second"))
    try:
        assert discover_user_code(strategies_dir=first, indicators_dir=None) == []
        assert discover_user_code(strategies_dir=second, indicators_dir=None) == []
        assert get_strategy("TwinStrategy").name == "second"
        (second / "twin_b.py").unlink()
        assert discover_user_code(strategies_dir=second, indicators_dir=None) == []
        assert "TwinStrategy" not in strategy_registry()

        assert discover_user_code(strategies_dir=first, indicators_dir=None) == []

        assert get_strategy("TwinStrategy").name == "first"
    finally:
        from backtests.engine.strategies.base import _strategy_classes

        _strategy_classes.pop("TwinStrategy", None)


def test_random_walk_helper_is_seeded():
    assert random_walk(5, seed=1) == random_walk(5, seed=1)
    assert np.all(
        [b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in random_walk(500)]
    )


def test_strategy_without_on_bar_is_refused_when_defined():
    with pytest.raises(TypeError, match="strategy NoHandler: must define on_bar"):

        class NoHandler(StrategyBase):
            parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

    assert "NoHandler" not in strategy_registry()


def test_indicator_without_compute_is_refused_when_defined():
    with pytest.raises(TypeError, match="indicator Nothing: must define _compute"):

        class Nothing(Indicator):
            pass


# --- capital, cash and equity ------------------------------------------------------------


def test_strategy_reads_cash_and_equity_marked_at_the_last_close():
    """Capital 1,000; buy 2 on bar 0, filled at bar 1's open 11.0 with commission 1.5:
    cash 1,000 - 22 - 1.5 = 976.5; on bar 2 (close 12.2) equity 976.5 + 2 x 12.2 = 1,000.9."""
    seen = []
    script = {(0, "AAA"): [lambda s: s.submit_order(OrderType.MARKET, BUY, 2.0)]}
    script[2, "AAA"] = [lambda s: seen.append((s.cash, s.equity, s.capital))]
    bars = [bar(i, 10.0 + i, 10.5 + i, 9.5 + i, 10.2 + i) for i in range(4)]
    Orchestrator(
        strategy=Scripted(script),
        datafeed=ListDatafeed(bars),
        broker=SimulatedBroker(minimum_commission=1.5),
        fill_timing=FillTiming.SAME_BAR,
        capital=1_000.0,
    ).run()
    assert seen == [(pytest.approx(976.5), pytest.approx(1_000.9), 1_000.0)]


def test_quantity_for_sizes_a_fraction_of_equity_in_whole_units():
    sizes = []
    script = {
        (1, "AAA"): [
            lambda s: sizes.append((s.quantity_for(0.5), s.quantity_for(0.5, whole=False)))
        ]
    }
    bars = [bar(i, 10.0 + i, 10.5 + i, 9.5 + i, 10.2 + i) for i in range(2)]
    Orchestrator(
        strategy=Scripted(script),
        datafeed=ListDatafeed(bars),
        broker=SimulatedBroker(),
        capital=1_000.0,
    ).run()
    # 500 at the last close 11.2: 44.64... units, 44 whole ones
    assert sizes == [(44.0, pytest.approx(500 / 11.2))]


def test_bollinger_sizes_entries_by_equity_when_asked():
    bars = random_walk(300, seed=5)
    strategy = get_strategy("BollingerReversion")(
        symbols=["AAA"], params={"period": 10, "equity_pct": 10.0}
    )
    rec = MemoryRecorder()
    Orchestrator(
        strategy=strategy,
        datafeed=ListDatafeed(bars),
        broker=SimulatedBroker(),
        recorder=rec,
        capital=50_000.0,
    ).run()
    entries = [
        e
        for e in rec.of_type(OrderSubmissionRequest)
        if e.order_type is OrderType.LIMIT and e.signal in ("lower_band", "upper_band")
    ]
    assert entries
    closes = {b[0]: b[7] for b in bars}
    first = entries[0]
    # Flat at the first entry: equity is the capital; 10 % of it at the bar's close.
    assert first.quantity == float(int(5_000.0 / closes[first.ts_event_ns]))
