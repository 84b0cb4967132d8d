"""One click on a completed run's performance page makes its sensitivity report on a real
django-q2 worker and shows the chart."""

from __future__ import annotations

import pytest

from backtests.models import Run
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from tests.e2e.helpers import log_in, new_page, screenshot, wait_for, worker_log

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]


@pytest.mark.parametrize("width", [1400, 390])
def test_one_click_sensitivity_report_on_a_worker(
    market, worker, browser, live_server, e2e_user, page_errors, tmp_path, width
):
    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 5, "slow_period": 10, "quantity": 10},
        symbols=["AAPL", "MSFT"],
        rtype=33,
        publisher_id=market,
        record="trades",
    )
    run = run_execute(run_id=run_create(spec=spec, name="sensitive").run_id)
    assert run.status == "completed"
    page = new_page(browser, live_server, width=width, errors=page_errors)
    log_in(page, e2e_user.username)
    page.goto(page.base_url + f"/performance?run={run.run_id}")
    page.wait_for_selector("#sensitivity-status:has-text('No report yet.')")

    page.click("#sensitivity-run")

    def completed() -> bool:
        report = (Run.objects.get(run_id=run.run_id).metadata or {}).get("sensitivity") or {}
        return report.get("status") == "completed"

    try:
        wait_for(completed, timeout=120, what="the worker to make the report", poll=0.5)
    except pytest.fail.Exception:
        pytest.fail("no report; the worker's log:\n" + worker_log(tmp_path))
    page.wait_for_selector("#sensitivity-run:has-text('Run again')", timeout=15_000)
    page.wait_for_function(
        "(() => { const i = document.getElementById('sensitivity-chart');"
        " return i.complete && i.naturalWidth > 0; })()",
        timeout=30_000,
    )
    assert page.locator("#sensitivity-status").is_hidden()
    page.locator("#sensitivity-card").scroll_into_view_if_needed()
    screenshot(page, f"sensitivity-performance-{width}")
    page.locator("#sensitivity-card").screenshot(path=f"/tmp/pages/sensitivity-card-{width}.png")
    page.context.close()
    assert page_errors == []
