"""Every place that shows a run's money shows the same numbers: the run's summary (History,
admin, ``run_backtest``), the metrics API (cards), the stored equity series (equity chart) and
an account rebuilt from the recorded fills and bars, on every kind of run."""

from __future__ import annotations

import time

import pytest

from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase
from backtests.engine.strategies.base import _strategy_classes as registered
from backtests.models import Run
from backtests.results.models import RoundTrip, RunResult
from backtests.results.replay import run_account_replay
from backtests.results.selectors import equity_series_get, run_metrics_get
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_cancel, run_create, run_execute
from tests.backtests.market_data import ingest_bars, minute_bars

DBS = ["default", "secmaster"]
MAPPINGS = {"AAPL": [("2024-01-02", "2024-01-10", 10)], "MSFT": [("2024-01-02", "2024-01-10", 20)]}


@pytest.fixture
def publisher_id(tmp_path) -> int:
    """AAPL and MSFT: 300 minute bars on 2024-01-02, 10 more on 2024-01-05, none between."""
    bars = (
        minute_bars(10, "2024-01-02T14:30", 300)
        + minute_bars(20, "2024-01-02T14:30", 300, base=50)
        + minute_bars(10, "2024-01-05T14:30", 10)
        + minute_bars(20, "2024-01-05T14:30", 10, base=50)
    )
    return ingest_bars(tmp_path, bars=bars, mappings=MAPPINGS)


@pytest.fixture
def holder():
    """Buys 3 of each symbol on its 5th bar and sells 1 on its 50th: ends long 2 of each,
    with commissions on every fill. With ``fail=True`` it raises on bar 120; with
    ``slow=True`` it sleeps, so a cancel lands mid-run."""

    class Holder(StrategyBase):
        parameters = {
            "bar_period": ParamSpec(default=BarPeriod.MINUTE),
            "fail": ParamSpec(default=False),
            "slow": ParamSpec(default=False),
        }

        def setup(self) -> None:
            self.seen: dict[str, int] = {}

        def on_bar(self, bar) -> None:
            n = self.seen[bar.symbol] = self.seen.get(bar.symbol, 0) + 1
            if n == 5:
                self.submit_order(OrderType.MARKET, TradeSide.BUY, 3.0)
            elif n == 50:
                self.submit_order(OrderType.MARKET, TradeSide.SELL, 1.0)
            if self.fail and n == 120:
                raise RuntimeError("boom")
            if self.slow:
                time.sleep(0.01)

    yield "Holder"
    registered.pop("Holder", None)


def _run(publisher_id: int, strategy: str, params: dict, **spec) -> Run:
    built = backtest_spec_build(
        strategy=strategy,
        strategy_params=params,
        symbols=["AAPL", "MSFT"],
        rtype=33,
        publisher_id=publisher_id,
        commission_per_unit=0.1,
        minimum_commission=1.0,
        capital=20_000,
        **spec,
    )
    return run_create(spec=built)


def _agree(run: Run) -> dict:
    """Summary, API metrics, stored series and a rebuilt account: one set of numbers."""
    run = Run.objects.get(run_id=run.run_id)
    metrics = run_metrics_get(run)
    summary = run.metadata["summary"]
    for key, value in summary.items():
        assert metrics[key] == value, key
    series, attrs = equity_series_get(run)
    assert attrs["capital"] == metrics["capital"] == 20_000.0
    if series["ts"].size:
        assert round(float(series["last"][-1]), 2) == metrics["final_equity"]
        # The chart's drawdown band reaches the stored drawdown.
        peak = max(float(series["high"].max()), 20_000.0)
        assert round(peak - float(series["low"].min()), 2) >= metrics["max_drawdown"] - 0.01
    rebuilt = run_account_replay(run)
    assert round(rebuilt.net_pnl, 2) == metrics["net_pnl"]
    assert round(rebuilt.open_pnl, 2) == metrics["open_pnl"]
    assert round(rebuilt.max_drawdown, 2) == metrics["max_drawdown"]
    assert metrics["net_pnl"] == pytest.approx(
        metrics["realised_pnl"] + metrics["open_pnl"], abs=0.011
    )
    for symbol, block in metrics["per_symbol"].items():
        assert run_metrics_get(run, symbol=symbol)["net_pnl"] == block["net_pnl"]
    assert sum(b["net_pnl"] for b in metrics["per_symbol"].values()) == pytest.approx(
        metrics["net_pnl"], abs=0.02
    )
    return metrics


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize("record", ["full", "trades"])
def test_completed_run_with_open_positions_agrees_everywhere(publisher_id, holder, record):
    run = run_execute(run_id=_run(publisher_id, holder, {}, record=record).run_id)
    assert run.status == "completed"
    metrics = _agree(run)
    assert metrics["open_trades"] == 2 and metrics["trades"] == 0
    assert metrics["open_pnl"] != 0.0
    # 4 fills: max(3 x 0.1, 1) twice and max(1 x 0.1, 1) twice
    assert metrics["commission"] == 4.0
    assert RunResult.objects.get(run_id=run.run_id).complete


@pytest.mark.django_db(databases=DBS)
def test_run_without_trades_agrees_everywhere(publisher_id):
    run = run_execute(
        run_id=_run(publisher_id, "SMACrossover", {"fast_period": 100, "slow_period": 500}).run_id
    )
    metrics = _agree(run)
    assert (metrics["net_pnl"], metrics["trades"], metrics["final_equity"]) == (0.0, 0, 20_000.0)
    assert "no trades: the strategy never filled an order" in run.metadata["warnings"]
    assert any("warm up" in w for w in run.metadata["warnings"])  # 500 bars > 310


@pytest.mark.django_db(databases=DBS)
def test_run_without_bars_agrees_everywhere(publisher_id, holder):
    # Inside the data's coverage (2024-01-02..05), but no bar on the 3rd and 4th.
    run = run_execute(
        run_id=_run(publisher_id, holder, {}, start_date="2024-01-03", end_date="2024-01-04").run_id
    )
    metrics = _agree(run)
    assert (metrics["bars"], metrics["net_pnl"]) == (0, 0.0)
    assert run.metadata["warnings"] == ["no bars in the chosen range: nothing was traded"]


@pytest.mark.django_db(databases=DBS)
def test_failed_run_keeps_what_it_did_until_it_failed(publisher_id, holder):
    run = run_execute(run_id=_run(publisher_id, holder, {"fail": True}).run_id)
    assert run.status == "failed"
    metrics = _agree(run)
    assert metrics["commission"] == 4.0  # the fills before the failure are accounted for
    assert 0 < metrics["bars"] < 620


@pytest.mark.django_db(transaction=True, databases=DBS)
def test_cancelled_run_agrees_everywhere(publisher_id, holder):
    import threading

    run = _run(publisher_id, holder, {"slow": True})
    canceller = threading.Timer(1.5, lambda: run_cancel(run_id=run.run_id))
    canceller.start()
    try:
        done = run_execute(run_id=run.run_id)
    finally:
        canceller.join()
    assert done.status == "cancelled"
    metrics = _agree(done)
    assert 0 < metrics["bars"] < 620
    assert RoundTrip.objects.filter(run_id=run.run_id).count() == metrics["trades"]
