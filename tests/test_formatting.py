"""One way to show numbers and times, in Python (the admin) and in the pages (api.js): both
are checked against these hand-written cases (api.js in tests/e2e/test_formatting_browser.py)."""

from __future__ import annotations

import pytest

from ostsite.formatting import duration_text, number_text, utc_text

# (value, decimals, shown)
NUMBERS = [
    (76.03000000000017, 2, "76.03"),  # float noise
    (-0.003, 2, "-0.003"),  # small values keep two significant digits, never "0.00"
    (0.0123, 2, "0.012"),
    (-0.004999, 2, "-0.005"),
    (0.5234, 2, "0.52"),
    (0.05, 2, "0.05"),
    (0.0, 2, "0.00"),
    (-0.0, 2, "0.00"),
    (1234.5, 2, "1,234.50"),
    (-1234567.891, 2, "-1,234,567.89"),
    (2.675, 2, "2.68"),  # 2.67499999... in binary; the browsers round the shortest decimal
    (147, 0, "147"),
    (0.5, 0, "0.5"),
    (36.1, 1, "36.1"),
    (1e-12, 2, "0.00"),
    (None, 2, "—"),
    (float("nan"), 2, "—"),
    (float("inf"), 2, "∞"),
    (float("-inf"), 2, "-∞"),
]
# (nanoseconds, shown): computed in integers, never rounded to the next minute or day.
TIMES = [
    (1_704_844_799_999_999_999, "2024-01-09 23:59:59"),
    (1_704_465_000_000_000_000, "2024-01-05 14:30:00"),
    (0, "1970-01-01 00:00:00"),
]
# (seconds, shown)
DURATIONS = [(0.31, "0.3 s"), (3, "3 s"), (42.4, "42 s"), (200, "3 min 20 s"), (3725, "1 h 2 min")]


@pytest.mark.parametrize(("value", "decimals", "shown"), NUMBERS)
def test_number_text(value, decimals, shown):
    assert number_text(value, decimals=decimals) == shown


@pytest.mark.parametrize(("ns", "shown"), TIMES)
def test_utc_text(ns, shown):
    assert utc_text(ns) == shown + " UTC"


@pytest.mark.parametrize(("seconds", "shown"), DURATIONS)
def test_duration_text(seconds, shown):
    assert duration_text(seconds) == shown
