"""The comparison page in Chromium: reached from History (tick runs, Compare selected) and
by ids, the best of a row marked, differences highlighted, the overlay drawn interactively
(both runs' lines) with its PNG a link away."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from backtests.models import RunStatus
from tests.e2e.helpers import screenshot

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]


def executed_run(publisher_id: int, *, fast: int, slow: int, capital: float, name: str) -> str:
    from backtests.services.backtest_spec import backtest_spec_build
    from backtests.services.runs import run_create, run_execute

    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": fast, "slow_period": slow},
        symbols=["AAPL", "MSFT"],
        rtype=33,
        publisher_id=publisher_id,
        capital=capital,
    )
    run = run_execute(run_id=run_create(spec=spec, name=name).run_id)
    assert run.status == RunStatus.COMPLETED, run.metadata
    return run.run_id


@pytest.fixture
def two_runs(market) -> tuple[str, str]:
    return (
        executed_run(market, fast=5, slow=10, capital=100_000, name="fast 5 / slow 10"),
        executed_run(market, fast=8, slow=20, capital=50_000, name="fast 8 / slow 20"),
    )


def test_compare_from_history_marks_best_and_differences(desktop, two_runs, page_errors):
    from backtests.models import Run
    from backtests.results.selectors import run_metrics_get

    page = desktop
    first, second = two_runs
    page.goto(page.base_url + "/backtest")
    button = page.locator("#compare-runs")
    page.locator(f"#history tr[data-run-id='{first}'] input[type=checkbox]").check()
    assert button.is_disabled()
    page.locator(f"#history tr[data-run-id='{second}'] input[type=checkbox]").check()
    assert button.is_enabled()
    assert button.inner_text() == "Compare selected (2)"
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#history-heading").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/pages/history-compare-390.png")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.locator("#history-heading").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/pages/history-compare-1400.png")
    button.click()
    page.wait_for_url("**/compare?run_ids=*")
    page.locator("#comparison").wait_for()

    # The run with the higher net P&L (as its own metrics say) is starred in that row.
    net = {run_id: run_metrics_get(Run.objects.get(pk=run_id))["net_pnl"] for run_id in two_runs}
    shown = [
        page.locator("#compare-runs tbody tr").nth(i).get_attribute("data-run-id") for i in (0, 1)
    ]
    assert sorted(shown) == sorted(two_runs)
    row = page.locator("#compare-metrics tr[data-key='net_pnl'] td")
    if net[first] != net[second]:
        best = shown.index(max(two_runs, key=net.get))
        assert "best" in row.nth(best).get_attribute("class")
        assert "best" not in row.nth(1 - best).get_attribute("class")
    # Capital and the SMA periods differ and are highlighted; the strategy is the same.
    for key in ("capital", "strategy_params.fast_period", "strategy_params.slow_period"):
        assert "differs" in page.locator(f"#compare-config tr[data-key='{key}']").get_attribute(
            "class"
        )
    assert "differs" not in page.locator("#compare-config tr[data-key='strategy']").get_attribute(
        "class"
    )
    page.check("#only-differences")
    assert page.locator("#compare-config tr[data-key='strategy']").is_hidden()
    # The interactive overlay drew both runs: a return line and a drawdown line each, named
    # in its legend; the PNG overlay is one link away.
    page.wait_for_function("window.ostCharts && window.ostCharts['compare-chart']")
    assert page.evaluate("window.ostCharts['compare-chart'].seriesCount") == 4
    legend = page.locator("#compare-chart .ichart-legend").inner_text()
    assert "#1 " in legend and "#2 " in legend
    assert "fast 5 / slow 10" in legend and "fast 8 / slow 20" in legend
    panes = page.evaluate(
        "window.ostCharts['compare-chart'].chart.panes().map((p) => p.getSeries().length)"
    )
    assert panes == [2, 2]
    png = page.locator("#compare-chart-link").get_attribute("href")
    assert page.request.get(page.base_url + png).headers["content-type"] == "image/png"
    page.set_viewport_size({"width": 1400, "height": 900})
    screenshot(page, "compare-1400")
    assert page_errors == []


def test_compare_by_ids_on_a_phone_and_errors_said(phone, two_runs, page_errors):
    page = phone
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.base_url + "/compare?run_ids=" + ",".join(two_runs))
    page.locator("#comparison").wait_for()
    page.wait_for_function("window.ostCharts && window.ostCharts['compare-chart']")
    screenshot(page, "compare-390")
    no_overflow = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_overflow)
    # An unknown id: the page says which, the form keeps the text to correct it.
    page.fill("#run-ids", f"{two_runs[0]},nope")
    page.click("#compare-form button[type=submit]")
    page.wait_for_url("**/compare?run_ids=*nope")
    expect(page.locator("#compare-status")).to_contain_text("Run not found: nope")
    assert page.locator("#comparison").is_hidden()
    assert page_errors == []
