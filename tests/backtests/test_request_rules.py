"""One set of request rules for the API, ``run_backtest`` and the page (the page's side is in
tests/e2e/test_backtest_form.py):

- dates reaching beyond the data are narrowed to the first / last bar's day, with a note (the
  same bars run either way); dates that miss the data entirely are refused;
- rules between parameters (``SMACrossover``: ``fast_period < slow_period``) are refused.

The data: AAPL minute bars on 2024-01-03 and 2024-01-04 (two sessions of 100 bars).
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from backtests.models import Run
from backtests.services.backtest_spec import (
    END_BEFORE_DATA,
    END_CLAMPED,
    START_AFTER_DATA,
    START_CLAMPED,
)
from tests.backtests.market_data import ingest_bars, minute_bars

DBS = ["default", "secmaster"]
CONSTRAINT_BROKEN = (
    "constraints: fast_period=100, slow_period=10 break the rule fast_period < slow_period"
)


@pytest.fixture
def publisher_id(tmp_path) -> int:
    bars = minute_bars(38, "2024-01-03T14:30", 100) + minute_bars(38, "2024-01-04T14:30", 100)
    return ingest_bars(tmp_path, bars=bars, mappings={"AAPL": [("2024-01-03", "2024-01-05", 38)]})


def body(publisher_id: int, **changes) -> dict:
    return {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": publisher_id,
        **changes,
    }


def command(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "run_backtest",
        "--strategy",
        "SMACrossover",
        "--symbols",
        "AAPL",
        "--bar-period",
        "MINUTE",
        *args,
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


WIDE_NOTES = [
    START_CLAMPED.format(start="1990-01-01", first="2024-01-03"),
    END_CLAMPED.format(end="2030-12-31", last="2024-01-04"),
]


@pytest.mark.django_db(databases=DBS)
def test_api_dates_beyond_the_data_are_narrowed_with_notes(api_client, publisher_id):
    wide = body(publisher_id, start_date="1990-01-01", end_date="2030-12-31")
    checked = api_client.post("/api/backtest/validate", wide, format="json")
    assert checked.status_code == 200
    assert checked.json()["notes"] == WIDE_NOTES
    config = checked.json()["config"]
    assert (config["start_date"], config["end_date"]) == ("2024-01-03", "2024-01-04")
    assert Run.objects.count() == 0  # validating creates nothing

    submitted = api_client.post("/api/backtest/run", wide, format="json")
    assert submitted.status_code == 200
    assert submitted.json()["notes"] == WIDE_NOTES
    run = Run.objects.get(run_id=submitted.json()["run_id"])
    assert (run.config["start_date"], run.config["end_date"]) == ("2024-01-03", "2024-01-04")
    assert run.name == "SMACrossover AAPL 2024-01-03..2024-01-04"


@pytest.mark.django_db(databases=DBS)
def test_api_dates_inside_the_data_have_no_notes(api_client, publisher_id):
    inside = body(publisher_id, start_date="2024-01-03", end_date="2024-01-04")
    response = api_client.post("/api/backtest/run", inside, format="json")
    assert response.status_code == 200
    assert "notes" not in response.json()  # the seed's answer, unchanged


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("dates", "field", "message"),
    [
        (
            {"start_date": "2024-01-05"},
            "start_date",
            START_AFTER_DATA.format(start="2024-01-05", last="2024-01-04"),
        ),
        (
            {"end_date": "2024-01-02"},
            "end_date",
            END_BEFORE_DATA.format(end="2024-01-02", first="2024-01-03"),
        ),
    ],
)
def test_dates_missing_the_data_are_refused_everywhere(
    api_client, publisher_id, dates, field, message
):
    for url in ("/api/backtest/validate", "/api/backtest/run"):
        response = api_client.post(url, body(publisher_id, **dates), format="json")
        assert response.status_code == 400
        assert response.json()["fields"] == {field: message}
    option = {"start_date": "--start", "end_date": "--end"}[field]
    with pytest.raises(CommandError) as refused:
        command(option, next(iter(dates.values())))
    assert str(refused.value) == f"{option}: {message}"
    assert Run.objects.count() == 0


@pytest.mark.django_db(databases=DBS)
def test_command_dates_beyond_the_data_are_narrowed_with_notes(publisher_id):
    output = command("--start", "1990-01-01", "--end", "2030-12-31")
    lines = output.splitlines()
    assert lines[:2] == [f"note: {note}" for note in WIDE_NOTES]
    run = Run.objects.get()
    assert run.status == "completed"
    assert (run.config["start_date"], run.config["end_date"]) == ("2024-01-03", "2024-01-04")


@pytest.mark.django_db(databases=DBS)
def test_api_refuses_parameters_breaking_a_rule(api_client, publisher_id):
    broken = body(publisher_id, strategy_params={"fast_period": 100, "slow_period": 10})
    for url in ("/api/backtest/validate", "/api/backtest/run"):
        response = api_client.post(url, broken, format="json")
        assert response.status_code == 400
        assert response.json()["fields"] == {"strategy_params": CONSTRAINT_BROKEN}
    assert Run.objects.count() == 0
    rules = api_client.get("/api/strategies/SMACrossover").json()["constraints"]
    assert rules == ["fast_period < slow_period"]


@pytest.mark.django_db(databases=DBS)
def test_command_refuses_parameters_breaking_a_rule(publisher_id):
    with pytest.raises(CommandError) as refused:
        command("--param", "fast_period=100", "--param", "slow_period=10")
    assert str(refused.value) == f"--param: {CONSTRAINT_BROKEN}"
    assert Run.objects.count() == 0


def test_list_strategies_prints_the_rules_between_parameters():
    out = io.StringIO()
    call_command("list_strategies", stdout=out, stderr=io.StringIO())
    after = out.getvalue().split("SMACrossover  (SMA Crossover)\n", 1)[1].splitlines()
    block = []  # SMACrossover's indented lines
    for line in after:
        if not line.startswith("    "):
            break
        block.append(line)
    assert block[-1] == "    rule: fast_period < slow_period"
