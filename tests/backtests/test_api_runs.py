"""GET/DELETE /api/runs and the per-run analysis routes (JSON and PNG)."""

from __future__ import annotations

import pytest

from backtests.api.serializers import RUN_IDS_NOT_LIST
from backtests.api.views import RUN_NOT_FOUND, SYMBOL_NOT_IN_RUN
from backtests.models import Fill, RecordedBar, Run, RunStatus
from tests.backtests.run_rows import (
    SEED_ROUNDTRIP_KEYS,
    run_row,
    run_with_one_trade,
    t,
)

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUN_KEYS = {
    "run_id",
    "name",
    "ts_start",
    "ts_end",
    "started_ns",
    "status",
    "config",
    "metadata",
    "progress",
}
ACCESS_KEYS = {"owner", "can_cancel", "can_delete"}
CHART_QUERY = {"symbol": "AAPL", "start_ns": t(1), "end_ns": t(3), "direction": "LONG", "pnl": 48}
WINDOW_QUERY = {"symbol": "AAPL", "start_ns": t(0), "end_ns": t(4)}
# Each span chart with a valid query: the trade chart and the chart page's window chart.
SPAN_CHARTS = [("chart.png", CHART_QUERY), ("window.png", WINDOW_QUERY)]
SPAN_PARAMS = [(chart, query, name) for chart, query in SPAN_CHARTS for name in sorted(query)]


# --- anonymous ---------------------------------------------------------------------------

