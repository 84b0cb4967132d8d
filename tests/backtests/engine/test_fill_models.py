"""Fill models (classic, strict, intrabar) on hand-built 1-minute bars and their 1-second bars,
with hand-computed fills: which of a stop-loss and a take-profit inside one bar came first,
stop-limits triggered mid-bar, gaps, bars without finer data."""

from __future__ import annotations

import pytest

from backtests.engine.broker import SimulatedBroker
from backtests.engine.fill_model import FillConfig
from backtests.engine.matching import MSG_NEEDS_FINER_BARS
from tests.backtests.engine.fill_harness import (
    BUY,
    CLASSIC,
    INTRABAR,
    LIMIT,
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

# A long position's stop-loss (sell stop 99) and take-profit (sell limit 101), both inside the
# 1-minute bar starting at minute 1 (open 100, high 101.5, low 98.5).
BOTH_INSIDE = mbar(1, 100.0, 101.5, 98.5, 100.0)
# Its 1-second bars when the price rose to the take-profit first, then fell to the stop ...
TP_FIRST = [
    sbar(60, 100.0, 101.5, 99.9, 101.2),  # reaches 101: the take-profit fills here
    sbar(61, 101.2, 101.2, 99.5, 99.6),
    sbar(62, 99.6, 99.7, 98.5, 98.8),  # reaches 99: the stop fills here
    sbar(63, 98.8, 100.0, 98.7, 100.0),
]
# ... and when it fell to the stop first, then rose to the take-profit.
SL_FIRST = [
    sbar(60, 100.0, 100.2, 98.5, 98.7),  # reaches 99: the stop fills here
    sbar(61, 98.7, 101.5, 98.6, 101.3),  # reaches 101: the take-profit fills here
    sbar(63, 101.3, 101.3, 99.9, 100.0),
]


def protect(h: FillHarness) -> tuple[str, str]:
    stop_loss = h.submit(0, STOP, SELL, stop=99.0)
    take_profit = h.submit(0, LIMIT, SELL, limit=101.0)
    return stop_loss, take_profit


def test_intrabar_take_profit_first_when_finer_bars_say_so():
    h = FillHarness(INTRABAR, finer=TP_FIRST)
    stop_loss, take_profit = protect(h)
    fills = h.feed(BOTH_INSIDE)
    assert fills_of(fills) == [(take_profit, SELL, 1.0, 101.0), (stop_loss, SELL, 1.0, 99.0)]
    # stamped with the bar's start, and the second of the 1-second bar that filled them
    assert times_of(fills) == [(60, 60), (60, 62)]
    assert h.stats() == {"ambiguous_bars": 1, "resolved_bars": 1, "unresolved_bars": 0}
    assert h.finer.asked == [("AAA", 60 * 10**9, 120 * 10**9)]


def test_intrabar_stop_loss_first_when_finer_bars_say_so():
    h = FillHarness(INTRABAR, finer=SL_FIRST)
    stop_loss, take_profit = protect(h)
    fills = h.feed(BOTH_INSIDE)
    assert fills_of(fills) == [(stop_loss, SELL, 1.0, 99.0), (take_profit, SELL, 1.0, 101.0)]
    assert times_of(fills) == [(60, 60), (60, 61)]


@pytest.mark.parametrize("model", [CLASSIC, STRICT])
def test_classic_and_strict_stop_before_limit_inside_one_bar(model):
    # The bar alone cannot tell; both models keep the original's order: stops, then limits.
    h = FillHarness(model, finer=TP_FIRST)
    stop_loss, take_profit = protect(h)
    fills = h.feed(BOTH_INSIDE)
    assert fills_of(fills) == [(stop_loss, SELL, 1.0, 99.0), (take_profit, SELL, 1.0, 101.0)]
    assert times_of(fills) == [(60, 60), (60, 60)]
    assert h.finer.asked == []  # only intrabar looks at finer bars


def test_strict_counts_ambiguous_bar_as_unresolved():
    h = FillHarness(STRICT)
    protect(h)
    h.feed(BOTH_INSIDE)
    assert h.stats() == {"ambiguous_bars": 1, "resolved_bars": 0, "unresolved_bars": 1}


def test_classic_reports_no_fill_stats():
    h = FillHarness(CLASSIC)
    protect(h)
    h.feed(BOTH_INSIDE)
    assert h.stats() is None


def test_intrabar_bar_without_finer_data_is_unresolved_and_filled_as_strict():
    h = FillHarness(INTRABAR, finer=[])  # no 1-second bars at all
    stop_loss, take_profit = protect(h)
    fills = h.feed(BOTH_INSIDE)
    assert fills_of(fills) == [(stop_loss, SELL, 1.0, 99.0), (take_profit, SELL, 1.0, 101.0)]
    assert h.stats() == {"ambiguous_bars": 1, "resolved_bars": 0, "unresolved_bars": 1}


def test_intrabar_finer_bars_not_spanning_the_bar_are_unresolved():
    # 1-second bars whose lows never reach the minute's low 98.5: not the same trades.
    partial = [sbar(60, 100.0, 101.5, 99.9, 101.2), sbar(61, 101.2, 101.2, 98.9, 99.0)]
    h = FillHarness(INTRABAR, finer=partial)
    stop_loss, take_profit = protect(h)
    fills = h.feed(BOTH_INSIDE)
    assert fills_of(fills) == [(stop_loss, SELL, 1.0, 99.0), (take_profit, SELL, 1.0, 101.0)]
    assert h.stats() == {"ambiguous_bars": 1, "resolved_bars": 0, "unresolved_bars": 1}


def test_intrabar_only_ambiguous_bars_are_drilled_into():
    h = FillHarness(INTRABAR, finer=TP_FIRST)
    take_profit = h.submit(0, LIMIT, SELL, limit=101.0)  # one level only
    fills = h.feed(BOTH_INSIDE)
    assert fills_of(fills) == [(take_profit, SELL, 1.0, 101.0)]
    assert times_of(fills) == [(60, 60)]
    assert h.finer.asked == []
    assert h.stats() == {"ambiguous_bars": 0, "resolved_bars": 0, "unresolved_bars": 0}


def test_intrabar_needs_a_finer_bars_provider():
    with pytest.raises(ValueError, match=MSG_NEEDS_FINER_BARS):
        SimulatedBroker(fills=FillConfig(model=INTRABAR))


# --- gaps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [CLASSIC, STRICT, INTRABAR])
def test_gap_through_both_levels_fills_both_at_the_open_in_every_model(model):
    # A short's stop-loss (buy stop 101) and an add-on (sell limit 102): the bar opens at 103,
    # beyond both levels, and never comes back to them: both fill at the open, nothing is
    # ambiguous, no finer bar is read.
    h = FillHarness(model, finer=TP_FIRST)
    stop_loss = h.submit(0, STOP, BUY, stop=101.0)
    add_on = h.submit(0, LIMIT, SELL, limit=102.0)
    fills = h.feed(mbar(1, 103.0, 104.0, 102.5, 103.5))
    assert fills_of(fills) == [(stop_loss, BUY, 1.0, 103.0), (add_on, SELL, 1.0, 103.0)]
    assert h.finer.asked == []
    if model is not CLASSIC:
        assert h.stats()["ambiguous_bars"] == 0


def test_gap_down_through_stop_fills_at_open_take_profit_untouched():
    for model in (CLASSIC, STRICT, INTRABAR):
        h = FillHarness(model)
        stop_loss, _ = protect(h)
        fills = h.feed(mbar(1, 97.0, 98.0, 96.0, 97.5))
        assert fills_of(fills) == [(stop_loss, SELL, 1.0, 97.0)]


@pytest.mark.parametrize(("model", "first"), [(CLASSIC, "stop"), (STRICT, "limit")])
def test_level_decided_by_the_open_fills_first_under_strict(model, first):
    # Take-profit 101 is beyond the open 101.5 (fills at the open); the stop 99 is reached
    # later in the bar. Classic keeps its order (stop first); strict fills by time.
    h = FillHarness(model)
    stop_loss, take_profit = protect(h)
    fills = h.feed(mbar(1, 101.5, 101.8, 98.0, 98.5))
    expected = [(stop_loss, SELL, 1.0, 99.0), (take_profit, SELL, 1.0, 101.5)]
    assert fills_of(fills) == (expected if first == "stop" else expected[::-1])
    if model is STRICT:
        assert h.stats()["ambiguous_bars"] == 0  # one level after the open: no doubt


# --- stop-limit triggered inside the bar ----------------------------------------------------


@pytest.mark.parametrize(
    ("side", "stop", "limit", "bar", "classic", "strict"),
    [
        # buy stop 101 limit 101.5, open 100: classic fills at the open 100, strict at the stop
        (BUY, 101.0, 101.5, (100.0, 102.0, 99.8, 101.8), 100.0, 101.0),
        # sell stop 99 limit 98.5, open 100: classic at the open 100, strict at the stop 99
        (SELL, 99.0, 98.5, (100.0, 100.2, 98.0, 98.3), 100.0, 99.0),
        # buy stop 101, limit 100.5 below it: the price must come back to the limit after the
        # trigger; classic at the better of limit and open (100), strict at the limit
        (BUY, 101.0, 100.5, (100.0, 101.5, 99.5, 100.0), 100.0, 100.5),
        # sell stop 99, limit 99.5 above it: classic at the open 100, strict at the limit
        (SELL, 99.0, 99.5, (100.0, 100.1, 98.5, 99.8), 100.0, 99.5),
    ],
)
def test_stop_limit_triggered_mid_bar(side, stop, limit, bar, classic, strict):
    for model, expected in ((CLASSIC, classic), (STRICT, strict), (INTRABAR, strict)):
        h = FillHarness(model)  # intrabar without finer data falls back to strict
        oid = h.submit(0, STOP_LIMIT, side, limit=limit, stop=stop)
        fills = h.feed(mbar(1, *bar))
        assert fills_of(fills) == [(oid, side, 1.0, expected)], model
        if model is not CLASSIC:
            assert h.stats() == {
                "ambiguous_bars": 1,
                "resolved_bars": 0,
                "unresolved_bars": 1,
            }


def test_stop_limit_triggered_mid_bar_intrabar_fills_where_the_seconds_say():
    # Buy stop 101 limit 101.5 in a minute opening at 100. The seconds show the price jumping
    # from 100.4 to 101.3 between seconds 61 and 62: the stop is reached at the open of
    # second 62, which fills at that open, 101.3 (worse than strict's 101, within the limit).
    finer = [
        sbar(60, 100.0, 100.5, 99.8, 100.4),
        sbar(62, 101.3, 101.6, 101.2, 101.5),
        sbar(63, 101.6, 102.0, 101.4, 101.8),
    ]
    h = FillHarness(INTRABAR, finer=finer)
    oid = h.submit(0, STOP_LIMIT, BUY, limit=101.5, stop=101.0)
    fills = h.feed(mbar(1, 100.0, 102.0, 99.8, 101.8))
    assert fills_of(fills) == [(oid, BUY, 1.0, 101.3)]
    assert times_of(fills) == [(60, 62)]
    assert h.stats() == {"ambiguous_bars": 1, "resolved_bars": 1, "unresolved_bars": 0}


def test_stop_limit_triggered_intrabar_limit_reached_later_seconds():
    # Buy stop 101, limit 100.5: triggered in second 61, the limit is reached in second 63.
    finer = [
        sbar(60, 100.0, 100.6, 100.0, 100.6),
        sbar(61, 100.6, 101.5, 100.6, 101.2),  # triggers; 100.5 not reached in this second
        sbar(62, 101.2, 101.2, 100.8, 100.9),
        sbar(63, 100.9, 100.9, 99.5, 99.8),  # opens above 100.5, reaches it: fills at 100.5
    ]
    h = FillHarness(INTRABAR, finer=finer)
    oid = h.submit(0, STOP_LIMIT, BUY, limit=100.5, stop=101.0)
    fills = h.feed(mbar(1, 100.0, 101.5, 99.5, 99.8))
    assert fills_of(fills) == [(oid, BUY, 1.0, 100.5)]
    assert times_of(fills) == [(60, 63)]


def test_stop_limit_low_before_trigger_does_not_fill_intrabar():
    # Buy stop 101 limit 100.5: the minute's low 99.5 came BEFORE the trigger, and the price
    # never came back down: classic (100) and strict (100.5) fill; intrabar does not.
    finer = [
        sbar(60, 100.0, 100.2, 99.5, 100.1),
        sbar(61, 100.1, 101.5, 100.9, 101.3),
        sbar(62, 101.3, 101.4, 100.9, 101.0),
    ]
    for model, expected in ((CLASSIC, [100.0]), (STRICT, [100.5]), (INTRABAR, [])):
        h = FillHarness(model, finer=finer)
        h.submit(0, STOP_LIMIT, BUY, limit=100.5, stop=101.0)
        fills = h.feed(mbar(1, 100.0, 101.5, 99.5, 101.0))
        assert [f.fill_price for f in fills] == expected, model
    # and the triggered order keeps working as a limit order on the next bar
    fills = h.feed(mbar(2, 101.0, 101.1, 100.2, 100.4))
    assert [f.fill_price for f in fills] == [100.5]


def test_stop_limit_triggered_at_open_fills_at_open_in_every_model():
    for model in (CLASSIC, STRICT, INTRABAR):
        h = FillHarness(model)
        oid = h.submit(0, STOP_LIMIT, BUY, limit=102.0, stop=101.0)
        fills = h.feed(mbar(1, 101.5, 102.5, 101.2, 102.0))
        assert fills_of(fills) == [(oid, BUY, 1.0, 101.5)], model
