"""The running-jobs panel across a reload, the chart browser, and every page at phone width."""

from __future__ import annotations

import re

import pytest

from backtests.models import Run, RunStatus
from tests.backtests.run_rows import run_row
from tests.e2e.helpers import screenshot, this_process_worker_name

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

PHONE_WIDTH = 375
# Form controls (outside scrollable tables) that stick out of the card holding them.
CONTROLS_OUTSIDE_THEIR_CARD = """
[...document.querySelectorAll('.card select, .card input, .card button')]
  .filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().width > 0)
  .filter(e => {
    const r = e.getBoundingClientRect(), c = e.closest('.card').getBoundingClientRect();
    return r.left < c.left - 0.5 || r.right > c.right + 0.5;
  })
  .map(e => e.id || e.textContent)
"""
MINUTE_NS = 60_000_000_000


@pytest.fixture
def completed_run(market) -> str:
    """A run of SMACrossover on the market data, executed in this process (no worker)."""
    from backtests.services.backtest_spec import backtest_spec_build
    from backtests.services.runs import run_create, run_execute

    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 5, "slow_period": 10},
        symbols=["AAPL", "MSFT"],
        rtype=33,
        publisher_id=market,
    )
    run = run_execute(run_id=run_create(spec=spec).run_id)
    assert run.status == RunStatus.COMPLETED, run.metadata
    return run.run_id


def progress_of(page, run_id: str) -> str:
    return page.locator(f"#running .job[data-run-id='{run_id}'] progress").get_attribute("value")


def test_running_panel_shows_progress_survives_reload_and_cancels(
    e2e_user, desktop, page_errors, django_user_model
):
    page = desktop
    worker = this_process_worker_name()
    run_row("r-live", status=RunStatus.RUNNING, progress=40.0, worker=worker, owner=e2e_user)
    other = django_user_model.objects.create_user(username="olga", password="pw-olga-123")
    run_row("r-olga", status=RunStatus.RUNNING, progress=5.0, worker=worker, owner=other)
    page.reload()
    job = page.locator("#running .job[data-run-id='r-live']")
    job.wait_for()
    assert progress_of(page, "r-live") == "40"
    assert job.locator(".pct").inner_text() == "40 %"

    Run.objects.filter(run_id="r-live").update(progress=70.0)
    page.wait_for_function(
        "document.querySelector(\"#running .job[data-run-id='r-live'] progress\").value === 70"
    )
    page.reload()
    job.wait_for()
    assert progress_of(page, "r-live") == "70"
    screenshot(page, "e2e-running-1280")

    # Not the user's run: its Cancel button is off, saying why.
    olga_cancel = page.locator("#running .job[data-run-id='r-olga'] button")
    assert olga_cancel.is_disabled()
    assert "needs the permission backtests.cancel_run" in olga_cancel.get_attribute("title")

    job.get_by_role("button", name="Cancel run r-live").click()
    # Cancelling until its worker has stopped: still listed, button off.
    page.wait_for_function(
        "document.querySelector(\"#running .job[data-run-id='r-live'] .badge\")"
        ".textContent === 'cancelling'"
    )
    assert job.locator("button").is_disabled()
    assert job.locator("button").inner_text() == "Cancelling…"
    assert Run.objects.get(run_id="r-live").status == RunStatus.CANCELLING
    screenshot(page, "e2e-running-cancelling-1280")
    # The worker stops and says so.
    Run.objects.filter(run_id="r-live").update(status=RunStatus.CANCELLED, ts_end=1)
    page.wait_for_selector("#running .job[data-run-id='r-live']", state="detached")
    page.wait_for_selector("#run-status:has-text('Run r-live cancelled.')")
    row = page.locator("#history tr[data-run-id='r-live'] .badge")
    page.wait_for_function(
        "document.querySelector(\"#history tr[data-run-id='r-live'] .badge\")"
        ".textContent === 'cancelled'"
    )
    assert row.inner_text().lower() == "cancelled"
    # In the history, the other user's run can be ticked (to compare it) but not deleted.
    olga_box = page.locator("#history tr[data-run-id='r-olga'] input[type=checkbox]")
    assert "needs the permission backtests.delete_run" in olga_box.get_attribute("title")
    olga_box.check()
    delete = page.locator("#delete-runs")
    assert delete.is_disabled()
    assert "1 of the ticked runs are not yours" in delete.get_attribute("title")
    olga_box.uncheck()
    page.locator("#history tr[data-run-id='r-live'] input[type=checkbox]").check()
    assert delete.is_enabled()
    assert page_errors == []


def chart_src(page) -> dict[str, str]:
    """The query of the chart's PNG link (the same window or trade as the interactive chart),
    plus its path under "path"."""
    src = page.locator("#chart-link").get_attribute("href")
    return {"path": src.split("?")[0], **dict(re.findall(r"[?&]([a-z_]+)=([^&]*)", src))}


def wait_chart_loaded(page) -> None:
    page.wait_for_function(
        "(() => { const c = document.getElementById('chart');"
        " return c.dataset.drawn === 'true' && !c.hidden; })()",
        timeout=30_000,
    )


