"""The interactive charts' data (``GET /api/runs/{id}/chart-data`` and ``/equity``): every bar
of the window as columns, the indicators with their drawing hints, the fills, the limit on
bars said in a 400, and the equity curve.

Fixtures come from test_charts (AAPL: 200 minute bars from T0 with SMA(10), SMA(30) overlays
and an RSI(14) panel; a long from bar 60 to 80 and a short from 120 to 140). Expected values
are read from the fixtures' own frames (``_walk``), not from the code under test.
"""

# ruff: noqa: F811  (test_charts' fixtures are imported, then named as test arguments)

from __future__ import annotations

import pytest

from backtests.charts import columns
from backtests.charts.columns import CONTEXT_INVALID, MAX_CHART_BARS, TOO_MANY_BARS
from backtests.models import ProcessedBar, Run
from tests.backtests.test_charts import (  # noqa: F401  (fixtures)
    DBS,
    MINUTE,
    T0,
    _walk,
    empty_run,
    full_run,
    trades_run,
)

S = 1_000_000_000


def _url(run_id: str, **query) -> str:
    text = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/api/runs/{run_id}/chart-data?{text}"


def _window(api_client, run_id: str, first: int, last: int, **extra):
    return api_client.get(
        _url(
            run_id,
            symbol=extra.pop("symbol", "AAPL"),
            start_ns=T0 + first * MINUTE,
            end_ns=T0 + last * MINUTE,
            **extra,
        )
    )


@pytest.mark.django_db(databases=DBS)
def test_chart_data_window_every_bar_as_columns_in_seconds(api_client, full_run):
    response = _window(api_client, "full", 40, 159)
    assert response.status_code == 200
    data = response.json()
    walk = _walk(1)
    assert data["count"] == 120 and data["max_bars"] == 50_000
    assert data["source"] == "recorded" and data["bar_period"] == "MINUTE"
    assert data["bars"]["time"] == [T0 // S + 60 * i for i in range(40, 160)]
    for field in ("open", "high", "low", "close"):
        assert data["bars"][field] == pytest.approx(walk[field][40:160].tolist())


@pytest.mark.django_db(databases=DBS)
def test_chart_data_indicators_carry_their_drawing_hints(api_client, full_run):
    data = _window(api_client, "full", 0, 199).json()
    shown = {ind["name"]: ind for ind in data["indicators"]}
    assert set(shown) == {"SMA(10)", "SMA(30)", "RSI(14)"}
    assert (shown["SMA(10)"]["placement"], shown["SMA(10)"]["color"]) == ("overlay", "#0969da")
    assert shown["SMA(30)"]["style"] == "dashed"
    assert shown["RSI(14)"]["placement"] == "panel"
    # SMA(10) has no value on the first 9 bars (null), then the mean of the last ten closes
    sma10 = shown["SMA(10)"]["values"]
    assert sma10[:9] == [None] * 9
    assert sma10[9] == pytest.approx(_walk(1)["close"][:10].mean())
    assert len(shown["RSI(14)"]["values"]) == 200


@pytest.mark.django_db(databases=DBS)
def test_chart_data_fills_of_the_window_only(api_client, full_run):
    data = _window(api_client, "full", 50, 100).json()
    walk = _walk(1)
    # the long's entry (bar 60) and exit (bar 80); the short (120, 140) is outside
    assert data["fills"]["time"] == [(T0 + 60 * MINUTE) / S, (T0 + 80 * MINUTE) / S]
    assert data["fills"]["side"] == ["BUY", "SELL"]
    assert data["fills"]["qty"] == [100.0, 100.0]
    assert data["fills"]["price"] == pytest.approx([walk["open"][60], walk["open"][80]])


@pytest.mark.django_db(databases=DBS)
def test_chart_data_context_adds_bars_either_side(api_client, full_run):
    data = _window(api_client, "full", 60, 80, context=10).json()
    assert data["bars"]["time"][0] == T0 // S + 50 * 60
    assert data["bars"]["time"][-1] == T0 // S + 90 * 60
    assert data["count"] == 41


@pytest.mark.django_db(databases=DBS)
def test_chart_data_trades_run_reads_the_security_master(api_client, trades_run):
    data = _window(api_client, "trades", 90, 130).json()
    assert data["source"] == "secmaster" and data["indicators"] == []
    assert data["bars"]["time"] == [T0 // S + 60 * i for i in range(90, 131)]
    assert data["bars"]["low"] == pytest.approx(_walk(3)["low"][90:131].tolist(), abs=1e-9)


@pytest.mark.django_db(databases=DBS)
def test_chart_data_empty_window_no_bars_no_error(api_client, empty_run):
    response = _window(api_client, "empty", 500, 600)
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 0 and data["bars"]["time"] == [] and data["fills"]["time"] == []


@pytest.mark.django_db(databases=DBS)
def test_chart_data_window_over_the_limit_refused_with_the_limit(
    api_client, empty_run, monkeypatch
):
    # 200 bars against a limit of 150 (the same rule as 50,001 bars against 50,000)
    monkeypatch.setattr(columns, "MAX_CHART_BARS", 150)
    response = _window(api_client, "empty", 0, 199)
    assert response.status_code == 400
    message = TOO_MANY_BARS.format(limit=150, symbol="AAPL")
    assert response.json() == {"error": message, "fields": {"end_ns": message}}
    assert "150" in message
    assert _window(api_client, "empty", 0, 149).status_code == 200


@pytest.mark.django_db(databases=DBS)
def test_chart_data_limit_is_fifty_thousand_bars(api_client, empty_run):
    assert MAX_CHART_BARS == 50_000
    run = Run.objects.get(pk="empty")
    rows = [
        ProcessedBar(
            run=run,
            ts_event_ns=T0 + (200 + i) * MINUTE,
            ts_created_ns=0,
            symbol="AAPL",
            bar_period="MINUTE",
            open=1.0,
            high=1.0,
            low=1.0,
            close=1.0,
            indicators="{}",
        )
        for i in range(MAX_CHART_BARS - 200 + 1)
    ]
    ProcessedBar.objects.bulk_create(rows, batch_size=5000)  # 50,001 bars in all
    refused = _window(api_client, "empty", 0, 50_000)
    assert refused.status_code == 400
    assert "50,000" in refused.json()["error"]
    taken = _window(api_client, "empty", 1, 50_000)  # exactly 50,000
    assert taken.status_code == 200 and taken.json()["count"] == 50_000


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"symbol": "AAPL", "start_ns": 5, "end_ns": 4}, "end_ns", "end_ns must not be before"),
        ({"symbol": "AAPL", "start_ns": "x", "end_ns": 4}, "start_ns", None),
        ({"symbol": "AAPL", "start_ns": 1}, "end_ns", None),
        ({"symbol": "AAPL", "start_ns": 1, "end_ns": 2, "context": 1001}, "context", None),
        ({"start_ns": 1, "end_ns": 2}, "symbol", None),
    ],
)
def test_chart_data_bad_query_400_names_the_field(api_client, full_run, query, field, message):
    response = api_client.get(_url("full", **query))
    assert response.status_code == 400
    body = response.json()
    assert field in body["fields"]
    if message:
        assert body["fields"][field].startswith(message)


