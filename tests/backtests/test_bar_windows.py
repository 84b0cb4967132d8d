"""Windows of N real bars (``GET /api/runs/{id}/bar-window``): nights and weekends skipped.

The data: AAPL minute bars in three sessions of 60 bars, 14:30-15:29 UTC on Friday
2024-01-05, Monday 2024-01-08 and Tuesday 2024-01-09 (180 bars). The run covers them all.
Expected timestamps are written out by hand from that calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backtests.charts.bar_windows import BARS_INVALID, ONE_ANCHOR
from backtests.models import RunStatus
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from tests.backtests.market_data import ingest_bars, minute_bars

DBS = ["default", "secmaster"]
SESSIONS = ("2024-01-05", "2024-01-08", "2024-01-09")


def at(day: str, hhmm: str) -> int:
    moment = datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


FIRST, LAST = at("2024-01-05", "14:30"), at("2024-01-09", "15:29")


def completed_run(tmp_path, record: str) -> str:
    """A completed run over the three sessions, recorded in full (bars from the run) or
    trades only (bars from the security master)."""
    bars = [bar for day in SESSIONS for bar in minute_bars(38, f"{day}T14:30", 60)]
    publisher_id = ingest_bars(
        tmp_path, bars=bars, mappings={"AAPL": [("2024-01-05", "2024-01-10", 38)]}
    )
    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 5, "slow_period": 10},
        symbols=["AAPL"],
        rtype=33,
        publisher_id=publisher_id,
        record=record,
    )
    run = run_execute(run_id=run_create(spec=spec).run_id)
    assert run.status == RunStatus.COMPLETED
    return run.run_id


@pytest.fixture(params=["full", "trades"])
def run_id(request, tmp_path) -> str:
    """Each bar source: the run's recorded bars, the security master's."""
    return completed_run(tmp_path, request.param)


@pytest.fixture
def full_run_id(tmp_path) -> str:
    return completed_run(tmp_path, "full")


def window(api_client, run_id: str, **query) -> dict:
    response = api_client.get(f"/api/runs/{run_id}/bar-window", {"symbol": "AAPL", **query})
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.django_db(databases=DBS)
def test_first_window_counts_bars_not_clock_time(api_client, run_id):
    # 90 bars from the first: Friday's 60 and Monday's first 30 (not 90 minutes of Friday).
    assert window(api_client, run_id, bars=90) == {
        "symbol": "AAPL",
        "bars": 90,
        "start_ns": FIRST,
        "end_ns": at("2024-01-08", "14:59"),
        "previous_end_ns": None,
        "next_start_ns": at("2024-01-08", "15:00"),
        "data_start_ns": FIRST,
        "data_end_ns": LAST,
    }


@pytest.mark.django_db(databases=DBS)
def test_window_from_a_night_starts_at_the_next_bar(api_client, run_id):
    # Friday 22:00 has no bar: the window starts on Monday's first, and Previous ends on
    # Friday's last bar.
    found = window(api_client, run_id, bars=60, start_ns=at("2024-01-05", "22:00"))
    assert (found["start_ns"], found["end_ns"]) == (
        at("2024-01-08", "14:30"),
        at("2024-01-08", "15:29"),
    )
    assert found["previous_end_ns"] == at("2024-01-05", "15:29")
    assert found["next_start_ns"] == at("2024-01-09", "14:30")


@pytest.mark.django_db(databases=DBS)
def test_previous_window_ends_at_the_bar_before(api_client, run_id):
    found = window(api_client, run_id, bars=40, end_ns=at("2024-01-08", "14:30") - 1)
    assert (found["start_ns"], found["end_ns"]) == (
        at("2024-01-05", "14:50"),
        at("2024-01-05", "15:29"),
    )
    assert found["bars"] == 40
    assert found["previous_end_ns"] == at("2024-01-05", "14:49")
    assert found["next_start_ns"] == at("2024-01-08", "14:30")


@pytest.mark.django_db(databases=DBS)
def test_last_window_and_the_ends_of_the_data(api_client, run_id):
    last = window(api_client, run_id, bars=100, position="last")
    assert (last["start_ns"], last["end_ns"]) == (at("2024-01-08", "14:50"), LAST)
    assert last["next_start_ns"] is None
    assert last["previous_end_ns"] == at("2024-01-08", "14:49")
    # A window reaching past the data holds what there is.
    short = window(api_client, run_id, bars=100, start_ns=at("2024-01-09", "15:00"))
    assert (short["bars"], short["end_ns"], short["next_start_ns"]) == (30, LAST, None)
    beyond = window(api_client, run_id, bars=10, start_ns=LAST + 1)
    assert (beyond["bars"], beyond["start_ns"], beyond["previous_end_ns"]) == (0, None, LAST)


@pytest.mark.django_db(databases=DBS)
def test_window_chart_of_a_located_window_shows_its_bars(api_client, full_run_id):
    found = window(api_client, full_run_id, bars=90)
    chart = api_client.get(
        f"/api/runs/{full_run_id}/window.png",
        {"symbol": "AAPL", "start_ns": found["start_ns"], "end_ns": found["end_ns"]},
    )
    assert chart.status_code == 200
    assert chart["Content-Type"] == "image/png"


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"start_ns": FIRST, "end_ns": LAST}, "end_ns", ONE_ANCHOR),
        ({"start_ns": FIRST, "position": "last"}, "position", ONE_ANCHOR),
        ({"bars": 0}, "bars", None),
        ({"bars": 50_001}, "bars", None),
        ({"position": "middle"}, "position", None),
    ],
)
def test_bad_window_queries_are_400_naming_the_field(
    api_client, full_run_id, query, field, message
):
    response = api_client.get(f"/api/runs/{full_run_id}/bar-window", {"symbol": "AAPL", **query})
    assert response.status_code == 400
    assert field in response.json()["fields"]
    if message:
        assert response.json()["fields"][field] == message


@pytest.mark.django_db(databases=DBS)
def test_unknown_run_or_symbol_is_404(api_client, full_run_id):
    assert api_client.get("/api/runs/nope/bar-window", {"symbol": "AAPL"}).status_code == 404
    response = api_client.get(f"/api/runs/{full_run_id}/bar-window", {"symbol": "MSFT"})
    assert response.status_code == 404


def test_service_refuses_bars_out_of_range_without_the_api():
    from backtests.charts.bar_windows import bar_window_locate
    from ostsite.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        bar_window_locate(run_id="x", symbol="AAPL", bars=0)
    assert refused.value.fields == {"bars": BARS_INVALID}
