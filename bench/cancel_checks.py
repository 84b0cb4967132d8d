"""Benchmark: what checking for a cancel by time costs a fast strategy, and what it gives a
slow one. Engine only (no database), so the figures are CPU time, steady on a busy machine.

    .venv/bin/python bench/cancel_checks.py            # 1,000,000 bars of 10 symbols
    .venv/bin/python bench/cancel_checks.py --bars 200000

1. SMACrossover 20/100 over in-memory bars, with the sub-batch sizing of the orchestrator
   (start at one bar, grow at most 2x towards ~0.1 s) and with the sizing it replaced (start at
   256 bars, at least 64, jump straight to the measured pace): CPU seconds, bars/s, number of
   cancel checks, best of three each.
2. A strategy sleeping 20 ms a bar: the longest time between two cancel checks, both sizings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from backtests.engine import orchestrator as engine
from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from backtests.engine.memory import ListDatafeed, MemoryRecorder
from backtests.engine.strategies.base import ParamSpec, StrategyBase
from backtests.engine.strategies.examples.sma_crossover import SMACrossover

SYMBOLS = [f"SYM{i}" for i in range(10)]
MINUTE = 60_000_000_000


def bars(count: int) -> list[BarReceived]:
    rng = np.random.default_rng(7)
    per_symbol = count // len(SYMBOLS)
    closes = 100 + np.cumsum(rng.normal(0, 0.1, (per_symbol, len(SYMBOLS))), axis=0)
    out = []
    for i in range(per_symbol):
        for j, symbol in enumerate(SYMBOLS):
            c = float(closes[i, j])
            out.append(
                BarReceived(
                    i * MINUTE, i * MINUTE, symbol, BarPeriod.MINUTE, c, c + 0.05, c - 0.05, c, 100
                )
            )
    return out


class _Sleepy(StrategyBase, register=False):
    parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

    def on_bar(self, bar) -> None:
        time.sleep(0.02)


def _old_next_step(step: int, walked: int, seconds: float, ceiling: int) -> int:
    if walked < step:
        return step
    rate = walked / max(seconds, 1e-6)
    return int(min(ceiling, max(64, rate * engine.SUB_BATCH_SECONDS)))


class _Sizing:
    """Put the old sizing in place for the duration of a ``with`` block."""

    def __init__(self, old: bool) -> None:
        self.old = old

    def __enter__(self) -> None:
        self.saved = (engine._next_step, engine._Progress.__init__.__defaults__)
        if self.old:
            engine._next_step = _old_next_step
            defaults = list(self.saved[1])
            defaults[-2] = 256  # step (then status)
            engine._Progress.__init__.__defaults__ = tuple(defaults)

    def __exit__(self, *exc: object) -> None:
        engine._next_step, engine._Progress.__init__.__defaults__ = self.saved


def run(strategy: StrategyBase, feed: list[BarReceived], checks: list[float]) -> float:
    def should_cancel() -> bool:
        checks.append(time.perf_counter())
        return False

    started = time.process_time()
    engine.Orchestrator(
        strategy=strategy,
        datafeed=ListDatafeed(feed, batch_size=16_384),
        broker=SimulatedBroker(),
        recorder=MemoryRecorder(records_bars=False),
        should_cancel=should_cancel,
    ).run()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    args = parser.parse_args()
    feed = bars(args.bars)
    params = {"bar_period": "MINUTE", "fast_period": 20, "slow_period": 100}
    print(f"SMACrossover 20/100, {len(feed):,} bars of {len(SYMBOLS)} symbols, CPU time")
    sizings = (("time-bounded sizing (now)", False), ("bar-count sizing (before)", True))
    best = {label: float("inf") for label, _ in sizings}
    counts = {}
    for round_ in range(3):  # interleaved, in alternating order: a busy machine hits both alike
        for label, old in sizings if round_ % 2 == 0 else sizings[::-1]:
            checks: list[float] = []
            with _Sizing(old):
                seconds = run(SMACrossover(symbols=SYMBOLS, params=params), feed, checks)
            best[label], counts[label] = min(best[label], seconds), len(checks)
    for label, _ in sizings:
        print(
            f"  {label}: best of 3 {best[label]:.2f} s CPU, {len(feed) / best[label]:,.0f} bars/s,"
            f" {counts[label]} cancel checks"
        )

    slow_feed = feed[: 60 * len(SYMBOLS)][:: len(SYMBOLS)]  # 60 bars of one symbol
    print(f"A strategy sleeping 20 ms a bar, {len(slow_feed)} bars:")
    for label, old in (("time-bounded sizing (now)", False), ("bar-count sizing (before)", True)):
        checks = []
        with _Sizing(old):
            run(_Sleepy(symbols=[SYMBOLS[0]]), slow_feed, checks)
        gaps = [b - a for a, b in zip(checks, checks[1:], strict=False)]
        longest = (
            f"{max(gaps) * 1000:.0f} ms" if gaps else "never (one check, before the first bar)"
        )
        print(f"  {label}: {len(checks)} cancel checks, longest time between two: {longest}")


if __name__ == "__main__":
    main()