@pytest.mark.django_db(databases=DBS)
def test_chart_data_selector_context_checked(full_run):
    from ostsite.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        columns.chart_columns_get(run_id="full", symbol="AAPL", start_ns=0, end_ns=1, context=-1)
    assert caught.value.fields == {"context": CONTEXT_INVALID}


@pytest.mark.django_db(databases=DBS)
def test_chart_data_unknown_run_or_symbol_404(api_client, full_run):
    assert _window(api_client, "nope", 0, 1).status_code == 404
    response = _window(api_client, "full", 0, 1, symbol="TSLA")
    assert response.status_code == 404
    assert "TSLA" in response.json()["error"]


@pytest.mark.django_db(databases=DBS)
def test_chart_data_needs_login(anon_client, full_run):
    assert _window(anon_client, "full", 0, 1).status_code in (401, 403)


# --- Equity -----------------------------------------------------------------------------------
@pytest.mark.django_db(databases=DBS)
def test_equity_columns_match_the_stored_series(api_client, full_run):
    from backtests.results.selectors import equity_series_get

    response = api_client.get("/api/runs/full/equity")
    assert response.status_code == 200
    data = response.json()
    series, attrs = equity_series_get(Run.objects.get(pk="full"))
    assert data["time"] == [int(ts) // S for ts in series["ts"]]
    assert data["equity"] == pytest.approx(series["last"].tolist())
    assert data["capital"] == attrs["capital"]
    # the drawdown, by hand: each point's low against the highest high so far (and capital)
    peak, expected = data["capital"], []
    for low, high in zip(data["low"], data["high"], strict=True):
        peak = max(peak, high)
        expected.append(min(low - peak, 0.0))
    assert data["drawdown"] == pytest.approx(expected)


@pytest.mark.django_db(databases=DBS)
def test_equity_one_symbol_ends_at_capital_plus_its_net_pnl(api_client, full_run):
    data = api_client.get("/api/runs/full/equity?symbol=MSFT").json()
    walk = _walk(2, base=300.0)
    # one long of 20 from bar 30 to 90 at the opens, two fills of 1.0 commission each
    net = 20 * (walk["open"][90] - walk["open"][30]) - 2.0
    assert data["symbol"] == "MSFT"
    assert data["equity"][-1] - data["capital"] == pytest.approx(net)


@pytest.mark.django_db(databases=DBS)
def test_equity_running_run_409_unknown_404(api_client, full_run):
    Run.objects.filter(pk="full").update(status="running")
    for url in ("/api/runs/full/equity", "/api/runs/full/equity?symbol=AAPL"):
        response = api_client.get(url)
        assert response.status_code == 409, url
        assert "running" in response.json()["error"]
    assert api_client.get("/api/runs/nope/equity").status_code == 404
    assert api_client.get("/api/runs/full/equity?symbol=TSLA").status_code == 404


@pytest.mark.django_db(databases=DBS)
def test_chart_data_widest_window_of_a_trades_run_all_its_bars(api_client, trades_run):
    # from 0 to the largest UTC ns the route takes: every bar the security master has
    response = api_client.get(_url("trades", symbol="AAPL", start_ns=0, end_ns=2**63 - 1))
    assert response.status_code == 200
    assert response.json()["bars"]["time"] == [T0 // S + 60 * i for i in range(200)]
