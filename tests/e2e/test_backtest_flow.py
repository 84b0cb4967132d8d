"""The backtest workbench in a real browser: parameter form, symbols and presets, a run on a
real django-q2 worker, its analysis on /performance, and deleting it from the history."""

from __future__ import annotations

import pytest

from backtests.models import Run, RunStatus
from secmaster.models import SymbolCoverage, SymbolPreset
from secmaster.services.presets import PRESET_EXISTS
from tests.e2e.helpers import screenshot, wait_for, worker_log

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

RUN_SECONDS = 120


def pick_strategy(page, strategy_id: str = "SMACrossover") -> None:
    page.wait_for_selector(f"#strategy option[value={strategy_id}]", state="attached")
    page.select_option("#strategy", strategy_id)
    page.wait_for_selector("#param-fast_period")


def test_parameter_form_follows_schema_and_rejects_out_of_range(market, desktop, page_errors):
    page = desktop
    pick_strategy(page)
    fast = page.locator("#param-fast_period")
    # SMACrossover.fast_period is ParamSpec(default=20, min=5, max=100, step=1).
    assert (fast.get_attribute("min"), fast.get_attribute("max")) == ("5", "100")
    assert fast.input_value() == "20"
    assert page.locator("#param-bar_period").count() == 0  # set by the Bar period select

    fast.fill("2")
    error = page.locator("#err-param-fast_period")
    error.wait_for(state="visible")
    assert error.inner_text() == "Must be at least 5."
    assert fast.get_attribute("aria-invalid") == "true"
    fast.fill("101")
    assert error.inner_text() == "Must be at most 100."
    fast.fill("7.5")
    assert error.inner_text() == "Enter a whole number."

    page.click("#run-button")
    assert page.locator("#run-status").inner_text() == "Fix the marked fields first."
    assert page.locator("#err-symbols").inner_text() == "Select at least one symbol."
    assert Run.objects.count() == 0

    fast.fill("10")
    assert error.is_hidden()
    assert page_errors == []


def test_symbols_search_and_presets_round_trip(market, desktop, page_errors):
    page = desktop
    page.wait_for_selector("#symbol-list input[value=MSFT]")
    page.fill("#symbol-search", "aap")
    assert page.locator("#symbol-list input").count() == 1
    page.click("#select-shown")
    page.fill("#symbol-search", "")
    page.check("#symbol-list input[value=MSFT]")
    assert page.locator("#symbol-count").inner_text() == "(2 selected of 2)"
    # The hint gives the coverage of the chosen symbols (2024-01-02 only).
    assert (
        page.locator("#coverage-hint")
        .inner_text()
        .startswith("Data of the selected symbols: 2024-01-02 → 2024-01-02 (UTC days).")
    )

    page.fill("#preset-name", "pair")
    page.click("#preset-save")
    page.wait_for_selector("#preset-status.status-ok:has-text('Saved preset')")
    assert SymbolPreset.objects.get(name="pair").symbols == ["AAPL", "MSFT"]
    # Saving under a taken name is refused by the API (409), and the page says why.
    page.fill("#preset-name", "pair")
    page.click("#preset-save")
    page.wait_for_selector("#preset-status.status-error")
    assert page.locator("#preset-status").inner_text().startswith(PRESET_EXISTS.format(name="pair"))

    page.click("#clear-symbols")
    assert page.locator("#symbol-list input:checked").count() == 0
    page.select_option("#preset", "pair")
    page.click("#preset-load")
    page.wait_for_function("document.querySelectorAll('#symbol-list input:checked').length === 2")

    page.uncheck("#symbol-list input[value=MSFT]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#preset-update")
    wait_for(
        lambda: SymbolPreset.objects.get(name="pair").symbols == ["AAPL"],
        timeout=10,
        what="the preset update",
    )

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.click("#preset-delete")
    page.wait_for_selector("#preset-status.status-ok:has-text('Deleted preset')")
    assert "Delete preset “pair”?" in dialogs[0]
    assert not SymbolPreset.objects.filter(name="pair").exists()
    assert page.locator("#preset option[value=pair]").count() == 0
    assert page_errors == []


def test_server_field_error_shows_next_to_the_field(market, desktop, page_errors):
    page = desktop
    pick_strategy(page)
    page.wait_for_selector("#symbol-list input[value=MSFT]")
    page.check("#symbol-list input[value=MSFT]")
    # The coverage disappears after the page loaded it: only the server can notice.
    SymbolCoverage.objects.filter(symbol="MSFT").delete()
    page.click("#run-button")
    page.wait_for_selector("#run-status.status-error")
    field_error = page.locator("#err-symbols")
    field_error.wait_for(state="visible")
    assert "MSFT" in field_error.inner_text()
    assert Run.objects.count() == 0
    assert page_errors == []


