"""A small site worth looking at, for the browser tests: three sessions of minute bars of
AAPL and MSFT (Friday 2024-01-05, Monday 2024-01-08 and Tuesday 2024-01-09, 14:30-15:29 UTC,
60 bars each), a completed SMA-crossover run on them, a failed run with a traceback and a run
with a long automatic name, and a preset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backtests.models import Run, RunStatus
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from secmaster.models import SymbolPreset
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.run_rows import run_row

SESSIONS = ("2024-01-05", "2024-01-08", "2024-01-09")
BARS_PER_SESSION = 60
LONG_NAME = "SMACrossover AAPL,MSFT,NVDA,QQQ,SPY +3 more 2024-01-02..2024-01-31 (fast 20 slow 100)"
FAILED_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/home/someone/research/strategies/a_rather_long_folder_name/exploding_strategy.py",'
    " line 42, in on_bar\n"
    "    raise RuntimeError(f'boom at {bar.ts_event_ns}')\n"
    "RuntimeError: boom at 1704465000000000000\n"
)


def at(day: str, hhmm: str) -> int:
    """UTC nanoseconds of ``day`` at ``hhmm``."""
    moment = datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


def market_sessions(folder: Path) -> int:
    """Ingest the three sessions of AAPL (instrument 38) and MSFT (39); the publisher id."""
    bars = []
    for day in SESSIONS:
        bars += minute_bars(38, f"{day}T14:30", BARS_PER_SESSION)
        bars += minute_bars(39, f"{day}T14:30", BARS_PER_SESSION, base=200.0, step=0.8)
    mappings = {
        "AAPL": [("2024-01-05", "2024-01-10", 38)],
        "MSFT": [("2024-01-05", "2024-01-10", 39)],
    }
    return ingest_bars(folder, bars=bars, mappings=mappings)


def completed_run(publisher_id: int, *, end_date: str | None = None, record: str = "full") -> Run:
    """An SMA crossover (5/10) on both symbols, executed here."""
    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 5, "slow_period": 10},
        symbols=["AAPL", "MSFT"],
        rtype=33,
        publisher_id=publisher_id,
        end_date=end_date,
        record=record,
    )
    run = run_execute(run_id=run_create(spec=spec).run_id)
    assert run.status == RunStatus.COMPLETED, run.metadata
    return run


@dataclass(frozen=True)
class Site:
    publisher_id: int
    run_id: str  # completed, with trades
    failed_run_id: str
    long_run_id: str


def site_with_runs(folder: Path) -> Site:
    publisher_id = market_sessions(folder)
    run = completed_run(publisher_id)
    failed = run_row(
        "failedrun001",
        status=RunStatus.FAILED,
        progress=37.5,
        metadata={
            "error": "RuntimeError: boom at 1704465000000000000",
            "traceback": FAILED_TRACEBACK,
            "failed_bar": {"symbol": "AAPL", "ts_event_ns": at("2024-01-05", "14:30")},
        },
    )
    long = run_row(
        "longname0001",
        symbols=("AAPL", "MSFT", "NVDA", "QQQ", "SPY", "IWM", "DIA", "TLT"),
        metadata={"summary": {"net_pnl": 1234.5, "sharpe": 1.5, "trades": 42}},
    )
    Run.objects.filter(pk=long.pk).update(name=LONG_NAME)
    SymbolPreset.objects.create(name="Tech majors", symbols=["AAPL", "MSFT"])
    return Site(publisher_id, run.run_id, failed.run_id, long.run_id)
