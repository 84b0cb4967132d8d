"""GET /api/runs/compare, compare/overlay and compare.png on runs with hand-checked trades.

Run ``win`` (capital 100,000): AAPL bought 10 @ 100, sold 10 @ 105, 1.0 commission per fill:
net +48. Run ``loss`` (capital 50,000): the same entry, sold 10 @ 99: net -12. Their returns
are +0.048 % and -0.024 %.
"""

from __future__ import annotations

import pytest

from backtests.comparison.selectors import (
    COMPARE_ACTIVE,
    COMPARE_IDS_MISSING,
    COMPARE_TOO_FEW,
    COMPARE_TOO_MANY,
    COMPARE_UNKNOWN,
)
from backtests.models import Run, RunStatus
from tests.backtests.run_rows import bar_rows, fill_row, run_row, run_with_one_trade

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def losing_run(run_id: str = "loss", capital: float = 50_000.0) -> Run:
    run = run_row(run_id)
    run.config = {**run.config, "capital": capital, "strategy_params": {"fast_period": 3}}
    run.save(update_fields=["config"])
    bar_rows(run, "AAPL", [99.0, 100.0, 102.0, 99.0, 98.0])
    bar_rows(run, "MSFT", [300.0, 301.0, 302.0, 303.0, 304.0])
    fill_row(run, minute=1, symbol="AAPL", side="BUY", quantity=10, price=100.0)
    fill_row(run, minute=3, symbol="AAPL", side="SELL", quantity=10, price=99.0)
    return run


@pytest.fixture
def two_runs():
    return run_with_one_trade("win"), losing_run()


def compare(client, run_ids: str, route: str = "/api/runs/compare", **extra):
    return client.get(route, {"run_ids": run_ids, **extra})


def test_compare_metrics_side_by_side_with_best_marked(api_client, two_runs):
    body = compare(api_client, "win,loss").json()
    assert [r["run_id"] for r in body["runs"]] == ["win", "loss"]
    assert [r["capital"] for r in body["runs"]] == [100_000.0, 50_000.0]
    rows = {row["key"]: row for row in body["metrics"]}
    assert rows["net_pnl"]["values"] == [48.0, -12.0]
    assert rows["net_pnl"]["best"] == [0]
    assert rows["net_pnl"]["better"] == "higher"
    assert rows["total_return_pct"]["values"] == [0.048, -0.024]
    # Both paid 2.0 commission: equal values mark nobody.
    assert rows["commission"]["values"] == [2.0, 2.0]
    assert rows["commission"]["best"] == []
    # Capital has no better side.
    assert rows["capital"]["better"] is None and rows["capital"]["best"] == []
    # A lower max drawdown is better: the losing run fell further.
    drawdown = rows["max_drawdown_pct"]
    assert drawdown["better"] == "lower"
    assert drawdown["best"] == [drawdown["values"].index(min(drawdown["values"]))]


def test_compare_lists_config_differences(api_client, two_runs):
    body = compare(api_client, "win,loss").json()
    rows = {row["key"]: row for row in body["config"]}
    assert rows["capital"] == {"key": "capital", "values": [None, 50_000.0], "differs": True}
    assert rows["strategy_params.fast_period"]["values"] == [5, 3]
    assert rows["strategy_params.fast_period"]["differs"] is True
    assert rows["strategy_params.slow_period"]["values"] == [10, None]
    assert rows["strategy"] == {
        "key": "strategy",
        "values": ["SMACrossover", "SMACrossover"],
        "differs": False,
    }


def test_compare_per_symbol_net_pnl(api_client, two_runs):
    body = compare(api_client, "win,loss").json()
    rows = {row["symbol"]: row for row in body["per_symbol"]}
    assert rows["AAPL"]["net_pnl"] == [48.0, -12.0]
    assert rows["AAPL"]["best"] == [0]
    # MSFT is in both runs and never traded: 0 each, nothing marked.
    assert rows["MSFT"]["net_pnl"] == [0.0, 0.0]
    assert rows["MSFT"]["best"] == []


def test_compare_symbol_of_one_run_only_is_null_for_the_other(api_client):
    run_with_one_trade("win")
    run = run_row("other", symbols=("TSLA",))
    bar_rows(run, "TSLA", [10.0, 11.0, 12.0])
    body = compare(api_client, "win,other").json()
    rows = {row["symbol"]: row["net_pnl"] for row in body["per_symbol"]}
    assert rows == {"AAPL": [48.0, None], "MSFT": [0.0, None], "TSLA": [None, 0.0]}


