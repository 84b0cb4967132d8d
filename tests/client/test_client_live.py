"""The notebook client (``client/``, installed by ``make setup``) against a live test server:
every call goes over HTTP with a token, as from a notebook. Expected values come from the
database (the ORM's rows, the stored metrics), not from the client or the API code."""

from __future__ import annotations

import pandas as pd
import pytest
from ost_client import Client, OstError
from rest_framework.authtoken.models import Token

from backtests.models import Fill, Run, RunStatus
from backtests.results.models import RoundTrip
from backtests.results.selectors import run_metrics_get
from tests.backtests.run_rows import run_row
from tests.e2e.test_compare_browser import executed_run

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "secmaster"])

PASSWORD = "correct-horse-42"
UTC_NS = "datetime64[ns, UTC]"


@pytest.fixture
def client(live_server, django_user_model) -> Client:
    user = django_user_model.objects.create_user(username="nora", password=PASSWORD)
    return Client(live_server.url, Token.objects.create(user=user).key)


@pytest.fixture
def two_runs(market) -> tuple[str, str]:
    return (
        executed_run(market, fast=5, slow=10, capital=100_000, name="a"),
        executed_run(market, fast=8, slow=20, capital=50_000, name="b"),
    )


def test_client_reads_runs_and_their_results_as_frames(client, two_runs):
    first, second = two_runs
    runs = client.runs()
    assert set(runs.run_id) == {first, second}
    assert str(runs.started.dtype) == UTC_NS
    assert client.run(first)["config"] == Run.objects.get(pk=first).config

    stored = run_metrics_get(Run.objects.get(pk=first))
    assert client.metrics(first)["net_pnl"] == stored["net_pnl"]
    assert (
        client.metrics(first, symbol="AAPL")["net_pnl"] == stored["per_symbol"]["AAPL"]["net_pnl"]
    )

    trips = client.roundtrips(first)
    rows = list(RoundTrip.objects.filter(run_id=first).order_by("number"))
    assert len(trips) == len(rows) > 0
    assert str(trips.entry_ts.dtype) == UTC_NS
    assert trips.entry_ts.iloc[0] == pd.Timestamp(rows[0].entry_ts, unit="ns", tz="UTC")
    assert trips.pnl_after_commission.tolist() == [r.pnl_after_commission for r in rows]

    fills = client.fills(first)
    db_fills = list(Fill.objects.filter(run_id=first).order_by("ts_event_ns", "id"))
    assert len(fills) == len(db_fills)
    assert str(fills.ts_event.dtype) == UTC_NS
    assert fills.ts_event.iloc[-1] == pd.Timestamp(db_fills[-1].ts_event_ns, unit="ns", tz="UTC")
    assert fills.fill_price.tolist() == [f.fill_price for f in db_fills]

    equity = client.equity(first)
    assert isinstance(equity.index, pd.DatetimeIndex) and str(equity.index.tz) == "UTC"
    assert round(equity.equity.iloc[-1], 2) == stored["final_equity"]
    daily = client.equity(first, daily=True)
    assert [d.date().isoformat() for d in daily.index] == ["2024-01-02"]


def test_client_compares_runs(client, two_runs):
    first, second = two_runs
    comparison = client.compare([first, second])
    net = {r: run_metrics_get(Run.objects.get(pk=r))["net_pnl"] for r in two_runs}
    assert comparison.metrics.loc["net_pnl", first] == net[first]
    assert comparison.metrics.loc["net_pnl", second] == net[second]
    if net[first] != net[second]:
        assert comparison.metrics.loc["net_pnl", "best"] == [max(two_runs, key=net.get)]
    assert set(comparison.differences.index) >= {
        "capital",
        "strategy_params.fast_period",
        "strategy_params.slow_period",
    }
    curve = comparison.curves[second]
    assert str(curve.index.tz) == "UTC"
    # Final equity over capital, from the stored metrics: the last point of the curve.
    assert curve.return_pct.iloc[-1] == pytest.approx(
        run_metrics_get(Run.objects.get(pk=second))["total_return_pct"], abs=1e-4
    )


def test_client_errors_carry_status_and_message(client, two_runs):
    with pytest.raises(OstError) as unknown:
        client.metrics("no-such-run")
    assert unknown.value.status == 404
    assert "no-such-run" in unknown.value.message
    with pytest.raises(OstError) as too_few:
        client.compare([two_runs[0]])
    assert too_few.value.status == 400 and "run_ids" in too_few.value.fields


def test_client_wait_times_out_on_a_run_nobody_executes(client):
    run_row("waiting", status=RunStatus.QUEUED)
    with pytest.raises(TimeoutError, match="run waiting is still queued"):
        client.wait("waiting", timeout=0.3, poll=0.1)


def test_client_login_gets_a_token(live_server, django_user_model):
    django_user_model.objects.create_user(username="olga", password=PASSWORD)
    assert Client.login(live_server.url, "olga", PASSWORD).runs().empty


@pytest.mark.worker
def test_client_starts_a_backtest_and_waits_for_it(client, market, worker):
    run_id = client.backtest(
        "SMACrossover", ["AAPL"], params={"fast_period": 5, "slow_period": 10}, capital=25_000
    )
    final = client.wait(run_id, timeout=120)
    assert final["status"] == "completed"
    run = Run.objects.get(pk=run_id)
    assert run.config["capital"] == 25_000 and run.config["publisher_id"] == market
    assert len(client.fills(run_id)) == Fill.objects.filter(run_id=run_id).count() > 0
