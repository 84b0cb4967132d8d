"""Tick sizes read from prices (integers in units of 1e-9), for slippage given in ticks."""

from __future__ import annotations

import numpy as np
import pytest

from backtests.engine.ticks import tick_size_infer

P = 1_000_000_000


def prices(*values: float) -> np.ndarray:
    return np.array([round(v * P) for v in values], dtype=np.int64)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((185.12, 185.13, 185.0, 185.57, 184.99), 0.01),  # a stock in cents
        ((4500.25, 4500.5, 4501.0, 4503.75), 0.25),  # an index future in quarter points
        ((110.03125, 110.0625, 110.5, 111.0), 1 / 32),  # a bond future in 32nds
        ((0.1234, 0.1237, 0.1301, 0.1299), 0.0001),  # a penny stock in 1/100 of a cent
        ((100.0, 101.0, 103.0, 112.0), 1.0),  # whole units only
    ],
)
def test_tick_is_the_largest_usual_increment_of_the_prices(values, expected):
    assert tick_size_infer(prices(*values)) == expected


def test_a_few_odd_prints_do_not_make_the_tick_finer():
    # 95 prices in cents and 5 sub-penny prints (5 %): still a cent
    cents = [185.0 + i / 100 for i in range(95)]
    odd = [185.0051, 185.1234, 185.2222, 185.3333, 185.4444]
    assert tick_size_infer(prices(*cents, *odd)) == 0.01
    # ... but when more than 10 % of them are off the grid, the grid is finer
    assert tick_size_infer(prices(*cents[:40], *odd)) < 0.01


@pytest.mark.parametrize("values", [(), (100.0, 100.0, 100.0), (0.0,)])
def test_no_tick_from_no_prices_or_a_price_that_never_moved(values):
    assert tick_size_infer(prices(*values)) is None


def test_prices_spanning_fewer_than_ten_ticks_do_not_give_a_coarse_tick():
    # 100.00 and 100.50 alone would fit 0.5; they span one such tick, not ten: 0.05
    assert tick_size_infer(prices(100.0, 100.5)) == 0.05
