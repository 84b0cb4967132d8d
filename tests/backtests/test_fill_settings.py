"""Fill model and costs through the API, ``run_backtest`` and the demo data: stored in the
config, refused field by field with a precise message, summarised by the command."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from backtests.models import Run
from backtests.services import fill_spec
from tests.backtests.market_data import ingest_bars, minute_bars

DATABASES = ["default", "secmaster"]
pytestmark = pytest.mark.django_db(databases=DATABASES)


@pytest.fixture
def body(tmp_path) -> dict:
    publisher_id = ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T14:30", 120),
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]},
    )
    return {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": publisher_id,
    }


def test_api_stores_fill_model_and_costs_in_the_config(api_client, body):
    fills = {
        "fill_model": "intrabar",
        "slippage_ticks": 1,
        "tick_size": 0.01,
        "participation_cap": 0.1,
        "latency_ms": 50,
    }
    response = api_client.post("/api/backtest/run", {**body, **fills}, format="json")
    assert response.status_code == 200, response.json()
    config = Run.objects.get(run_id=response.json()["run_id"]).config
    assert {k: config[k] for k in fill_spec.FILL_FIELDS} == {**fills, "slippage_bps": 0.0}


def test_api_without_fill_fields_is_classic_without_costs(api_client, body):
    response = api_client.post("/api/backtest/run", body, format="json")
    config = Run.objects.get(run_id=response.json()["run_id"]).config
    assert {k: config[k] for k in fill_spec.FILL_FIELDS} == {
        "fill_model": "classic",
        "slippage_ticks": 0.0,
        "slippage_bps": 0.0,
        "tick_size": None,
        "participation_cap": None,
        "latency_ms": 0.0,
    }


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"fill_model": "optimistic"}, {"fill_model": fill_spec.FILL_MODEL_INVALID}),
        ({"fill_model": 3}, {"fill_model": fill_spec.FILL_MODEL_INVALID}),
        ({"slippage_ticks": -1}, {"slippage_ticks": fill_spec.SLIPPAGE_TICKS_INVALID}),
        ({"slippage_ticks": "two"}, {"slippage_ticks": fill_spec.SLIPPAGE_TICKS_INVALID}),
        ({"slippage_bps": 5000}, {"slippage_bps": fill_spec.SLIPPAGE_BPS_INVALID}),
        ({"slippage_ticks": 1, "slippage_bps": 2}, {"slippage_bps": fill_spec.SLIPPAGE_BOTH}),
        ({"tick_size": 0}, {"tick_size": fill_spec.TICK_SIZE_INVALID}),
        ({"tick_size": "NaN"}, {"tick_size": fill_spec.TICK_SIZE_INVALID}),
        ({"participation_cap": 10}, {"participation_cap": fill_spec.PARTICIPATION_INVALID}),
        ({"participation_cap": 0}, {"participation_cap": fill_spec.PARTICIPATION_INVALID}),
        ({"participation_cap": True}, {"participation_cap": fill_spec.PARTICIPATION_INVALID}),
        ({"latency_ms": -5}, {"latency_ms": fill_spec.LATENCY_INVALID}),
        ({"latency_ms": 1e12}, {"latency_ms": fill_spec.LATENCY_INVALID}),
        (
            {"fill_model": "x", "latency_ms": "soon"},
            {"fill_model": fill_spec.FILL_MODEL_INVALID, "latency_ms": fill_spec.LATENCY_INVALID},
        ),
    ],
)
def test_api_bad_fill_fields_refused_with_400_naming_each(api_client, body, fields, errors):
    response = api_client.post("/api/backtest/run", {**body, **fields}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == errors
    assert not Run.objects.exists()


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command("run_backtest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


SMA = ["--strategy", "SMACrossover", "--symbols", "AAPL", "--bar-period", "MINUTE"]
SMA += ["--param", "fast_period=5", "--param", "slow_period=10", "--record", "trades"]


def test_command_fill_options_stored_and_summarised(body):
    output = _call(
        *SMA,
        "--fill-model",
        "strict",
        "--slippage-ticks",
        "1",
        "--tick-size",
        "0.05",
        "--participation-cap",
        "0.1",
        "--latency-ms",
        "25",
    )
    run = Run.objects.get()
    assert (run.config["fill_model"], run.config["tick_size"], run.config["latency_ms"]) == (
        "strict",
        0.05,
        25.0,
    )
    meta = run.metadata
    assert (
        f"fills: strict, {meta['ambiguous_bars']} ambiguous bars (0 resolved from finer bars,"
        f" {meta['unresolved_bars']} unresolved); slippage 1 ticks of 0.05;"
        " at most 10 % of a bar's volume; latency 25 ms"
    ) in output


def test_command_classic_without_costs_prints_no_fills_line(body):
    assert "fills:" not in _call(*SMA)


def test_command_bad_fill_option_names_the_option(body):
    with pytest.raises(CommandError) as info:
        _call(*SMA, "--participation-cap", "10")
    assert str(info.value) == f"--participation-cap: {fill_spec.PARTICIPATION_INVALID}"
    assert not Run.objects.exists()


def test_demo_data_lets_intrabar_resolve_bars_without_ingesting_anything(tmp_path):
    # What the README tells a new user to run after `make run` loaded the demo data.
    call_command("make_demo_data", "--if-empty", "--out", str(tmp_path / "demo.zip"))
    output = _call(
        "--strategy",
        "RSITrailingStop",
        "--symbols",
        "AAPL,MSFT,NVDA,QQQ,SPY",
        "--bar-period",
        "MINUTE",
        "--start",
        "2024-01-30",
        "--end",
        "2024-01-31",
        "--fill-model",
        "intrabar",
    )
    found = re.search(
        r"fills: intrabar, (\d+) ambiguous bars \((\d+) resolved from finer bars, (\d+)"
        r" unresolved\)",
        output,
    )
    assert found, output
    ambiguous, resolved, unresolved = map(int, found.groups())
    assert ambiguous == resolved > 0
    assert unresolved == 0
