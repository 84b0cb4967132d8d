"""Run metrics: round-trip statistics by hand, account figures by hand, return statistics
against empyrical (an independent, well-kept implementation) on the same daily returns, and
the stored metrics read back from the database.
"""

from __future__ import annotations

import json
import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from backtests.analysis.metrics import NOTE_FEW_DAYS, run_metrics, trade_statistics
from backtests.analysis.returns import MIN_DAYS_FOR_RATIOS
from backtests.analysis.roundtrips import trades_from_account
from backtests.engine.accounting import Accounting
from backtests.engine.enums import TradeSide
from backtests.models import Fill, RecordedBar, Run
from backtests.results.selectors import metrics_for_run
from ostsite.errors import Conflict, NotFound
from tests.backtests.engine.test_accounting import feed, fill

DAY1 = 1_704_153_600_000_000_000  # 2024-01-02 00:00 UTC in ns
DAY_NS = 86_400_000_000_000
MINUTE = 60_000_000_000
HOUR = 60 * MINUTE


def trade(symbol, day, start_min, minutes, bars, gross, commission=1.0, closed=True):
    entry = DAY1 + day * DAY_NS + 9 * HOUR + start_min * MINUTE
    return {
        "symbol": symbol,
        "entry_ts": entry,
        "exit_ts": entry + minutes * MINUTE,
        "duration_bars": bars,
        "pnl_before_commission": float(gross),
        "pnl_after_commission": float(gross) - commission,
        "commission": commission,
        "closed": closed,
    }


# Six trades over three UTC days, listed out of exit order on purpose (net = gross - 1):
#   day 0: AAPL +100 (10 min, 10 bars), MSFT -50 (30 min, 30 bars)
#   day 1: AAPL +200 (5 min, 5 bars),   AAPL -100 (60 min, 60 bars)
#   day 2: MSFT -120 (20 min, 20 bars), MSFT 0 (break-even, 10 min, 10 bars)
SIX = pd.DataFrame(
    [
        trade("AAPL", 1, 60, 60, 60, -99),
        trade("AAPL", 0, 0, 10, 10, 101),
        trade("MSFT", 2, 0, 20, 20, -119),
        trade("MSFT", 0, 60, 30, 30, -49),
        trade("AAPL", 1, 0, 5, 5, 201),
        trade("MSFT", 2, 60, 10, 10, 1),
    ]
)


def test_trade_statistics_six_trades_match_hand_computation():
    m = trade_statistics(SIX)
    assert (m["trades"], m["wins"], m["losses"]) == (6, 2, 3)  # one break-even
    assert m["win_rate"] == pytest.approx(0.3333)  # 2 / 6
    assert m["avg_win"] == 150.0  # (100 + 200) / 2
    assert m["avg_loss"] == -90.0  # (-50 - 100 - 120) / 3
    assert (m["largest_win"], m["largest_loss"]) == (200.0, -120.0)
    assert m["profit_factor"] == pytest.approx(1.1111)  # 300 / 270
    assert m["expectancy"] == 5.0  # 30 / 6
    assert m["avg_duration_bars"] == 22.5  # 135 / 6
    assert m["avg_duration_seconds"] == 1350.0  # 8100 s / 6
    assert m["open_trades"] == 0


def test_trade_statistics_undefined_values_are_null_never_zero():
    none = trade_statistics(SIX.iloc[0:0].assign(closed=pd.Series(dtype=bool)))
    assert none["trades"] == 0
    for key in ("win_rate", "avg_win", "avg_loss", "profit_factor", "expectancy"):
        assert none[key] is None, key
    only_losses = trade_statistics(pd.DataFrame([trade("A", 0, 0, 1, 1, -4)]))
    assert only_losses["avg_win"] is None and only_losses["largest_win"] is None
    assert only_losses["profit_factor"] == 0.0  # 0 won / 5 lost
    only_wins = trade_statistics(pd.DataFrame([trade("A", 0, 0, 1, 1, 11)]))
    assert only_wins["profit_factor"] is None  # 10 / 0: infinite
    assert only_wins["avg_loss"] is None


# --- the account ------------------------------------------------------------------------