def test_compare_curves_are_percent_of_each_capital(api_client, two_runs):
    body = compare(api_client, "win,loss").json()
    win, loss = body["curves"]
    assert win["ts"] == sorted(win["ts"]) and len(win["ts"]) == len(win["return_pct"])
    # Final equity over capital, by hand: +48 on 100,000 and -12 on 50,000.
    assert win["return_pct"][-1] == pytest.approx(0.048)
    assert loss["return_pct"][-1] == pytest.approx(-0.024)
    assert all(value <= 0 for value in win["drawdown_pct"] + loss["drawdown_pct"])
    # Loss run, equity at each close: 49,999 after buying 10 @ 100 (1 commission), 50,019
    # at the close of 102 (the peak), 49,988 after selling @ 99 (1 more): -31 from the peak,
    # -0.061977 % rounded to 4 decimals.
    assert min(loss["drawdown_pct"]) == pytest.approx(-0.062)


def test_overlay_is_columnar_and_downsampled(api_client, two_runs):
    body = compare(api_client, "win,loss", "/api/runs/compare/overlay", points=2).json()
    assert [run["run_id"] for run in body["runs"]] == ["win", "loss"]
    full = compare(api_client, "win,loss", "/api/runs/compare/overlay").json()["runs"][1]
    loss = body["runs"][1]
    assert len(loss["ts"]) == len(loss["return_pct"]) == len(loss["drawdown_pct"]) == 2
    # Each point keeps its group's last time and return, and its deepest drawdown.
    assert loss["ts"][-1] == full["ts"][-1]
    assert loss["return_pct"][-1] == full["return_pct"][-1]
    assert min(loss["drawdown_pct"]) == min(full["drawdown_pct"])


def test_compare_png_is_an_image(api_client, two_runs):
    response = compare(api_client, "win,loss", "/api/runs/compare.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)


ROUTES = ["/api/runs/compare", "/api/runs/compare/overlay", "/api/runs/compare.png"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("run_ids", "message"),
    [
        ("", COMPARE_IDS_MISSING.format(low=2, high=8)),
        (" , ,", COMPARE_IDS_MISSING.format(low=2, high=8)),
        ("win", COMPARE_TOO_FEW.format(count=1)),
        ("win,win", COMPARE_TOO_FEW.format(count=1)),
        (",".join(f"r{i}" for i in range(9)), COMPARE_TOO_MANY.format(limit=8, count=9)),
    ],
)
def test_compare_bad_run_ids_is_400_with_the_rule(api_client, two_runs, route, run_ids, message):
    response = compare(api_client, run_ids, route)
    assert response.status_code == 400
    assert response.json() == {"error": message, "fields": {"run_ids": message}}


def test_compare_limit_follows_setting(api_client, two_runs, settings):
    settings.OST_COMPARE_MAX_RUNS = 2
    response = compare(api_client, "win,loss,third")
    assert response.status_code == 400
    assert response.json()["error"] == COMPARE_TOO_MANY.format(limit=2, count=3)


@pytest.mark.parametrize("route", ROUTES)
def test_compare_unknown_runs_are_404_naming_each(api_client, two_runs, route):
    response = compare(api_client, "win,nope,ghost", route)
    assert response.status_code == 404
    assert response.json() == {"error": COMPARE_UNKNOWN.format(run_ids="nope, ghost")}


@pytest.mark.parametrize("route", ROUTES)
def test_compare_nul_in_run_ids_is_400(api_client, two_runs, route):
    response = compare(api_client, "win,loss\x00", route)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"run_ids"}


@pytest.mark.parametrize("route", ROUTES)
def test_compare_active_runs_are_409_naming_each(api_client, two_runs, route):
    run_row("busy", status=RunStatus.RUNNING)
    run_row("waiting", status=RunStatus.QUEUED)
    response = compare(api_client, "win,busy,waiting", route)
    assert response.status_code == 409
    expected = COMPARE_ACTIVE.format(runs="busy (running), waiting (queued)")
    assert response.json() == {"error": expected}


@pytest.mark.parametrize("route", ROUTES)
def test_compare_anonymous_is_401(anon_client, two_runs, route):
    response = compare(anon_client, "win,loss", route)
    assert response.status_code == 401


def test_metric_table_has_a_row_for_every_metric_a_run_stores(api_client, two_runs):
    from backtests.comparison.metric_table import METRIC_ROWS, NOT_FIGURES

    stored = set(api_client.get("/api/runs/win/metrics").json()) - NOT_FIGURES
    assert stored <= {row.key for row in METRIC_ROWS}


def test_run_detail_answers_one_run_or_404(api_client, two_runs):
    body = api_client.get("/api/runs/loss").json()
    assert body["run_id"] == "loss" and body["config"]["capital"] == 50_000.0
    assert api_client.get("/api/runs/nope").status_code == 404


def test_compare_with_a_run_that_never_saw_a_bar(api_client):
    run_with_one_trade("win")
    run_row("empty", status=RunStatus.FAILED, metadata={"error": "boom"})
    body = compare(api_client, "win,empty").json()
    assert body["curves"][1]["ts"] == [] and body["curves"][1]["return_pct"] == []
    rows = {row["key"]: row for row in body["metrics"]}
    assert rows["net_pnl"]["values"] == [48.0, 0.0]
    png = compare(api_client, "win,empty", "/api/runs/compare.png")
    assert png.status_code == 200 and png.content.startswith(PNG_MAGIC)
