"""A walk-forward in a real browser: a form that does not fit the data is refused with the
dates, then a small walk-forward is started from /walkforward, executed by a real django-q2
worker, watched on its page (which reloads itself) until it finishes, and its verdict read."""

from __future__ import annotations

import time

import pytest

from backtests.walkforward.models import WalkForward, WalkForwardStatus
from tests.backtests.studies.study_data import ingest_sessions, session_days
from tests.e2e.helpers import screenshot, worker_log

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

SECONDS = 120
DAYS = session_days()


def fill_form(page, publisher_id: int, in_sample: str) -> None:
    page.fill("#wf-symbols", "AAPL")
    page.select_option("#wf-rtype", "33")
    page.fill("#wf-publisher", str(publisher_id))
    page.fill(
        "#wf-space", '{"fast_period": {"values": [5, 10]}, "slow_period": {"values": [10, 20]}}'
    )
    page.fill("#wf-constraints", "fast_period < slow_period")
    page.select_option("#wf-mode", "rolling")
    page.fill("#wf-is", in_sample)
    page.fill("#wf-oos", "10")
    page.fill("#wf-name", "browser walk-forward")


def status_text(page) -> str:
    try:
        return page.locator("#wf-status").text_content(timeout=5000) or ""
    except Exception:  # the page was reloading
        return ""


def test_walkforward_from_the_form_to_its_verdict(
    worker, desktop, live_server, page_errors, tmp_path
):
    publisher_id = ingest_sessions(tmp_path)
    page = desktop
    page.goto(f"{live_server.url}/walkforward")
    page.wait_for_selector("#walkforward-form")
    fill_form(page, publisher_id, in_sample="30")
    page.click("#start-walkforward")
    error = page.locator("#windows-error").inner_text()
    assert error == (
        "only 1 window fits: two need 50 trading days (30 in-sample + 10 out-of-sample + a "
        f"step of 10), the data has 40 ({DAYS[0]} to {DAYS[-1]}); shorten the parts or the "
        "step, or choose more dates"
    )
    assert not WalkForward.objects.exists()
    # The form keeps what was typed; correct the in-sample length and start it.
    assert page.input_value("#wf-symbols") == "AAPL"
    page.fill("#wf-is", "20")
    page.click("#start-walkforward")
    page.wait_for_url("**/walkforward/*")
    walkforward = WalkForward.objects.get()
    assert page.url.endswith(f"/walkforward/{walkforward.walkforward_id}")

    deadline = time.monotonic() + SECONDS
    while status_text(page) != "completed":
        assert time.monotonic() < deadline, (
            f"{WalkForward.objects.values_list('status', 'error')} {page.content()[-3000:]}"
        )
        time.sleep(0.5)
    walkforward.refresh_from_db()
    assert walkforward.status == WalkForwardStatus.COMPLETED, worker_log(tmp_path)
    verdict = page.locator("#verdict").inner_text()
    assert verdict == walkforward.analysis["verdict"]
    assert verdict.startswith("Out of sample, the stitched walk-forward over 20 trading days")
    rows = page.locator("#windows-table tbody tr")
    assert rows.count() == 2
    assert f"{DAYS[30]} – {DAYS[39]}" in rows.nth(1).inner_text()
    page.wait_for_function(
        "(img => img.complete && img.naturalWidth > 0)(document.getElementById('equity-chart'))"
    )
    screenshot(page, "walkforward-desktop")
    assert page_errors == []