def daily_bars(closes, symbol="AAA"):
    """One bar a day at 14:30 UTC, opening at the previous close."""
    bars, previous = [], closes[0]
    for day, close in enumerate(closes):
        ts = DAY1 + day * DAY_NS + 14 * HOUR + 30 * MINUTE
        bars.append((ts, symbol, previous, max(previous, close), min(previous, close), close))
        previous = close
    return bars


def account_of(bars, fills, capital):
    symbols = tuple(sorted({b[1] for b in bars}))
    return feed(Accounting(symbols=symbols, capital=capital), bars, fills, [])


def test_account_metrics_by_hand_open_position_and_commissions():
    """Capital 10,000. Day 0 (open 100, close 100): buy 10 @ 100, commission 2. Day 1 closes
    110; day 2 (open 110): sell 4 @ 110 (commission 2), closes 105. Left: 6 @ 100 open."""
    bars = daily_bars([100.0, 110.0, 105.0])
    fills = [
        fill(bars[0][0], "AAA", TradeSide.BUY, 10, 100.0, 2.0),
        fill(bars[2][0], "AAA", TradeSide.SELL, 4, 110.0, 2.0),
    ]
    account = account_of(bars, fills, 10_000.0)
    m = run_metrics(account, trades_from_account(account))
    # cash 10,000 - 1,000 - 2 + 440 - 2 = 9,436; 6 x 105 = 630 -> equity 10,066
    assert m["final_equity"] == 10_066.0
    assert m["net_pnl"] == 66.0
    assert m["realised_pnl"] == 36.0  # 4 x (110 - 100) - 4 of commission
    assert m["open_pnl"] == 30.0  # 6 x (105 - 100)
    assert m["gross_pnl"] == 70.0 and m["commission"] == 4.0
    assert m["total_return_pct"] == pytest.approx(0.66)
    # equity 9,998 -> 10,098 -> 10,066: drawdown 32 from the 10,098 peak
    assert m["max_drawdown"] == 32.0
    assert m["max_drawdown_pct"] == pytest.approx(32 / 10_098 * 100, abs=1e-4)
    assert m["exposure_pct"] == 100.0
    assert m["trading_days"] == 3 and m["bars"] == 3
    # traded 1,000 + 440 over the average daily equity (9,998 + 10,098 + 10,066) / 3
    assert m["turnover"] == pytest.approx(1_440 / (30_162 / 3), abs=1e-4)
    # 10,000 at the first open (100), valued at the last close (105)
    assert m["benchmark_return_pct"] == pytest.approx(5.0)
    assert m["excess_return_pct"] == pytest.approx((10_066 - 10_500) / 100)
    assert (m["trades"], m["open_trades"]) == (0, 1)  # the partial exit closes nothing
    # gross exposure over equity: 1,000 / 9,998, then 1,100 / 10,098 (the largest), 630 / 10,066
    assert m["max_leverage"] == pytest.approx(1_100 / 10_098, abs=1e-4)
    # Three days are too few for ratios: null, with the reason.
    assert m["sharpe"] is None
    assert m["notes"]["sharpe"] == NOTE_FEW_DAYS.format(needed=MIN_DAYS_FOR_RATIOS, days=3)
    assert m["per_symbol"]["AAA"]["net_pnl"] == 66.0
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("risk_free", [0.0, 0.03])
def test_return_statistics_agree_with_empyrical(risk_free):
    """60 daily bars of a seeded walk; 20 shares bought at the first open and held: the daily
    returns are computed here from the closes, independently, and given to empyrical."""
    rng = np.random.default_rng(7)
    closes = list(100 * np.cumprod(1 + rng.normal(0.001, 0.02, 60)))
    bars = daily_bars(closes)
    capital, shares, entry = 10_000.0, 20, bars[0][2]
    account = account_of(bars, [fill(bars[0][0], "AAA", TradeSide.BUY, shares, entry)], capital)
    m = run_metrics(account, trades_from_account(account), risk_free_rate=risk_free)

    equity = np.array([capital + shares * (c - entry) for c in closes])
    returns = equity / np.r_[capital, equity[:-1]] - 1
    bench = np.array(closes) / entry
    bench_returns = bench / np.r_[1.0, bench[:-1]] - 1
    rf = (1 + risk_free) ** (1 / 252) - 1
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns, risk_free=rf), abs=1e-4)
    assert m["sortino"] == pytest.approx(
        empyrical.sortino_ratio(returns, required_return=rf), abs=1e-4
    )
    assert m["cagr_pct"] == pytest.approx(empyrical.annual_return(returns) * 100, abs=1e-4)
    assert m["volatility_pct"] == pytest.approx(
        empyrical.annual_volatility(returns) * 100, abs=1e-4
    )
    assert m["max_drawdown_pct"] == pytest.approx(-empyrical.max_drawdown(returns) * 100, abs=1e-4)
    assert m["calmar"] == pytest.approx(empyrical.calmar_ratio(returns), abs=1e-4)
    assert m["beta"] == pytest.approx(empyrical.beta(returns, bench_returns), abs=1e-4)
    assert m["correlation"] == pytest.approx(np.corrcoef(returns, bench_returns)[0, 1], abs=1e-4)
    assert m["total_return_pct"] == pytest.approx((equity[-1] / capital - 1) * 100, abs=1e-4)