ROUTES = [
    ("get", "/api/runs"),
    ("delete", "/api/runs"),
    ("get", "/api/runs/trade1/roundtrips"),
    ("get", "/api/runs/trade1/metrics"),
    ("get", "/api/runs/trade1/symbols"),
    ("get", "/api/runs/trade1/chart.png"),
    ("get", "/api/runs/trade1/window.png"),
    ("get", "/api/runs/trade1/chart-data"),
    ("get", "/api/runs/trade1/equity"),
    ("get", "/api/runs/trade1/trade-journey.png"),
    ("get", "/api/runs/trade1/pnl-summary.png"),
    ("get", "/api/runs/trade1/equity.png"),
    ("get", "/api/runs/trade1/sensitivity"),
    ("post", "/api/runs/trade1/sensitivity"),
    ("get", "/api/runs/trade1/sensitivity.png"),
    ("get", "/api/runs/trade1/bar-window"),
    ("get", "/api/strategies"),
    ("get", "/api/strategies/SMACrossover"),
    ("post", "/api/backtest/run"),
    ("post", "/api/backtest/validate"),
    ("get", "/api/backtest/status/trade1"),
    ("get", "/api/backtest/running"),
    ("post", "/api/backtest/trade1/cancel"),
    ("get", "/api/runs/trade1"),
    ("get", "/api/runs/compare"),
    ("get", "/api/runs/compare/overlay"),
    ("get", "/api/runs/compare.png"),
    ("get", "/api/runs/trade1/export.zip"),
    ("get", "/api/runs/trade1/export/fills.csv"),
    ("get", "/api/runs/trade1/rerun"),
    ("post", "/api/runs/trade1/rerun"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_route_anonymous_is_401_json(anon_client, method, url):
    run_with_one_trade()
    response = getattr(anon_client, method)(url, format="json")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()
    assert Run.objects.filter(run_id="trade1", status=RunStatus.COMPLETED).exists()


# --- GET /api/runs -----------------------------------------------------------------------


def test_runs_list_newest_first_with_seed_shape(api_client):
    run_row("old", ts_start=t(0))
    run_row("new", ts_start=t(2), status=RunStatus.RUNNING, progress=42.5)
    run_row("mid", ts_start=t(1), status=RunStatus.FAILED, metadata={"error": "boom"})
    body = api_client.get("/api/runs").json()
    assert [run["run_id"] for run in body["runs"]] == ["new", "mid", "old"]
    newest = body["runs"][0]
    assert set(newest) == RUN_KEYS | ACCESS_KEYS
    assert newest["status"] == "running"
    assert newest["progress"] == 42.5
    assert newest["ts_start"] == t(2)
    assert newest["ts_end"] is None
    assert newest["config"]["symbols"] == ["AAPL", "MSFT"]
    assert body["runs"][1]["metadata"] == {"error": "boom"}


def test_runs_list_empty_database_answers_empty_list(api_client):
    assert api_client.get("/api/runs").json() == {"runs": []}


def test_runs_list_limit_keeps_newest(api_client):
    for minute in range(5):
        run_row(f"r{minute}", ts_start=t(minute))
    body = api_client.get("/api/runs?limit=2").json()
    assert [run["run_id"] for run in body["runs"]] == ["r4", "r3"]


@pytest.mark.parametrize("limit", ["0", "1001", "-3", "abc", "2.5"])
def test_runs_list_bad_limit_is_400_naming_limit(api_client, limit):
    response = api_client.get("/api/runs", {"limit": limit})
    assert response.status_code == 400
    assert "limit" in response.json()["fields"]


def test_runs_list_limit_bounds_accepted(api_client):
    run_row("only")
    assert api_client.get("/api/runs?limit=1").status_code == 200
    assert api_client.get("/api/runs?limit=1000").status_code == 200


# --- DELETE /api/runs --------------------------------------------------------------------


def test_runs_delete_removes_runs_and_their_events(api_client, user):
    run_with_one_trade("trade1", owner=user)
    run_with_one_trade("trade2", owner=user)
    response = api_client.delete("/api/runs", {"run_ids": ["trade1"]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"deleted": 1}
    assert list(Run.objects.values_list("run_id", flat=True)) == ["trade2"]
    assert not Fill.objects.filter(run_id="trade1").exists()
    assert not RecordedBar.objects.filter(run_id="trade1").exists()
    assert Fill.objects.filter(run_id="trade2").count() == 2


def test_runs_delete_unknown_ids_count_only_existing(api_client, user):
    run_row("a", owner=user)
    response = api_client.delete("/api/runs", {"run_ids": ["a", "nope", "a"]}, format="json")
    assert response.json() == {"deleted": 1}


def test_runs_delete_empty_list_deletes_nothing(api_client):
    run_row("a")
    assert api_client.delete("/api/runs", {"run_ids": []}, format="json").json() == {"deleted": 0}
    assert Run.objects.count() == 1


def test_runs_delete_running_run_is_deleted(api_client, user):
    run_row("busy", status=RunStatus.RUNNING, progress=10, owner=user)
    run_row("waiting", status=RunStatus.QUEUED, owner=user)
    body = api_client.delete("/api/runs", {"run_ids": ["busy", "waiting"]}, format="json").json()
    assert body == {"deleted": 2}
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"run_ids": "abc"}, {"run_ids": [1, 2]}, {"run_ids": None}, {"run_ids": [["x"]]}],
)
def test_runs_delete_malformed_run_ids_is_400(api_client, body):
    run_row("keep")
    response = api_client.delete("/api/runs", body, format="json")
    assert response.status_code == 400
    assert "run_ids" in response.json()["fields"]
    assert Run.objects.filter(run_id="keep").exists()


def test_runs_delete_body_not_object_is_400(api_client):
    response = api_client.delete("/api/runs", ["a"], format="json")
    assert response.status_code == 400


