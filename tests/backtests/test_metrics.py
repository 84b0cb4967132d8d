"""Run metrics: hand-made round trips for the arithmetic, ORM rows for the run-level selector.

Expected numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from backtests.analysis.metrics import core_metrics, metrics_for_run, metrics_from_trades
from backtests.models import Fill, Run
from ostsite.errors import NotFound

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
        trade("AAPL", 1, 60, 60, 60, -99),  # exits day 1 10:00
        trade("AAPL", 0, 0, 10, 10, 101),  # exits day 0 09:10
        trade("MSFT", 2, 0, 20, 20, -119),  # exits day 2 09:20
        trade("MSFT", 0, 60, 30, 30, -49),  # exits day 0 10:30
        trade("AAPL", 1, 0, 5, 5, 201),  # exits day 1 09:05
        trade("MSFT", 2, 60, 10, 10, 1),  # exits day 2 10:10
    ]
)


def test_core_metrics_six_trades_match_hand_computation():
    m = core_metrics(SIX)
    assert (m["trades"], m["wins"], m["losses"]) == (6, 2, 3)  # one break-even
    assert m["win_rate"] == pytest.approx(0.3333)  # 2 / 6
    assert m["net_pnl"] == 30.0  # 100 - 50 + 200 - 100 - 120 + 0
    assert m["gross_pnl"] == 36.0  # net + 6 commissions of 1
    assert m["commission"] == 6.0
    assert m["avg_win"] == 150.0  # (100 + 200) / 2
    assert m["avg_loss"] == -90.0  # (-50 - 100 - 120) / 3
    assert (m["largest_win"], m["largest_loss"]) == (200.0, -120.0)
    assert m["profit_factor"] == pytest.approx(1.1111)  # 300 / 270
    assert m["expectancy"] == 5.0  # 30 / 6
    # by exit time: +100, -50, +200, -100, -120, 0 -> equity 100, 50, 250, 150, 30, 30
    # peaks 100, 100, 250, 250, 250, 250 -> largest fall 250 - 30 = 220
    assert m["max_drawdown"] == 220.0
    # daily net: day 0 = 50, day 1 = 100, day 2 = -120; mean 10
    # sample variance = (40^2 + 90^2 + 130^2) / 2 = 26600 / 2 = 13300
    assert m["sharpe"] == pytest.approx(10 / math.sqrt(13300) * math.sqrt(252), abs=1e-4)
    assert m["avg_duration_bars"] == 22.5  # (10 + 30 + 5 + 60 + 20 + 10) / 6 = 135 / 6
    assert m["avg_duration_seconds"] == 1350.0  # 8100 s / 6


def test_metrics_from_trades_per_symbol_breakdown_and_open_trades():
    with_open = pd.concat([SIX, pd.DataFrame([trade("AAPL", 2, 0, 0, 0, 0, closed=False)])])
    m = metrics_from_trades(with_open)
    assert m["open_trades"] == 1
    assert m["trades"] == 6
    assert list(m["per_symbol"]) == ["AAPL", "MSFT"]
    aapl, msft = m["per_symbol"]["AAPL"], m["per_symbol"]["MSFT"]
    # AAPL: +100 (day 0), +200, -100 (day 1)
    assert (aapl["trades"], aapl["wins"], aapl["losses"]) == (3, 2, 1)
    assert aapl["net_pnl"] == 200.0
    assert aapl["profit_factor"] == 3.0  # 300 / 100
    assert aapl["expectancy"] == pytest.approx(66.67)  # 200 / 3
    assert aapl["max_drawdown"] == 100.0  # equity 100, 300, 200
    assert aapl["sharpe"] is None  # daily 100 and 100: zero std
    # MSFT: -50 (day 0), -120, 0 (day 2)
    assert (msft["wins"], msft["losses"], msft["win_rate"]) == (0, 2, 0.0)
    assert msft["avg_win"] == 0.0
    assert msft["profit_factor"] == 0.0  # 0 / 170
    assert msft["max_drawdown"] == 170.0  # equity -50, -170, -170 below the start at 0
    # daily -50 and -120: mean -85, sample std sqrt(2 * 35^2 / 1) = sqrt(2450)
    assert msft["sharpe"] == pytest.approx(-85 / math.sqrt(2450) * math.sqrt(252), abs=1e-4)


def test_core_metrics_no_losses_profit_factor_is_null():
    m = core_metrics(pd.DataFrame([trade("A", 0, 0, 1, 1, 11), trade("A", 1, 0, 1, 1, 21)]))
    assert m["profit_factor"] is None  # 30 / 0 is infinite
    # two days, +10 and +20: mean 15, sample std sqrt(2 * 5^2) = sqrt(50)
    assert m["sharpe"] == pytest.approx(15 / math.sqrt(50) * math.sqrt(252), abs=1e-4)


def test_core_metrics_single_day_sharpe_is_null():
    m = core_metrics(pd.DataFrame([trade("A", 0, 0, 1, 1, 11), trade("A", 0, 5, 1, 1, -21)]))
    assert m["sharpe"] is None
    assert m["net_pnl"] == -12.0  # 10 - 22


# --- from the database ---------------------------------------------------------------------

ZEROED = {
    "trades": 0,
    "wins": 0,
    "losses": 0,
    "win_rate": 0.0,
    "net_pnl": 0.0,
    "gross_pnl": 0.0,
    "commission": 0.0,
    "avg_win": 0.0,
    "avg_loss": 0.0,
    "largest_win": 0.0,
    "largest_loss": 0.0,
    "profit_factor": None,
    "expectancy": 0.0,
    "max_drawdown": 0.0,
    "sharpe": None,
    "avg_duration_bars": 0.0,
    "avg_duration_seconds": 0.0,
    "open_trades": 0,
    "per_symbol": {},
}


def make_run(run_id: str = "r1") -> Run:
    return Run.objects.create(
        run_id=run_id, name=run_id, ts_start=DAY1, status="completed", config={"record": "full"}
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


DB = pytest.mark.django_db(databases=["default", "secmaster"])


@DB
def test_metrics_for_run_no_fills_gives_zeroed_metrics():
    make_run()
    m = metrics_for_run("r1")
    assert m == ZEROED
    json.dumps(m, allow_nan=False)


@DB
def test_metrics_for_run_fills_give_json_safe_metrics():
    run = make_run()
    day2 = DAY1 + DAY_NS
    make_fills(
        run,
        [
            (DAY1, "AAPL", "BUY", 10, 100, 1),  # long, +50 gross, 2 commission -> +48
            (DAY1 + HOUR, "AAPL", "SELL", 10, 105, 1),
            (day2, "MSFT", "SELL", 2, 300, 0.5),  # short, +20 gross, 1 commission -> +19
            (day2 + 2 * HOUR, "MSFT", "BUY", 2, 290, 0.5),
            (day2 + 3 * HOUR, "MSFT", "BUY", 1, 280, 0.5),  # still open at the end
        ],
    )
    m = metrics_for_run("r1")
    text = json.dumps(m, allow_nan=False)  # raises on NaN/inf
    assert json.loads(text) == m
    assert (m["trades"], m["wins"], m["open_trades"]) == (2, 2, 1)
    assert (m["net_pnl"], m["gross_pnl"], m["commission"]) == (67.0, 70.0, 3.0)
    assert m["profit_factor"] is None  # no losses
    assert m["avg_duration_seconds"] == 5400.0  # (3600 + 7200) / 2
    # daily +48 and +19: mean 33.5, sample std sqrt(2 * 14.5^2) = 14.5 * sqrt(2)
    assert m["sharpe"] == pytest.approx(33.5 / (14.5 * math.sqrt(2)) * math.sqrt(252), abs=1e-4)
    assert m["per_symbol"]["MSFT"]["net_pnl"] == 19.0
    only_msft = metrics_for_run("r1", symbol="MSFT")
    assert (only_msft["trades"], only_msft["net_pnl"], only_msft["open_trades"]) == (1, 19.0, 1)
    assert list(only_msft["per_symbol"]) == ["MSFT"]


@DB
def test_metrics_for_run_query_count_does_not_grow_with_trades():
    for run_id, n in (("few", 5), ("many", 50)):
        make_fills(
            make_run(run_id),
            [
                (DAY1 + (3 * i + k) * MINUTE, "AAPL", side, 1, 100 + k, 0)
                for i in range(n)
                for k, side in ((0, "BUY"), (2, "SELL"))
            ],
        )
    counts = []
    for run_id in ("few", "many"):
        with CaptureQueriesContext(connections["default"]) as ctx:
            metrics_for_run(run_id)
        counts.append(len(ctx.captured_queries))
    # run, fills, bars, bars_processed (none recorded; the secmaster has no publisher id here)
    assert counts == [4, 4]
    assert metrics_for_run("many")["trades"] == 50


@DB
def test_metrics_for_run_unknown_run_raises_not_found():
    with pytest.raises(NotFound) as excinfo:
        metrics_for_run("nope")
    assert excinfo.value.message == "Run not found: nope"