def test_days_without_a_trade_count_in_the_returns():
    """A position opened on day 0 and closed on day 1, then 28 flat days: 30 daily returns,
    28 of them zero (the old definition kept only exit days and got 1)."""
    closes = [100.0, 101.0] + [101.0] * 28
    bars = daily_bars(closes)
    fills = [
        fill(bars[0][0], "AAA", TradeSide.BUY, 10, 100.0),
        fill(bars[1][0], "AAA", TradeSide.SELL, 10, 101.0),
    ]
    account = account_of(bars, fills, 1_000.0)
    m = run_metrics(account, trades_from_account(account))
    returns = np.r_[0.0, 0.01, np.zeros(28)]  # 1,000 -> 1,000 -> 1,010 -> flat
    assert m["trading_days"] == 30
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns), abs=1e-4)
    assert m["exposure_pct"] == pytest.approx(100 / 30, abs=1e-4)


def test_run_warnings_say_what_to_distrust():
    closes = [100.0] * 5
    account = account_of(daily_bars(closes), [], 1_000.0)
    m = run_metrics(account, trades_from_account(account), warmup_bars=20)
    assert m["warnings"] == [
        "the strategy needs 20 bars to warm up its indicators, but AAA had fewer (AAA: 5): "
        "its signals there never formed",
        "no trades: the strategy never filled an order",
    ]
    empty = Accounting(symbols=("AAA",), capital=1_000.0).finish()
    assert run_metrics(empty, trades_from_account(empty))["warnings"] == [
        "no bars in the chosen range: nothing was traded"
    ]


# --- stored, read from the database --------------------------------------------------------

DB = pytest.mark.django_db(databases=["default", "secmaster"])


def make_run(run_id: str = "r1", status: str = "completed") -> Run:
    return Run.objects.create(
        run_id=run_id,
        name=run_id,
        ts_start=DAY1,
        status=status,
        config={"record": "full", "symbols": ["AAPL", "MSFT"], "capital": 1_000.0},
    )


def make_fills(run: Run, rows: list[tuple]) -> None:
    """rows: (ts_ns, symbol, side, quantity, price, commission)."""
    Fill.objects.bulk_create(
        Fill(
            run=run,
            ts_event_ns=ts,
            ts_created_ns=ts,
            ts_broker_ns=ts,
            associated_order_id=f"O{i}",
            broker_order_id=f"B{i}",
            symbol=s,
            fill_id=f"F{i}",
            side=side,
            quantity_filled=q,
            fill_price=p,
            commission=c,
            exchange="SIMULATED",
        )
        for i, (ts, s, side, q, p, c) in enumerate(rows)
    )


def make_bars(run: Run, rows: list[tuple]) -> None:
    """rows: (ts_ns, symbol, close)."""
    RecordedBar.objects.bulk_create(
        RecordedBar(
            run=run,
            ts_event_ns=ts,
            ts_created_ns=ts,
            symbol=s,
            bar_period="HOUR",
            open=c,
            high=c,
            low=c,
            close=c,
            volume=1,
        )
        for ts, s, c in rows
    )