def test_run_on_worker_then_performance_then_delete(market, desktop, worker, tmp_path, page_errors):
    page = desktop
    pick_strategy(page)
    page.fill("#param-fast_period", "5")
    page.fill("#param-slow_period", "10")
    page.check("#symbol-list input[value=AAPL]")
    page.check("#symbol-list input[value=MSFT]")
    page.fill("#run-name", "e2e pair")
    page.click("#run-button")
    page.wait_for_selector("#run-status.status-ok")
    run_id = Run.objects.get(name="e2e pair").run_id
    assert page.locator("#run-status").inner_text() == f"Run {run_id} is queued."

    def finished() -> bool:
        return Run.objects.get(run_id=run_id).status not in (RunStatus.QUEUED, RunStatus.RUNNING)

    try:
        wait_for(finished, timeout=RUN_SECONDS, what="the worker to finish the run", poll=0.5)
    except pytest.fail.Exception:
        pytest.fail("the worker did not finish the run; its log:\n" + worker_log(tmp_path))
    run = Run.objects.get(run_id=run_id)
    assert run.status == RunStatus.COMPLETED, (run.metadata, worker_log(tmp_path))

    # The page notices through its polling, reports it and lists the run with its links.
    page.wait_for_selector("#run-status:has-text('completed')", timeout=10_000)
    row = page.locator(f"#history tr[data-run-id='{run_id}']")
    row.wait_for()
    assert row.locator(".badge").inner_text().lower() == "completed"
    assert row.locator(".run-name").inner_text() == "e2e pair"
    assert page.locator("#running .job").count() == 0
    screenshot(page, "e2e-backtest-1280")

    row.locator("a", has_text="Performance").click()
    page.wait_for_url(f"**/performance?run={run_id}")
    page.wait_for_selector("#metrics .metric[data-metric=net_pnl]")
    assert page.locator("#run").input_value() == run_id
    trades = int(page.locator(".metric[data-metric=trades] .metric-value").inner_text())
    assert trades > 0
    page.wait_for_selector("#roundtrips tbody tr.clickable")
    assert page.locator("#roundtrips tbody tr.clickable").count() == trades

    page.locator("#roundtrips tbody tr.clickable").first.click()
    page.wait_for_selector("#trade-dialog[open]")
    page.wait_for_function(
        "document.getElementById('trade-chart').dataset.drawn === 'true'", timeout=30_000
    )
    assert "/chart.png?" in page.locator("#trade-chart-link").get_attribute("href")
    page.keyboard.press("Escape")
    page.wait_for_selector("#trade-dialog:not([open])", state="attached")

    # Sorting by net P&L puts the worst trade first.
    page.click("#roundtrips th[data-key=pnl_after_commission] button")
    # The table is paged by the server: wait for the sorted page to replace the first one.
    page.wait_for_selector("#roundtrips[aria-busy=false]")
    values = page.eval_on_selector_all(
        "#roundtrips tbody tr td:last-child", "cells => cells.map(c => c.textContent)"
    )
    numbers = [float(v.replace(",", "")) for v in values]
    assert numbers == sorted(numbers)
    screenshot(page, "e2e-performance-1280")

    # The per-symbol breakdown filters the whole page to one symbol.
    assert page.locator("#per-symbol tbody tr").count() == 2
    page.click("#per-symbol button:has-text('MSFT')")
    page.wait_for_function(
        "(() => { const cells = [...document.querySelectorAll("
        "'#roundtrips tbody tr.clickable td:nth-child(2)')];"
        " return cells.length > 0 && cells.every(td => td.textContent === 'MSFT'); })()"
    )
    assert page.locator("#symbol").input_value() == "MSFT"
    assert page.locator("#per-symbol-card").is_hidden()
    assert "symbol=MSFT" in page.locator("#pnl-summary").get_attribute("src")
    assert "symbol=MSFT" in page.locator("#equity-link").get_attribute("href")
    page.wait_for_function("window.ostCharts.equity.data.symbol === 'MSFT'")

    page.goto(page.base_url + "/backtest")
    row = page.locator(f"#history tr[data-run-id='{run_id}']")
    row.locator("input[type=checkbox]").check()
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.click("#delete-runs")
    page.wait_for_selector("#history-status.status-ok")
    assert page.locator("#history-status").inner_text() == "Deleted 1 run."
    assert messages and messages[0].startswith("Delete 1 run ")
    assert not Run.objects.filter(run_id=run_id).exists()
    assert page.locator("#history .empty-cell").inner_text().startswith("No runs yet.")
    assert page_errors == []
