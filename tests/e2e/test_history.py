"""The backtest page's History and Running panels in Chromium: what a run shows, a long name,
a phone, a failed run's traceback, sorting, and polling only while runs are active."""

from __future__ import annotations

import pytest

from backtests.models import Run, RunStatus
from tests.backtests.run_rows import BASE_NS, run_row
from tests.e2e.helpers import screenshot, this_process_worker_name
from tests.e2e.site_data import FAILED_TRACEBACK, LONG_NAME, site_with_runs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

SECOND = 1_000_000_000
# The History table within its box: nothing to scroll sideways.
TABLE_FITS = (
    "(() => { const wrap = document.querySelector('#history').closest('.table-wrap');"
    " return wrap.scrollWidth <= wrap.clientWidth + 1; })()"
)


def row(page, run_id: str):
    return page.locator(f"#history tr[data-run-id='{run_id}']")


def cell(page, run_id: str, label: str) -> str:
    return row(page, run_id).locator(f"td[data-label='{label}']").inner_text()


def test_history_shows_what_people_compare_and_fits(desktop, tmp_path, page_errors):
    page = desktop
    site = site_with_runs(tmp_path)
    timed = run_row(
        "timed0000001",
        metadata={"summary": {"net_pnl": -0.003, "sharpe": 0.8123, "trades": 7}},
    )
    run_row("legacy000001", metadata={})  # a run from before summaries were stored
    # Queued at BASE_NS, started 95 s later, ended 3 min 20 s after that.
    Run.objects.filter(pk=timed.pk).update(
        started_ns=BASE_NS + 95 * SECOND, ts_end=BASE_NS + 295 * SECOND
    )
    page.goto(page.base_url + "/backtest")
    row(page, site.long_run_id).wait_for()
    assert page.evaluate(TABLE_FITS)  # a long name wraps instead of widening the table
    assert row(page, site.long_run_id).locator(".run-name").inner_text() == LONG_NAME

    assert cell(page, "timed0000001", "Strategy") == "SMACrossover\nfast_period=5, slow_period=10"
    assert cell(page, "timed0000001", "Started (UTC)") == "2024-01-02 09:01\nqueued 1 min 35 s"
    assert cell(page, "timed0000001", "Took") == "3 min 20 s"  # not counting the queue
    assert cell(page, "timed0000001", "Trades") == "7"
    assert cell(page, "timed0000001", "Sharpe") == "0.81"
    assert cell(page, "timed0000001", "Net P&L") == "-0.003"  # never "0.00"
    assert cell(page, site.long_run_id, "Net P&L") == "1,234.50"
    # A run without a stored summary (before it existed, or not completed) shows dashes.
    assert cell(page, "legacy000001", "Net P&L") == "—"
    # An executed run shows its stored summary, as its metric cards do.
    summary = Run.objects.get(run_id=site.run_id).metadata["summary"]
    assert cell(page, site.run_id, "Net P&L") == f"{summary['net_pnl']:,.2f}"
    assert cell(page, site.failed_run_id, "Trades") == "—"
    screenshot(page, "history-1280")

    # Sorting by net P&L: highest first, then lowest first; runs without one last.
    page.click("#history th[data-sort=net_pnl] button")
    order = page.eval_on_selector_all(
        "#history tbody tr[data-run-id]", "rs => rs.map(r => r.dataset.runId)"
    )
    assert order[:3] == [site.long_run_id, "timed0000001", site.run_id]
    page.click("#history th[data-sort=net_pnl] button")
    order = page.eval_on_selector_all(
        "#history tbody tr[data-run-id]", "rs => rs.map(r => r.dataset.runId)"
    )
    assert order[:3] == [site.run_id, "timed0000001", site.long_run_id]
    assert page.locator("#history th[data-sort=net_pnl]").get_attribute("aria-sort") == "ascending"
    assert page_errors == []


def test_failed_run_shows_its_error_and_traceback(desktop, tmp_path, page_errors):
    page = desktop
    site = site_with_runs(tmp_path)
    page.goto(page.base_url + "/backtest")
    failure = page.locator(f"#history tr.failure-row[data-failure-of='{site.failed_run_id}']")
    failure.wait_for()
    summary = failure.locator("summary").inner_text()
    assert summary == (
        "RuntimeError: boom at 1704465000000000000 · failed after 38 % of the bars"
        " on AAPL at 2024-01-05 14:30:00 UTC"
    )
    traceback = failure.locator("pre.traceback")
    assert traceback.is_hidden()
    failure.locator("summary").click()
    assert traceback.inner_text() == FAILED_TRACEBACK  # lines, not "\n" escapes
    assert page.evaluate(TABLE_FITS)  # the long path wraps inside the table's width
    screenshot(page, "history-failed-1280")
    assert page_errors == []


def test_history_on_a_phone_is_a_list_of_labelled_runs(phone, tmp_path, page_errors):
    page = phone
    site = site_with_runs(tmp_path)
    page.goto(page.base_url + "/backtest")
    row(page, site.long_run_id).wait_for()
    # Every value of a run is on screen, labelled: no sideways scrolling to find it.
    for label in ("Status", "Strategy", "Symbols", "Started (UTC)", "Took", "Net P&L"):
        box = row(page, site.long_run_id).locator(f"td[data-label='{label}']").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, label
    assert row(page, site.long_run_id).get_by_role("link", name="Performance").is_visible()
    page.select_option("#history-sort", "net_pnl:desc")
    first = page.eval_on_selector("#history tbody tr[data-run-id]", "r => r.dataset.runId")
    assert first == site.long_run_id
    screenshot(page, "history-375")
    assert page_errors == []


def running_requests(page) -> list[str]:
    requests: list[str] = []
    page.on(
        "request", lambda r: requests.append(r.url) if "/api/backtest/running" in r.url else None
    )
    return requests


def advance(page, requests: list[str], *, seconds: int) -> int:
    """Let ``seconds`` of page time pass (fake timers), a second at a time with a moment of
    real time for each poll to go out and come back; returns how many polls went out. (A
    slow answer can delay the next poll by a second: callers count polls, not their pace.)"""
    before = len(requests)
    for _ in range(seconds):
        page.clock.run_for(1000)
        page.wait_for_timeout(200)
    page.wait_for_load_state("networkidle")
    return len(requests) - before


def test_polls_only_while_runs_are_active(desktop, page_errors):
    page = desktop
    requests = running_requests(page)
    page.clock.install()
    page.goto(page.base_url + "/backtest")
    page.wait_for_selector("#running .empty")
    page.wait_for_load_state("networkidle")
    assert len(requests) == 1  # the page's first look
    assert advance(page, requests, seconds=10) == 0  # nothing runs: no polling

    # Someone starts a run elsewhere; the user comes back to the window: one look, and the
    # page follows the run every second until it ends.
    run_row("r-live", status=RunStatus.RUNNING, progress=40.0, worker=this_process_worker_name())
    page.clock.run_for(5000)
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    page.wait_for_selector("#running .job[data-run-id='r-live']")
    assert advance(page, requests, seconds=6) >= 3
    Run.objects.filter(run_id="r-live").update(status=RunStatus.COMPLETED, ts_end=BASE_NS + 1)
    for _ in range(10):  # the next poll sees it ended
        if page.locator("#running .empty").count():
            break
        advance(page, requests, seconds=1)
    page.wait_for_selector("#running .empty")
    assert advance(page, requests, seconds=10) == 0  # stopped again
    assert page_errors == []
