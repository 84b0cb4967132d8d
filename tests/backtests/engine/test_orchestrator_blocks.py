"""The orchestrator's chunked walk: bars recorded in blocks, indicators computed ahead but
revealed bar by bar, cut points (sub-batches, failures, cancellation) anywhere."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import OrderType, TradeSide
from backtests.engine.events import BarProcessed, BarReceived
from backtests.engine.indicators import RSI, Close, SimpleMovingAverage
from backtests.engine.memory import ListDatafeed, MemoryRecorder
from backtests.engine.orchestrator import Orchestrator
from tests.backtests.engine.bars import interleave, random_walk
from tests.backtests.engine.scripted import Scripted

BARS = interleave(random_walk(600, seed=11), random_walk(600, seed=12, symbol="BBB"))


class BlockRecorder(MemoryRecorder):
    """Keeps the bar blocks it is handed (and the events, as MemoryRecorder)."""

    def __init__(self, block_bars: int | None = None) -> None:
        super().__init__(records_bars=True)
        self.blocks: list = []
        self.block_bars = block_bars

    def record_bar_block(self, block) -> None:
        self.blocks.append(block)

    def processed(self) -> list[BarProcessed]:
        out = []
        for block in self.blocks:
            for bar, row in zip(block.bars(), block.values.tolist(), strict=True):
                out.append(BarProcessed(*bar, dict(zip(block.names, row, strict=True))))
        return out


class WithIndicators(Scripted):
    def setup(self):
        self.sma = self.add_indicator(SimpleMovingAverage(5))
        self.rsi = self.add_indicator(RSI(4))


class PerBarClose(Close):
    """The close, through the per-bar path (its own ``update``)."""

    def update(self, bar):
        return super().update(bar)


def _run(strategy, recorder, bars=BARS, batch_size=97, **kw):
    return Orchestrator(
        strategy=strategy,
        datafeed=ListDatafeed(bars, batch_size=batch_size),
        broker=SimulatedBroker(),
        recorder=recorder,
        **kw,
    ).run()


def _same(a: list[BarProcessed], b: list[BarProcessed]) -> bool:
    return [repr(x) for x in a] == [repr(y) for y in b]


def test_block_recorder_gets_every_bar_once_in_order_with_the_event_paths_values():
    events, blocks = MemoryRecorder(records_bars=True), BlockRecorder()
    _run(WithIndicators({}, symbols=("AAA", "BBB")), events)
    _run(WithIndicators({}, symbols=("AAA", "BBB")), blocks)

    assert _same(blocks.processed(), events.of_type(BarProcessed))
    assert [b[:9] for b in blocks.processed()] == BARS
    assert blocks.of_type(BarReceived) == []  # bars went in blocks, not as events


@pytest.mark.parametrize("block_bars", [1, 10, 64])
def test_blocks_hold_at_most_the_recorders_block_size(block_bars):
    recorder = BlockRecorder(block_bars=block_bars)
    _run(WithIndicators({}, symbols=("AAA", "BBB")), recorder, batch_size=500)

    assert max(len(b) for b in recorder.blocks) <= block_bars
    assert sum(len(b) for b in recorder.blocks) == len(BARS)


def test_strategy_exception_leaves_recorded_the_bars_up_to_the_failing_one():
    def boom(strategy):
        raise RuntimeError("strategy bug")

    recorder = BlockRecorder()
    with pytest.raises(RuntimeError, match="strategy bug"):
        _run(WithIndicators({(300, "AAA"): [boom]}, symbols=("AAA", "BBB")), recorder)

    recorded = [b[:9] for b in recorder.processed()]
    failing = BARS.index(next(b for b in BARS if b.ts_event_ns == 300 * 10**9))
    assert recorded == BARS[: failing + 1]


def test_cancel_leaves_recorded_exactly_the_bars_processed():
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) == 4

    recorder = BlockRecorder()
    outcome = _run(
        WithIndicators({}, symbols=("AAA", "BBB")), recorder, should_cancel=should_cancel
    )
    assert outcome.status == "cancelled"
    assert [b[:9] for b in recorder.processed()] == BARS[: outcome.bars]
    assert 0 < outcome.bars < len(BARS)


def test_indicators_show_no_later_bar_of_any_symbol():
    # At each bar, every indicator of every symbol equals a fresh indicator fed the bars
    # delivered so far, including this one: nothing of a later bar (nor of BBB's bar of the
    # same second, when on AAA's) leaks from the values computed ahead.
    seen = []

    class Probe(WithIndicators):
        def on_bar(self, bar):
            seen.append(
                {
                    (s, name): (ind.latest(s), ind[s, -2])
                    for s in ("AAA", "BBB")
                    for name, ind in (("sma", self.sma), ("rsi", self.rsi))
                }
            )

    _run(Probe({}, symbols=("AAA", "BBB")), None, batch_size=53)

    reference = {"sma": SimpleMovingAverage(5), "rsi": RSI(4)}
    history: dict = {}
    for i, bar in enumerate(BARS):
        for name, ind in reference.items():
            history.setdefault((bar.symbol, name), []).append(ind.update(bar))
        for key, (latest, previous) in seen[i].items():
            values = history.get(key, [])
            expect_latest = values[-1] if values else math.nan
            expect_previous = values[-2] if len(values) > 1 else math.nan
            assert (latest == expect_latest) or (math.isnan(latest) and math.isnan(expect_latest))
            assert (previous == expect_previous) or (
                math.isnan(previous) and math.isnan(expect_previous)
            )


def test_per_bar_indicators_are_recorded_in_blocks_too():
    class Mixed(Scripted):
        def setup(self):
            self.sma = self.add_indicator(SimpleMovingAverage(3))
            self.close = self.add_indicator(PerBarClose())

    recorder = BlockRecorder()
    _run(Mixed({}, symbols=("AAA", "BBB")), recorder)

    processed = recorder.processed()
    assert [p.indicators["CLOSE"] for p in processed] == [b.close for b in BARS]
    assert list(processed[0].indicators) == ["SMA(3)", "CLOSE"]


def test_compute_block_of_the_wrong_length_is_refused_naming_the_indicator():
    class Short(SimpleMovingAverage):
        def compute_block(self, part):
            return np.zeros(len(part) - 1)

    class UsesShort(Scripted):
        def setup(self):
            self.add_indicator(Short(3))

    with pytest.raises(ValueError, match=r"indicator 'SMA\(3\)': compute_block returned"):
        _run(UsesShort({}, symbols=("AAA", "BBB")), None)


def test_orders_and_fills_are_the_same_whatever_the_recording():
    def buy(s):
        return s.submit_order(OrderType.MARKET, TradeSide.BUY, 1.0)

    script = {(t, "AAA"): [buy] for t in range(10, 600, 50)}
    runs = [
        _run(WithIndicators(script, symbols=("AAA", "BBB")), recorder)
        for recorder in (MemoryRecorder(records_bars=False), BlockRecorder())
    ]
    assert runs[0] == runs[1] and runs[0].fills == 12
