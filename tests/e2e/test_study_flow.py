"""A parameter study in a real browser: started from the backtest page's Optimise section,
executed by a real django-q2 worker, watched until it finishes on its page, then its best
trial opened as a full run on /performance."""

from __future__ import annotations

import pytest

from backtests.models import Run, RunStatus
from backtests.studies.models import Study, StudyStatus, Trial
from tests.e2e.helpers import screenshot, worker_log

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

SECONDS = 120


def test_study_from_the_backtest_page_to_its_best_trial(
    market, worker, desktop, page_errors, tmp_path
):
    page = desktop
    page.wait_for_selector("#strategy option[value=SMACrossover]", state="attached")
    page.select_option("#strategy", "SMACrossover")
    page.wait_for_selector("#opt-fast_period-search")
    page.check("#symbol-list input[value=AAPL]")
    page.check("#opt-fast_period-search")
    page.fill("#opt-fast_period-min", "5")
    page.fill("#opt-fast_period-max", "15")
    page.fill("#opt-fast_period-step", "5")
    page.check("#opt-slow_period-search")
    page.fill("#opt-slow_period-min", "20")
    page.fill("#opt-slow_period-max", "40")
    page.fill("#opt-slow_period-step", "20")
    page.fill("#optimise-name", "browser grid")
    page.click("#optimise-button")

    page.wait_for_url("**/studies/*")
    study = Study.objects.get()
    assert page.url.endswith(f"/studies/{study.study_id}")
    # 3 fast x 2 slow = 6 grid points, all with fast < slow (by hand).
    assert (study.name, study.sampler, study.n_trials) == ("browser grid", "grid", 6)
    assert study.config["symbols"] == ["AAPL"]
    page.wait_for_function(
        "document.getElementById('study-status').textContent === 'completed'",
        timeout=SECONDS * 1000,
    )
    assert Study.objects.get().status == StudyStatus.COMPLETED, worker_log(tmp_path)
    progress = page.locator("#progress-text").inner_text()
    assert progress.startswith("6 of 6 trials done · 6 complete · 0 infeasible · 0 failed")
    page.wait_for_selector("#trials[aria-busy=false] tbody tr[data-number]")
    assert page.locator("#trials tbody tr[data-number]").count() == 6
    best = Trial.objects.filter(study=study).order_by("-value", "number").first()
    # The table starts sorted by the objective, best first.
    assert page.locator("#trials tbody tr").first.get_attribute("data-number") == str(best.number)
    assert page.locator("#best").inner_text().startswith(f"Trial {best.number}")
    page.wait_for_function("(img => img.complete && img.naturalWidth > 0)(objective)")
    screenshot(page, "study-desktop")

    page.click("#open-best")
    page.wait_for_url("**/performance?run=*", timeout=SECONDS * 1000)
    run = Run.objects.get(run_id=page.url.rpartition("=")[2])
    assert run.status == RunStatus.COMPLETED
    assert run.config["record"] == "full"
    assert {k: run.config["strategy_params"][k] for k in best.params} == best.params
    assert Trial.objects.get(pk=best.pk).run_id == run.run_id
    # The full run reproduces the trial: same net P&L.
    assert run.metadata["summary"]["net_pnl"] == best.value
    assert page_errors == []

    # Two trials ticked in the table → each run in full → the comparison page holds both.
    page.go_back()
    page.wait_for_selector("#trials[aria-busy=false] tbody tr[data-number]")
    other = Trial.objects.filter(study=study, status="complete").exclude(pk=best.pk).first()
    for number in (best.number, other.number):
        page.check(f"#trials tr[data-number='{number}'] input[type=checkbox]")
    assert page.locator("#compare-trials").inner_text() == "Compare 2 ticked trials"
    page.click("#compare-trials")
    page.wait_for_url("**/compare?run_ids=*", timeout=SECONDS * 1000)
    other.refresh_from_db()
    assert other.run_id is not None
    assert set(page.url.rpartition("=")[2].replace("%2C", ",").split(",")) == {
        run.run_id,
        other.run_id,
    }
    page.wait_for_function("window.ostCharts && window.ostCharts['compare-chart']")
    assert page.evaluate("window.ostCharts['compare-chart'].seriesCount") == 4  # 2 × (return, DD)
    assert page_errors == []