def test_runs_delete_invalid_json_is_400(api_client):
    response = api_client.delete("/api/runs", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_runs_delete_run_ids_string_message(api_client):
    response = api_client.delete("/api/runs", {"run_ids": "abc"}, format="json")
    assert response.json()["fields"]["run_ids"] == RUN_IDS_NOT_LIST


# --- roundtrips / metrics / symbols --------------------------------------------------------


def test_roundtrips_seed_shape_and_hand_computed_pnl(api_client):
    run_with_one_trade()
    body = api_client.get("/api/runs/trade1/roundtrips").json()
    assert len(body["roundtrips"]) == 1
    trip = body["roundtrips"][0]
    assert set(trip) >= SEED_ROUNDTRIP_KEYS
    assert trip["symbol"] == "AAPL"
    assert trip["direction"] == "LONG"
    assert trip["pnl_before_commission"] == pytest.approx(50.0)  # (105 - 100) * 10
    assert trip["pnl_after_commission"] == pytest.approx(48.0)  # minus 2 x 1.0
    assert trip["entry_ts"] == t(1)
    assert trip["exit_ts"] == t(3)


def test_roundtrips_symbol_filter(api_client):
    run_with_one_trade()
    assert len(api_client.get("/api/runs/trade1/roundtrips?symbol=AAPL").json()["roundtrips"]) == 1
    assert api_client.get("/api/runs/trade1/roundtrips?symbol=MSFT").json() == {
        "roundtrips": [],
        "count": 0,
    }


def test_roundtrips_unknown_run_is_404(api_client):
    response = api_client.get("/api/runs/nope/roundtrips")
    assert response.status_code == 404
    assert response.json() == {"error": RUN_NOT_FOUND.format(run_id="nope")}


def test_roundtrips_symbol_not_in_run_is_404(api_client):
    run_with_one_trade()
    response = api_client.get("/api/runs/trade1/roundtrips?symbol=TSLA")
    assert response.status_code == 404
    assert response.json()["error"] == SYMBOL_NOT_IN_RUN.format(symbol="TSLA", run_id="trade1")


def test_metrics_answers_object_and_filters_symbol(api_client):
    run_with_one_trade()
    everything = api_client.get("/api/runs/trade1/metrics")
    assert everything.status_code == 200
    assert isinstance(everything.json(), dict) and everything.json()
    msft = api_client.get("/api/runs/trade1/metrics?symbol=MSFT")
    assert msft.status_code == 200
    assert msft.json() != everything.json()  # MSFT has no trades, AAPL has one


def test_metrics_unknown_run_and_symbol_are_404(api_client):
    run_with_one_trade()
    assert api_client.get("/api/runs/nope/metrics").status_code == 404
    assert api_client.get("/api/runs/trade1/metrics?symbol=TSLA").status_code == 404


def test_symbols_lists_config_and_traded(api_client):
    run_with_one_trade()
    body = api_client.get("/api/runs/trade1/symbols").json()
    assert body == {"symbols": ["AAPL", "MSFT"], "traded": ["AAPL"]}


def test_symbols_unknown_run_is_404(api_client):
    assert api_client.get("/api/runs/nope/symbols").status_code == 404


# --- PNG charts ----------------------------------------------------------------------------


def _assert_png(response) -> None:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)


def test_trade_chart_is_png(api_client):
    run_with_one_trade()
    _assert_png(api_client.get("/api/runs/trade1/chart.png", CHART_QUERY))


@pytest.mark.parametrize(
    "extra",
    [{"format": "json"}, {"HTTP_ACCEPT": "application/json"}, {"HTTP_ACCEPT": "text/html"}],
)
def test_trade_chart_ignores_accept_and_format(api_client, extra):
    run_with_one_trade()
    query = dict(CHART_QUERY)
    headers = {key: value for key, value in extra.items() if key.startswith("HTTP_")}
    query.update({key: value for key, value in extra.items() if not key.startswith("HTTP_")})
    _assert_png(api_client.get("/api/runs/trade1/chart.png", query, **headers))


def test_window_chart_is_png_and_differs_per_window(api_client):
    run_with_one_trade()
    whole = api_client.get("/api/runs/trade1/window.png", WINDOW_QUERY)
    _assert_png(whole)
    msft = api_client.get("/api/runs/trade1/window.png", {**WINDOW_QUERY, "symbol": "MSFT"})
    _assert_png(msft)
    later = {**WINDOW_QUERY, "start_ns": t(9), "end_ns": t(12)}
    empty = api_client.get("/api/runs/trade1/window.png", later)
    _assert_png(empty)  # no bars after minute 4: a PNG that says so, not an error
    assert len({whole.content, msft.content, empty.content}) == 3


