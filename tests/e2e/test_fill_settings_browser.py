"""The backtest page's "Fills and costs" section in a real browser, and the fill model and its
counts on the run's performance page."""

from __future__ import annotations

import pytest

from backtests.models import Run
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.fill_spec import SLIPPAGE_TICKS_INVALID
from backtests.services.runs import run_create, run_execute
from tests.e2e.helpers import screenshot, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]


def ready(page) -> None:
    page.wait_for_selector("#strategy option[value=SMACrossover]", state="attached")
    page.select_option("#strategy", "SMACrossover")
    page.wait_for_selector("#param-fast_period")
    page.fill("#param-fast_period", "5")
    page.fill("#param-slow_period", "10")
    page.wait_for_selector("#symbol-list input[value=AAPL]")
    page.check("#symbol-list input[value=AAPL]")


def test_fill_settings_sent_with_the_run_and_summarised(market, desktop, page_errors):
    page = desktop
    ready(page)
    assert page.locator("#fill-summary").inner_text() == "classic fills, no costs"
    assert page.locator("#fill_model").is_hidden()  # folded away until opened
    page.click("#fill-details summary")
    page.select_option("#fill_model", "intrabar")
    page.fill("#slippage", "2")
    page.fill("#participation_cap", "10")
    page.fill("#latency_ms", "50")
    assert page.locator("#fill-summary").inner_text() == (
        "intrabar fills, slippage 2 ticks, ≤ 10 % of a bar's volume, latency 50 ms"
    )
    # The market fixture has 1-minute bars only: nothing for intrabar to resolve them with.
    page.wait_for_selector("#fill-model-hint:has-text('no finer bars')")
    screenshot(page, "fills-backtest-1280")
    page.fill("#run-name", "fills e2e")
    page.click("#run-button")
    page.wait_for_selector("#run-status.status-ok")
    config = Run.objects.get(name="fills e2e").config
    assert {k: config[k] for k in ("fill_model", "slippage_ticks", "slippage_bps")} == {
        "fill_model": "intrabar",
        "slippage_ticks": 2.0,
        "slippage_bps": 0.0,
    }
    assert (config["participation_cap"], config["latency_ms"], config["tick_size"]) == (
        0.1,
        50.0,
        None,
    )
    assert page_errors == []


def test_fill_settings_bad_values_refused_in_page_and_by_server(market, desktop, page_errors):
    page = desktop
    ready(page)
    page.click("#fill-details summary")
    page.fill("#participation_cap", "150")
    page.click("#run-button")
    assert page.locator("#run-status").inner_text() == "Fix the marked fields first."
    assert (
        page.locator("#err-participation_cap")
        .inner_text()
        .startswith("Volume cap must be a percentage above 0 and at most 100")
    )
    assert Run.objects.count() == 0

    # What only the server knows (its upper limit) lands next to the field too, and opens
    # the section if it was folded.
    page.fill("#participation_cap", "")
    page.fill("#slippage", "20000")
    page.click("#fill-details summary")  # fold it
    page.click("#run-button")
    error = page.locator("#err-slippage_ticks")
    error.wait_for(state="visible")
    assert error.inner_text() == SLIPPAGE_TICKS_INVALID
    assert Run.objects.count() == 0
    assert page_errors == []


@pytest.mark.parametrize("width", [1400, 390])
def test_performance_page_shows_the_fill_model_and_its_counts(
    market, browser, live_server, e2e_user, page_errors, width
):
    from tests.e2e.helpers import log_in, new_page

    spec = backtest_spec_build(
        strategy="BollingerReversion",
        strategy_params={},
        symbols=["AAPL", "MSFT"],
        rtype=33,
        publisher_id=market,
        record="trades",
        fill_model="strict",
        slippage_bps=1.5,
    )
    run = run_execute(run_id=run_create(spec=spec, name="strict run").run_id)
    assert run.status == "completed", run.metadata
    meta = run.metadata
    page = new_page(browser, live_server, width=width, errors=page_errors)
    log_in(page, e2e_user.username)
    page.goto(page.base_url + f"/performance?run={run.run_id}")
    summary = page.locator("#run-summary")
    wait_for(lambda: "fills" in summary.inner_text(), timeout=20, what="the run summary")
    assert (
        f"strict fills ({meta['ambiguous_bars']} ambiguous bars: 0 resolved from finer bars,"
        f" {meta['unresolved_bars']} unresolved) · slippage 1.5 bp"
    ) in summary.inner_text()
    screenshot(page, f"fills-performance-{width}")
    page.goto(page.base_url + "/backtest")
    page.wait_for_selector("#fill-details")
    page.click("#fill-details summary")
    screenshot(page, f"fills-backtest-{width}")
    page.context.close()
    assert page_errors == []
