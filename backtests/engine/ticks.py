"""An instrument's tick size as its prices show it (for slippage given in ticks).

Databento sends prices as integers in units of 1e-9. The tick size is the largest of the
usual price increments (powers of ten times 1, 2, 2.5 or 5, and the binary fractions 1/8
to 1/256 of futures) of which at least ``TICK_SHARE`` of the prices are whole multiples:
a few odd prints (sub-penny trades of a stock quoted in cents) do not make the tick finer.
The prices must span at least ``MIN_TICKS_SPANNED`` ticks, so a short, flat sample (a price
that never moved) gives no answer rather than a tick as large as the price.
"""

from __future__ import annotations

import numpy as np

PRICE_UNITS = 1_000_000_000  # 1e-9 units per currency unit
TICK_SHARE = 0.9  # share of prices that must lie on the tick grid
SAMPLE_PRICES = 80_000  # prices looked at, at most (open, high, low, close of 20,000 bars)
MIN_TICKS_SPANNED = 10

_DECIMAL = sorted(
    {
        mantissa * 10**exponent // 10
        for exponent in range(0, 13)  # 1e-10 (dropped below) .. 1000 currency units
        for mantissa in (10, 20, 25, 50)
        if mantissa * 10**exponent % 10 == 0
    }
)
_BINARY = [PRICE_UNITS // d for d in (8, 16, 32, 64, 128, 256)]
CANDIDATES = tuple(sorted({c for c in (*_DECIMAL, *_BINARY) if c >= 1}, reverse=True))
"""Candidate ticks in 1e-9 units, largest first."""


def tick_size_infer(prices: np.ndarray) -> float | None:
    """The tick size (currency units) of integer 1e-9 ``prices``; None when they do not
    tell (no prices, or a range narrower than ``MIN_TICKS_SPANNED`` of the finest tick)."""
    values = np.asarray(prices, dtype=np.int64).ravel()[:SAMPLE_PRICES]
    values = values[values != 0]
    if not len(values):
        return None
    spread = int(values.max()) - int(values.min())
    needed = TICK_SHARE * len(values)
    for candidate in CANDIDATES:
        if candidate * MIN_TICKS_SPANNED > spread:
            continue
        if np.count_nonzero(values % candidate == 0) >= needed:
            return candidate / PRICE_UNITS
    return 1 / PRICE_UNITS if spread >= MIN_TICKS_SPANNED else None