@pytest.mark.parametrize(("chart", "query", "missing"), SPAN_PARAMS)
def test_span_chart_missing_param_is_400_naming_it(api_client, chart, query, missing):
    run_with_one_trade()
    query = {key: value for key, value in query.items() if key != missing}
    response = api_client.get(f"/api/runs/trade1/{chart}", query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()["fields"]) == {missing}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("start_ns", "abc"),
        ("end_ns", "1e99x"),
        ("direction", "UP"),
        ("direction", "long "),
        ("pnl", "x"),
        ("pnl", "nan"),
        ("pnl", "inf"),
        ("start_ns", "-1"),
        ("end_ns", str(10**30)),
        ("end_ns", str(t(0))),  # before start_ns
    ],
)
def test_trade_chart_malformed_param_is_400_naming_it(api_client, param, value):
    run_with_one_trade()
    response = api_client.get("/api/runs/trade1/chart.png", {**CHART_QUERY, param: value})
    assert response.status_code == 400
    assert param in response.json()["fields"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("symbol", ""),
        ("start_ns", "abc"),
        ("start_ns", "-1"),
        ("start_ns", "1.5"),
        ("end_ns", "1e99x"),
        ("end_ns", str(10**30)),
        ("end_ns", str(t(0) - 1)),  # before start_ns
    ],
)
def test_window_chart_malformed_param_is_400_naming_it(api_client, param, value):
    run_with_one_trade()
    response = api_client.get("/api/runs/trade1/window.png", {**WINDOW_QUERY, param: value})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()["fields"]) == {param}


@pytest.mark.parametrize(("chart", "query"), SPAN_CHARTS)
def test_span_chart_unknown_run_is_404_json(api_client, chart, query):
    response = api_client.get(f"/api/runs/nope/{chart}", query)
    assert response.status_code == 404
    assert response.json() == {"error": RUN_NOT_FOUND.format(run_id="nope")}


@pytest.mark.parametrize(("chart", "query"), SPAN_CHARTS)
def test_span_chart_symbol_not_in_run_is_404(api_client, chart, query):
    run_with_one_trade()
    response = api_client.get(f"/api/runs/trade1/{chart}", {**query, "symbol": "TSLA"})
    assert response.status_code == 404
    assert response.json()["error"] == SYMBOL_NOT_IN_RUN.format(symbol="TSLA", run_id="trade1")


@pytest.mark.parametrize("chart", ["trade-journey.png", "pnl-summary.png", "equity.png"])
@pytest.mark.parametrize("query", [{}, {"symbol": "AAPL"}, {"symbol": "MSFT"}])
def test_run_charts_are_png(api_client, chart, query):
    run_with_one_trade()
    _assert_png(api_client.get(f"/api/runs/trade1/{chart}", query, HTTP_ACCEPT="application/json"))


@pytest.mark.parametrize("chart", ["trade-journey.png", "pnl-summary.png", "equity.png"])
def test_run_charts_unknown_run_or_symbol_is_404(api_client, chart):
    run_with_one_trade()
    assert api_client.get(f"/api/runs/nope/{chart}").status_code == 404
    response = api_client.get(f"/api/runs/trade1/{chart}", {"symbol": "TSLA"})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


# --- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"), [(m, u.replace("trade1", "a%00b")) for m, u in ROUTES if "trade1" in u]
)
def test_route_nul_in_path_never_500(api_client, method, url):
    run_with_one_trade()
    response = getattr(api_client, method)(url, {}, format="json")
    assert response.status_code in (400, 404, 405), response.content[:300]
    assert "error" in response.json()


def test_runs_delete_nul_run_id_is_400(api_client):
    response = api_client.delete("/api/runs", {"run_ids": ["a\x00b"]}, format="json")
    assert response.status_code == 400
    assert "run_ids" in response.json()["fields"]


@pytest.mark.parametrize("symbol", ["x" * 5000, "'; DROP TABLE runs; --"])
def test_symbol_query_hostile_values_are_404(api_client, symbol):
    run_with_one_trade()
    for url in ("/api/runs/trade1/roundtrips", "/api/runs/trade1/equity.png"):
        assert api_client.get(url, {"symbol": symbol}).status_code == 404