@DB
def test_metrics_for_run_no_fills_gives_capital_and_null_ratios():
    make_run()
    m = metrics_for_run("r1")
    assert (m["net_pnl"], m["final_equity"], m["trades"]) == (0.0, 1_000.0, 0)
    assert m["win_rate"] is None and m["expectancy"] is None and m["sharpe"] is None
    assert m["per_symbol"] == {}
    json.dumps(m, allow_nan=False)


@DB
def test_metrics_for_run_rebuilt_from_fills_and_recorded_bars():
    run = make_run()
    day2 = DAY1 + DAY_NS
    make_bars(
        run,
        [(DAY1, "AAPL", 100), (DAY1 + HOUR, "AAPL", 105), (day2, "MSFT", 300)]
        + [(day2 + h * HOUR, "MSFT", c) for h, c in ((2, 290), (3, 285))],
    )
    make_fills(
        run,
        [
            (DAY1, "AAPL", "BUY", 10, 100, 1),  # long, +50 gross, 2 commission -> +48
            (DAY1 + HOUR, "AAPL", "SELL", 10, 105, 1),
            (day2, "MSFT", "SELL", 2, 300, 0.5),  # short, +20 gross, 1 commission -> +19
            (day2 + 2 * HOUR, "MSFT", "BUY", 2, 290, 0.5),
            (day2 + 3 * HOUR, "MSFT", "BUY", 1, 280, 0.5),  # still open, marked at 285
        ],
    )
    m = metrics_for_run("r1")
    assert json.loads(json.dumps(m, allow_nan=False)) == m
    assert (m["trades"], m["wins"], m["open_trades"]) == (2, 2, 1)
    # realised 48 + 19 - 0.5 (the open buy's commission); open 1 x (285 - 280) = 5
    assert (m["realised_pnl"], m["open_pnl"], m["net_pnl"]) == (66.5, 5.0, 71.5)
    assert m["commission"] == 3.5
    assert m["avg_duration_seconds"] == 5400.0  # (3600 + 7200) / 2
    assert m["per_symbol"]["MSFT"]["net_pnl"] == 23.5  # 19 - 0.5 + 5
    only_msft = metrics_for_run("r1", symbol="MSFT")
    assert (only_msft["trades"], only_msft["open_trades"], only_msft["net_pnl"]) == (1, 1, 23.5)
    assert metrics_for_run("r1", symbol="AAPL")["net_pnl"] == 48.0


@DB
def test_metrics_for_run_read_costs_two_queries_once_stored():
    for run_id, n in (("few", 5), ("many", 50)):
        run = make_run(run_id)
        make_fills(
            run,
            [
                (DAY1 + (3 * i + k) * MINUTE, "AAPL", side, 1, 100 + k, 0)
                for i in range(n)
                for k, side in ((0, "BUY"), (2, "SELL"))
            ],
        )
    counts = []
    for run_id in ("few", "many", "few", "many"):
        with CaptureQueriesContext(connections["default"]) as ctx:
            metrics_for_run(run_id)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]  # computing: the same queries for 5 trades as for 50
    assert counts[2:] == [2, 2]  # stored: the run and its result
    assert metrics_for_run("many")["trades"] == 50


@DB
def test_metrics_for_run_unknown_run_raises_not_found():
    with pytest.raises(NotFound) as excinfo:
        metrics_for_run("nope")
    assert excinfo.value.message == "Run not found: nope"


@DB
def test_metrics_for_a_running_run_is_a_conflict():
    make_run("live", status="running")
    with pytest.raises(Conflict, match="run live is running: its results are computed when"):
        metrics_for_run("live")


def test_metrics_notes_only_name_null_values():
    rng = np.random.default_rng(3)
    closes = list(100 * np.cumprod(1 + rng.normal(0, 0.01, 40)))
    bars = daily_bars(closes)
    account = account_of(bars, [fill(bars[0][0], "AAA", TradeSide.BUY, 1, bars[0][2])], 1e4)
    m = run_metrics(account, trades_from_account(account))
    assert all(m[key] is None for key in m["notes"])
    assert not math.isnan(m["sharpe"])
