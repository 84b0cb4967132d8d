"""``windows_layout`` on hand-built calendars: every expected date below is counted by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from backtests.walkforward.windows import (
    MODE_INVALID,
    OOS_ZERO,
    Window,
    WindowsError,
    windows_layout,
)

pytestmark = pytest.mark.pure  # no database: runs once, in the SQLite suite

D = dt.date


def weekdays(first: dt.date, count: int) -> list[dt.date]:
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


# Ten weekdays from Mon 2024-01-01: 01..05, 08..12.
TEN = weekdays(D(2024, 1, 1), 10)


def test_rolling_windows_slide_by_the_step_and_never_overlap_out_of_sample():
    windows = windows_layout(TEN, mode="rolling", in_sample_days=4, out_of_sample_days=2)
    assert windows == [
        Window(0, D(2024, 1, 1), D(2024, 1, 4), D(2024, 1, 5), D(2024, 1, 8), D(2024, 1, 1), 4, 2),
        Window(1, D(2024, 1, 3), D(2024, 1, 8), D(2024, 1, 9), D(2024, 1, 10), D(2024, 1, 3), 4, 2),
        Window(
            2, D(2024, 1, 5), D(2024, 1, 10), D(2024, 1, 11), D(2024, 1, 12), D(2024, 1, 5), 4, 2
        ),
    ]


def test_anchored_windows_grow_from_the_first_day_and_warm_up_on_the_last_in_sample_days():
    windows = windows_layout(TEN, mode="anchored", in_sample_days=4, out_of_sample_days=2)
    assert [(w.is_start, w.is_end, w.is_days) for w in windows] == [
        (D(2024, 1, 1), D(2024, 1, 4), 4),
        (D(2024, 1, 1), D(2024, 1, 8), 6),
        (D(2024, 1, 1), D(2024, 1, 10), 8),
    ]
    assert [w.warmup_start for w in windows] == [D(2024, 1, 1), D(2024, 1, 3), D(2024, 1, 5)]
    assert [(w.oos_start, w.oos_end) for w in windows] == [
        (D(2024, 1, 5), D(2024, 1, 8)),
        (D(2024, 1, 9), D(2024, 1, 10)),
        (D(2024, 1, 11), D(2024, 1, 12)),
    ]


def test_a_step_longer_than_out_of_sample_leaves_days_out_and_a_partial_last_window_is_dropped():
    windows = windows_layout(
        TEN, mode="rolling", in_sample_days=3, out_of_sample_days=2, step_days=3
    )
    # window 1: oos days 4-5 (Jan 4, 5); window 2: days 7-8 (Jan 9, 10); a third would
    # need days 10-11 but the calendar has 10 days.
    assert [(w.oos_start, w.oos_end) for w in windows] == [
        (D(2024, 1, 4), D(2024, 1, 5)),
        (D(2024, 1, 9), D(2024, 1, 10)),
    ]


def test_in_sample_always_ends_the_trading_day_before_out_of_sample_starts():
    days = weekdays(D(2024, 3, 1), 60)
    for mode in ("rolling", "anchored"):
        for window in windows_layout(days, mode=mode, in_sample_days=7, out_of_sample_days=5):
            assert days.index(window.oos_start) == days.index(window.is_end) + 1
            assert window.is_end < window.oos_start


def test_out_of_sample_zero_is_refused():
    with pytest.raises(WindowsError) as caught:
        windows_layout(TEN, mode="rolling", in_sample_days=4, out_of_sample_days=0)
    assert caught.value.fields == {"out_of_sample_days": OOS_ZERO}


def test_overlapping_out_of_sample_parts_are_refused_with_their_dates():
    with pytest.raises(WindowsError) as caught:
        windows_layout(TEN, mode="rolling", in_sample_days=4, out_of_sample_days=3, step_days=1)
    message = caught.value.fields["step_days"]
    # window 1 oos: days 5-7 (Jan 5, 8, 9); window 2 oos: days 6-8 (Jan 8, 9, 10)
    assert "windows 1 (2024-01-05 to 2024-01-09) and 2 (2024-01-08 to 2024-01-10)" in message
    assert "share 2 trading days" in message


def test_fewer_than_two_windows_is_refused_with_the_data_s_dates():
    with pytest.raises(WindowsError) as caught:
        windows_layout(TEN, mode="rolling", in_sample_days=6, out_of_sample_days=3)
    message = caught.value.fields["windows"]
    assert "two need 12 trading days" in message
    assert "the data has 10 (2024-01-01 to 2024-01-12)" in message


def test_a_window_that_does_not_fit_at_all_is_refused_with_the_data_s_dates():
    with pytest.raises(WindowsError) as caught:
        windows_layout(TEN, mode="anchored", in_sample_days=9, out_of_sample_days=2)
    assert caught.value.fields["in_sample_days"] == (
        "one window needs 11 trading days (9 in-sample + 2 out-of-sample), the data has 10 "
        "(2024-01-01 to 2024-01-12)"
    )


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"mode": "expanding"}, "mode"),
        ({"in_sample_days": 0}, "in_sample_days"),
        ({"in_sample_days": "x"}, "in_sample_days"),
        ({"in_sample_days": True}, "in_sample_days"),
        ({"out_of_sample_days": -1}, "out_of_sample_days"),
        ({"out_of_sample_days": 2.5}, "out_of_sample_days"),
        ({"step_days": 0}, "step_days"),
        ({"step_days": "²"}, "step_days"),
    ],
)
def test_malformed_options_are_named(options, field):
    given = {"mode": "rolling", "in_sample_days": 4, "out_of_sample_days": 2, **options}
    with pytest.raises(WindowsError) as caught:
        windows_layout(TEN, **given)
    assert set(caught.value.fields) == {field}
    if field == "mode":
        assert caught.value.fields["mode"] == MODE_INVALID


@pytest.mark.parametrize("raw", ["1" * 5000, "١٢", "12.0.1", " "])
def test_texts_that_are_not_plain_day_counts_are_refused(raw):
    with pytest.raises(WindowsError) as caught:
        windows_layout(TEN, mode="rolling", in_sample_days=raw, out_of_sample_days=2)
    assert set(caught.value.fields) == {"in_sample_days"}
