"""Bar builders for engine tests (hand-written bars and seeded random walks)."""

from __future__ import annotations

import numpy as np

from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived

SECOND = 1_000_000_000


def bar(
    t: int, o: float, h: float, low: float, c: float, symbol: str = "AAA", volume: int | None = 100
) -> BarReceived:
    """A bar at second ``t`` (ts = t seconds)."""
    ts = t * SECOND
    return BarReceived(ts, ts, symbol, BarPeriod.SECOND, o, h, low, c, volume)


def random_walk(
    n: int, seed: int = 42, symbol: str = "AAA", start: float = 100.0
) -> list[BarReceived]:
    """``n`` consistent OHLC bars (low <= open, close <= high) from a seeded random walk."""
    rng = np.random.default_rng(seed)
    closes = start + np.cumsum(rng.normal(0.0, 0.5, n))
    opens = np.concatenate(([start], closes[:-1])) + rng.normal(0.0, 0.1, n)
    highs = np.maximum(opens, closes) + rng.uniform(0.0, 0.4, n)
    lows = np.minimum(opens, closes) - rng.uniform(0.0, 0.4, n)
    volumes = rng.integers(1, 1000, n)
    return [
        BarReceived(
            i * SECOND,
            i * SECOND,
            symbol,
            BarPeriod.SECOND,
            float(opens[i]),
            float(highs[i]),
            float(lows[i]),
            float(closes[i]),
            int(volumes[i]),
        )
        for i in range(n)
    ]


def interleave(*series: list[BarReceived]) -> list[BarReceived]:
    """Merge per-symbol series into feed order: by timestamp, then by symbol."""
    return sorted((b for s in series for b in s), key=lambda b: (b.ts_event_ns, b.symbol))
