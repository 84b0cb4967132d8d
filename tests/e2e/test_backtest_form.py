"""The backtest form in Chromium: the server's rules (parameter rules, dates) shown before
Run is pressed, the same ones the API and run_backtest apply; forms not red before the user
touched them; an error said once."""

from __future__ import annotations

import pytest

from backtests.models import Run
from backtests.services.backtest_spec import END_CLAMPED, START_AFTER_DATA, START_CLAMPED
from secmaster.services.presets import PRESET_EXISTS
from tests.e2e.helpers import new_page, screenshot
from tests.e2e.site_data import market_sessions

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases=["default", "secmaster"]),
]

BAD = "rgb(192, 52, 43)"  # --bad in site.css
RULE_BROKEN = "fast_period=100, slow_period=50 break the rule fast_period < slow_period"


@pytest.fixture
def sessions(tmp_path) -> int:
    """The three sessions of AAPL and MSFT (ingested before the page is opened)."""
    return market_sessions(tmp_path)


def pick(page) -> None:
    page.wait_for_selector("#strategy option[value=SMACrossover]", state="attached")
    page.select_option("#strategy", "SMACrossover")
    page.wait_for_selector("#param-fast_period")
    page.wait_for_selector("#symbol-list input[value=AAPL]")
    page.check("#symbol-list input[value=AAPL]")


def test_rule_between_parameters_is_shown_and_checked_before_run(sessions, desktop, page_errors):
    page = desktop
    pick(page)
    assert page.locator("#param-rules li").all_inner_texts() == ["fast_period < slow_period"]

    page.fill("#param-slow_period", "50")
    page.fill("#param-fast_period", "100")  # within its own limits (5..100), breaks the rule
    error = page.locator("#err-param-rules")
    error.wait_for(state="visible")  # the server's answer, before pressing Run
    assert error.inner_text() == RULE_BROKEN
    for name in ("fast_period", "slow_period"):
        assert page.locator(f"#param-{name}").get_attribute("aria-invalid") == "true"
    screenshot(page, "form-rule-1280")

    page.click("#run-button")
    page.wait_for_selector("#run-status.status-error")
    assert error.inner_text() == RULE_BROKEN
    assert Run.objects.count() == 0

    page.fill("#param-fast_period", "10")
    error.wait_for(state="hidden")
    assert page.locator("#param-fast_period").get_attribute("aria-invalid") is None
    assert page_errors == []


def test_dates_follow_the_same_rule_as_the_api(sessions, desktop, page_errors):
    # bars from 2024-01-05 to 2024-01-09
    page = desktop
    pick(page)
    page.fill("#start_date", "1990-01-01")
    page.fill("#end_date", "2030-12-31")
    notes = page.locator("#date-notes")
    notes.wait_for(state="visible")
    assert notes.inner_text() == " ".join(
        [
            START_CLAMPED.format(start="1990-01-01", first="2024-01-05"),
            END_CLAMPED.format(end="2030-12-31", last="2024-01-09"),
        ]
    )
    assert page.locator("#err-start_date").is_hidden()

    page.fill("#run-name", "wide dates")
    page.click("#run-button")
    page.wait_for_selector("#run-status.status-ok")
    run = Run.objects.get(name="wide dates")
    assert (run.config["start_date"], run.config["end_date"]) == ("2024-01-05", "2024-01-09")
    assert "Note: start_date 1990-01-01" in page.locator("#run-status").inner_text()

    page.fill("#start_date", "2024-02-01")
    page.fill("#end_date", "")
    refusal = page.locator("#err-start_date")
    refusal.wait_for(state="visible")
    assert refusal.inner_text() == START_AFTER_DATA.format(start="2024-02-01", last="2024-01-09")
    assert page_errors == []


def test_untouched_required_fields_are_not_red(browser, live_server, page_errors):
    page = new_page(browser, live_server, width=1280, errors=page_errors)
    page.goto(page.base_url + "/login/")
    password = page.locator("#id_password")
    color = "e => getComputedStyle(e).borderTopColor"
    assert password.evaluate(color) != BAD  # empty and required, but not touched yet
    page.fill("#id_username", "someone")
    page.click("button[type=submit]")  # the browser refuses: the password is missing
    assert password.evaluate(color) == BAD
    page.context.close()
    assert page_errors == []


def test_an_error_is_said_once(sessions, desktop, page_errors):
    page = desktop
    page.wait_for_selector("#symbol-list input[value=AAPL]")
    page.check("#symbol-list input[value=AAPL]")
    for attempt in range(2):
        page.fill("#preset-name", "pair")
        page.click("#preset-save")
        page.wait_for_selector(
            "#preset-status.status-ok" if attempt == 0 else "#preset-status.status-error"
        )
    assert page.locator("#preset-status").inner_text() == PRESET_EXISTS.format(name="pair")
    assert page_errors == []


def test_starting_capital_is_sent_and_checked(sessions, desktop, page_errors):
    page = desktop
    pick(page)
    assert page.input_value("#capital") == "100000"  # the default the server uses too
    page.fill("#capital", "0")
    page.click("#run-button")
    assert page.locator("#err-capital").inner_text() == "Enter a starting capital above 0."
    assert Run.objects.count() == 0

    page.fill("#capital", "250000")
    page.fill("#run-name", "bigger account")
    page.click("#run-button")
    page.wait_for_selector("#run-status.status-ok")
    assert Run.objects.get(name="bigger account").config["capital"] == 250_000.0
    assert page_errors == []
