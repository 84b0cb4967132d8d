"""GET /api/strategies and /api/strategies/<id>."""

from __future__ import annotations

import pytest

from backtests.api.views import STRATEGY_NOT_FOUND

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

BUILT_IN = {
    "BollingerReversion": "Bollinger Reversion",
    "RSITrailingStop": "RSI Trailing Stop",
    "SMACrossover": "SMA Crossover",
}


def test_strategies_list_has_built_ins_sorted_by_id(api_client):
    body = api_client.get("/api/strategies").json()
    assert set(body) == {"strategies", "not_loaded"}
    items = body["strategies"]
    assert all(set(item) == {"id", "name"} for item in items)
    by_id = {item["id"]: item["name"] for item in items}
    assert {key: by_id.get(key) for key in BUILT_IN} == BUILT_IN
    ids = [item["id"] for item in items]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))


def test_strategy_schema_of_sma_crossover(api_client):
    response = api_client.get("/api/strategies/SMACrossover")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "SMACrossover"
    assert body["name"] == "SMA Crossover"
    params = {param["name"]: param for param in body["parameters"]}
    assert list(params) == ["bar_period", "fast_period", "slow_period", "quantity"]
    assert params["bar_period"]["type"] == "enum"
    assert params["bar_period"]["choices"] == ["SECOND", "MINUTE", "HOUR", "DAY"]
    assert params["fast_period"] == {
        "name": "fast_period",
        "type": "int",
        "default": 20,
        "min": 5,
        "max": 100,
        "step": 1,
        "choices": None,
    }
    assert params["quantity"]["type"] == "float"


@pytest.mark.parametrize("strategy_id", ["Nope", "smacrossover", "SMACrossover.py", "%00"])
def test_strategy_schema_unknown_is_404_with_message(api_client, strategy_id):
    response = api_client.get(f"/api/strategies/{strategy_id}")
    assert response.status_code == 404
    shown = "\x00" if strategy_id == "%00" else strategy_id
    assert response.json() == {"error": STRATEGY_NOT_FOUND.format(strategy_id=shown)}


def test_strategies_anonymous_is_401(anon_client):
    assert anon_client.get("/api/strategies").status_code == 401
    assert anon_client.get("/api/strategies/SMACrossover").status_code == 401
