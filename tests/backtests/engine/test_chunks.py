"""BarChunk / SymbolBars: bars built from columns, their delivery order, per-symbol views."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from backtests.engine.chunks import BarBlock, BarChunk, SymbolBars, build_bars, gc_paused
from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from tests.backtests.engine.bars import SECOND, bar, interleave, random_walk


def _part(symbol: str, seconds: list[int], base: float = 100.0) -> SymbolBars:
    ts = np.array([s * SECOND for s in seconds], dtype=np.int64)
    prices = base + np.arange(len(seconds), dtype=np.float64)
    return SymbolBars(
        symbol, ts, prices, prices + 1, prices - 1, prices + 0.5, np.arange(len(seconds)) + 7
    )


def test_bars_are_built_from_columns_with_every_field():
    chunk = BarChunk(BarPeriod.MINUTE, [_part("AAA", [3, 4])])

    assert chunk.bars() == [
        BarReceived(3 * SECOND, 3 * SECOND, "AAA", BarPeriod.MINUTE, 100.0, 101.0, 99.0, 100.5, 7),
        BarReceived(4 * SECOND, 4 * SECOND, "AAA", BarPeriod.MINUTE, 101.0, 102.0, 100.0, 101.5, 8),
    ]
    assert all(type(b) is BarReceived for b in chunk.bars())
    assert [type(v) for v in chunk.bars()[0]] == [int, int, str, BarPeriod, *[float] * 4, int]


def test_bars_merge_parts_by_time_then_part_order_for_equal_times():
    parts = [_part("MSFT", [1, 2, 4]), _part("AAPL", [1, 3, 4, 5]), _part("ZZZ", [0, 4])]
    chunk = BarChunk(BarPeriod.SECOND, parts)

    got = [(b.ts_event_ns // SECOND, b.symbol) for b in chunk.bars()]

    position = {p.symbol: i for i, p in enumerate(parts)}
    expected = sorted(
        ((int(t) // SECOND, p.symbol) for p in parts for t in p.ts),
        key=lambda item: (item[0], position[item[1]]),
    )
    assert got == expected


def test_from_bars_keeps_the_given_order_and_the_tuples():
    bars = [bar(2, 1, 1, 1, 1, "BBB"), bar(1, 1, 1, 1, 1, "AAA"), bar(2, 2, 2, 2, 2, "AAA")]
    chunk = BarChunk.from_bars(bars)

    assert chunk.bars() == bars
    assert all(got is given for got, given in zip(chunk.bars(), bars, strict=True))
    assert [p.symbol for p in chunk.parts] == ["BBB", "AAA"]


def test_part_bars_are_the_chunks_bars_of_that_symbol_in_time_order():
    a, b = random_walk(50, seed=1, symbol="AAA"), random_walk(40, seed=2, symbol="BBB")
    columns = [SymbolBars.from_bars(s[0].symbol, s) for s in (a, b)]
    rebuilt = [
        SymbolBars(p.symbol, np.array(p.ts), *(np.array(getattr(p, n)) for n in _PRICES))
        for p in columns
    ]
    chunk = BarChunk(BarPeriod.SECOND, rebuilt)

    delivered = chunk.bars()
    for part, original in zip(chunk.parts, (a, b), strict=True):
        own = part.bars()
        assert own == original
        assert all(any(x is y for y in delivered) for x in own)  # the same tuples, not copies
    assert delivered == interleave(a, b)


_PRICES = ("open", "high", "low", "close", "volume")


def test_columns_in_delivery_order_match_the_bars():
    chunk = BarChunk(BarPeriod.SECOND, [_part("BBB", [1, 2]), _part("AAA", [1, 3])])
    columns, bars = chunk.columns(), chunk.bars()

    symbols = [chunk.parts[c].symbol for c in columns["code"].tolist()]
    assert symbols == [b.symbol for b in bars] == ["BBB", "AAA", "BBB", "AAA"]
    assert columns["ts"].tolist() == [b.ts_event_ns for b in bars]
    for name in _PRICES:
        assert columns[name].tolist() == [getattr(b, name) for b in bars]


def test_missing_volume_stays_none():
    bars = [bar(0, 1.0, 2.0, 0.5, 1.5, volume=None), bar(1, 1.0, 2.0, 0.5, 1.5, volume=12)]
    chunk = BarChunk.from_bars(bars)
    chunk.parts[0]._bars = None  # build from the columns rather than reuse the tuples
    chunk._bars = None

    assert [b.volume for b in chunk.bars()] == [None, 12]
    assert chunk.columns()["volume"].tolist() == [None, 12]


def test_columns_of_unequal_length_are_refused_naming_the_symbol():
    with pytest.raises(ValueError, match="columns of 'AAA' differ in length: \\[1, 2\\]"):
        SymbolBars("AAA", [1, 2], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0], [1, 2])


def test_a_symbol_twice_in_one_chunk_is_refused():
    with pytest.raises(ValueError, match="a chunk holds a symbol more than once"):
        BarChunk(BarPeriod.SECOND, [_part("AAA", [1]), _part("AAA", [2])])


def test_release_drops_the_built_tuples_and_builds_equal_ones_again():
    chunk = BarChunk(BarPeriod.SECOND, [_part("AAA", [1, 2])])
    first = chunk.bars()
    chunk.release()
    second = chunk.bars()
    assert second == first and second is not first


def test_bar_block_bars_round_trip():
    bars = interleave(random_walk(5, seed=3), random_walk(5, seed=4, symbol="BBB"))
    block = BarBlock(
        bar_period=BarPeriod.SECOND,
        symbols=("AAA", "BBB"),
        ts=np.array([b.ts_event_ns for b in bars]),
        code=np.array([0 if b.symbol == "AAA" else 1 for b in bars], dtype=np.int32),
        open=np.array([b.open for b in bars]),
        high=np.array([b.high for b in bars]),
        low=np.array([b.low for b in bars]),
        close=np.array([b.close for b in bars]),
        volume=np.array([b.volume for b in bars]),
        names=("x",),
        values=np.zeros((len(bars), 1)),
    )
    assert block.bars() == bars and len(block) == 10


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collectors_state(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_build_bars_of_no_columns_is_empty():
    assert build_bars(BarPeriod.SECOND, [], [], [], [], [], [], []) == []