def test_chart_page_browses_windows_and_opens_trades(completed_run, desktop, page_errors):
    page = desktop
    page.goto(page.base_url + f"/chart?run={completed_run}")
    page.wait_for_selector("#roundtrips tbody tr.clickable")
    wait_chart_loaded(page)
    first = chart_src(page)
    # Windows use the window chart (no trade, no P&L); only a clicked trade uses chart.png.
    assert first["path"] == f"/api/runs/{completed_run}/window.png"
    assert set(first) == {"path", "symbol", "start_ns", "end_ns"}
    # The first window holds 120 bars: from the first (2024-01-02 14:30 UTC) to the 120th.
    assert first["start_ns"] == "1704205800000000000"
    assert int(first["end_ns"]) - int(first["start_ns"]) == 119 * MINUTE_NS
    assert page.locator("#prev").is_disabled()

    # Read before the click: its answer may change the link before a read after it.
    before = page.locator("#chart-link").get_attribute("href")
    page.click("#next")
    # The next window is asked of the server (/bar-window) before its chart is drawn.
    page.wait_for_function(
        "src => document.getElementById('chart-link').getAttribute('href') !== src", arg=before
    )
    wait_chart_loaded(page)
    second = chart_src(page)
    assert second["path"].endswith("/window.png")
    assert int(second["start_ns"]) == 1704205800000000000 + 120 * MINUTE_NS
    assert page.locator("#window-start").input_value() == "2024-01-02T16:30"

    page.locator("#roundtrips tbody tr.clickable").first.click()
    wait_chart_loaded(page)
    trade = chart_src(page)
    assert trade["path"] == f"/api/runs/{completed_run}/chart.png"
    assert trade["direction"] in ("LONG", "SHORT")
    assert page.locator("#chart-heading").inner_text().startswith("Trade 1 · ")
    page.wait_for_function(
        "(() => { const i = document.getElementById('equity');"
        " return i.complete && i.naturalWidth > 0; })()",
        timeout=30_000,
    )
    screenshot(page, "e2e-chart-1280")
    assert page_errors == []


@pytest.mark.parametrize("path", ["/backtest", "/performance", "/chart"])
def test_page_fits_a_phone_screen(completed_run, phone, path, page_errors):
    page = phone
    page.goto(page.base_url + path)
    if path == "/backtest":
        page.wait_for_selector(f"#history tr[data-run-id='{completed_run}']")
        page.wait_for_selector("#symbol-list input[value=AAPL]")
    else:
        page.wait_for_selector("#roundtrips tbody tr.clickable")
        page.wait_for_function(
            "[...document.querySelectorAll('img.chart:not([hidden])')]"
            ".filter(i => i.getAttribute('src')).every(i => i.complete)",
            timeout=60_000,
        )
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, f"e2e-{path[1:]}-375")
    assert width <= PHONE_WIDTH + 1
    assert page.evaluate(CONTROLS_OUTSIDE_THEIR_CARD) == []
    assert page_errors == []


def test_pages_explain_what_to_do_when_there_is_no_data(e2e_user, desktop, page_errors):
    page = desktop
    hint = page.locator("#no-coverage")
    hint.wait_for()
    assert "python manage.py ingest_databento" in hint.inner_text()
    assert page.locator("#symbol-list").inner_text() == (
        "No symbols with data for this source and bar period."
    )
    page.wait_for_selector("#history .empty-cell")
    assert page.locator("#history .empty-cell").inner_text().startswith("No runs yet.")
    for path in ("/performance", "/chart"):
        page.goto(page.base_url + path)
        page.locator("#no-runs").wait_for()
        assert "No completed runs yet." in page.locator("#no-runs").inner_text()
    page.goto(page.base_url + "/performance?run=nope")
    page.wait_for_selector("#page-status.status-error")
    assert "Run nope is not a completed run" in page.locator("#page-status").inner_text()
    assert page_errors == []


def test_preset_buttons_follow_who_may_change_the_preset(
    e2e_user, desktop, page_errors, django_user_model
):
    from secmaster.models import SymbolPreset

    page = desktop
    olga = django_user_model.objects.create_user(username="olga", password="pw-olga-123")
    SymbolPreset.objects.create(
        name="olga's", symbols=["AAPL"], owner_id=olga.pk, owner_username="olga"
    )
    SymbolPreset.objects.create(name="mine", symbols=["AAPL"], owner_id=e2e_user.pk)
    page.reload()
    page.wait_for_selector("#preset option[value=mine]", state="attached")
    for name, allowed in (("olga's", False), ("mine", True), ("olga's", False)):
        page.select_option("#preset", name)
        for button in ("#preset-update", "#preset-delete"):
            page.wait_for_function(
                f"document.querySelector('{button}').disabled === {str(not allowed).lower()}"
            )
    assert "Preset of olga" in page.locator("#preset-delete").get_attribute("title")
    assert not page.locator("#preset-load").is_disabled()  # anyone may load it
    screenshot(page, "e2e-preset-not-yours-1280")
    assert page_errors == []
