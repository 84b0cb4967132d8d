"""A run's report: its account, its trades and its metrics, computed once when it stops.

The engine hands over the account (``Orchestrator.account()``); the round trips and metrics
follow from it here, with no database. Runs store their report (``backtests.results``);
study trials keep only what a study needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from backtests.analysis.metrics import run_metrics
from backtests.analysis.roundtrips import trades_from_account
from backtests.engine.accounting import AccountingResult


@dataclass(frozen=True, eq=False)
class RunReport:
    account: AccountingResult
    trades: pd.DataFrame  # every trade, closed and still open (``closed``), unrounded
    metrics: dict[str, Any]

    @property
    def roundtrips(self) -> pd.DataFrame:
        """The closed round trips, in the original's order (symbol, then entry time)."""
        return self.trades[self.trades["closed"]].reset_index(drop=True)


def report_from_account(
    account: AccountingResult, *, risk_free_rate: float = 0.0, warmup_bars: int = 0
) -> RunReport:
    """Round trips and metrics of a run's account."""
    trades = trades_from_account(account)
    metrics = run_metrics(account, trades, risk_free_rate=risk_free_rate, warmup_bars=warmup_bars)
    return RunReport(account=account, trades=trades, metrics=metrics)