# --- OpenAPI -------------------------------------------------------------------------------


def test_schema_of_backtests_views_is_valid_without_warnings():
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/", include("backtests.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)  # raises on an invalid document
    assert not GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache
    documented = {(url, method) for url, item in schema["paths"].items() for method in item}
    expected = {
        (
            url.replace("trade1", "{run_id}")
            .replace("SMACrossover", "{strategy_id}")
            .replace("fills.csv", "{file}"),
            method,
        )
        for method, url in ROUTES
    }
    assert documented == expected
    for chart in ("chart.png", "window.png"):
        png = schema["paths"][f"/api/runs/{{run_id}}/{chart}"]["get"]["responses"]["200"]
        assert list(png["content"]) == ["image/png"]
    window = schema["paths"]["/api/runs/{run_id}/window.png"]["get"]["parameters"]
    assert {p["name"] for p in window} == {"run_id", "symbol", "start_ns", "end_ns"}


def test_symbol_query_with_nul_is_400(api_client):
    run_with_one_trade()
    response = api_client.get("/api/runs/trade1/roundtrips", {"symbol": "A\x00"})
    assert response.status_code == 400
    assert "symbol" in response.json()["fields"]


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_results_of_an_active_run_wait_for_it_to_stop(api_client):
    run_row("busy", status=RunStatus.RUNNING, progress=10)
    for route in ("metrics", "roundtrips"):
        answer = api_client.get(f"/api/runs/busy/{route}")
        assert answer.status_code == 409
        assert answer.json()["error"] == (
            "run busy is running: its results are computed when it stops; try again then"
        )
    for chart in ("equity.png", "trade-journey.png", "pnl-summary.png"):
        answer = api_client.get(f"/api/runs/busy/{chart}")
        assert answer.status_code == 200 and answer["Content-Type"] == "image/png"


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_page_sorted_server_side(api_client):
    run = run_row("many", symbols=("AAPL",))
    rows = []
    for i in range(12):  # 12 trades of +i - 1 each (commission 0.5 a fill)
        rows += [(3 * i, "AAPL", "BUY", 1, 100, 0.5), (3 * i + 1, "AAPL", "SELL", 1, 100 + i, 0.5)]
    Fill.objects.bulk_create(
        Fill(
            run=run, ts_event_ns=t(m), ts_created_ns=t(m), ts_broker_ns=t(m),
            associated_order_id=f"O{k}", broker_order_id=f"B{k}", symbol=s, fill_id=f"F{k}",
            side=side, quantity_filled=q, fill_price=p, commission=c, exchange="SIMULATED",
        )
        for k, (m, s, side, q, p, c) in enumerate(rows)
    )  # fmt: skip
    page = api_client.get(
        "/api/runs/many/roundtrips?sort=pnl_after_commission&order=desc&limit=5&offset=2"
    ).json()
    assert page["count"] == 12 and (page["offset"], page["limit"]) == (2, 5)
    # P&L after commission: i - 1 for trade number i + 1; descending from 10, skip 2
    assert [r["pnl_after_commission"] for r in page["roundtrips"]] == [8.0, 7.0, 6.0, 5.0, 4.0]
    assert [r["number"] for r in page["roundtrips"]] == [10, 9, 8, 7, 6]
    bad = api_client.get("/api/runs/many/roundtrips?sort=nope&limit=0")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"sort", "limit"}


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_list_streamed_past_the_threshold_is_the_same_json(api_client, monkeypatch):
    import json

    from backtests.api import views

    run_with_one_trade()
    whole = api_client.get("/api/runs/trade1/roundtrips").json()
    monkeypatch.setattr(views, "STREAM_ROUNDTRIPS_OVER", 0)
    streamed = api_client.get("/api/runs/trade1/roundtrips")
    assert streamed.streaming and streamed["Content-Type"] == "application/json"
    assert json.loads(b"".join(streamed.streaming_content)) == whole
