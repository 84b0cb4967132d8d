"""The pages (api.js in Chromium) show numbers and times as ostsite/formatting.py does: the
same hand-written cases (tests/test_formatting.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.test_formatting import DURATIONS, NUMBERS, TIMES

API_JS = Path(settings.BASE_DIR) / "static" / "js" / "api.js"
pytestmark = pytest.mark.e2e


def _js_value(value):
    if value is None:
        return None
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def test_pages_show_numbers_and_times_the_same_way(browser):
    page = browser.new_page()
    page.set_content("<!doctype html><title>api.js</title>")
    page.add_script_tag(path=str(API_JS))
    numbers = page.evaluate(
        "cases => cases.map(([v, d]) => window.OST.num(v === 'NaN' ? NaN :"
        " v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v, d))",
        [[_js_value(value), decimals] for value, decimals, _ in NUMBERS],
    )
    # Nanoseconds beyond 2^53 reach the page as decimal text (OST.parseJson).
    times = page.evaluate(
        "values => values.map(v => window.OST.nsToDateTime(v, true))",
        [str(ns) for ns, _ in TIMES],
    )
    durations = page.evaluate(
        "values => values.map(v => window.OST.seconds(v))", [s for s, _ in DURATIONS]
    )
    page.close()
    assert numbers == [shown for _, _, shown in NUMBERS]
    assert times == [shown for _, shown in TIMES]
    assert durations == [shown for _, shown in DURATIONS]
