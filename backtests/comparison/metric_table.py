"""Which way each metric is better, for marking the best run of a row.

One row per metric of ``backtests.analysis.metrics.run_metrics`` (a test fails when a metric
is added there but not here): its label, its unit (how pages format it) and whether a higher
or a lower value is better. ``None`` means neither (capital, exposure, beta, counts that say
how much happened rather than how well): such rows are shown but never marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower"] | None
Unit = Literal["money", "pct", "fraction", "ratio", "count", "days", "seconds"]

HIGHER: Better = "higher"
LOWER: Better = "lower"


@dataclass(frozen=True)
class MetricRow:
    key: str
    label: str
    unit: Unit
    better: Better


METRIC_ROWS: tuple[MetricRow, ...] = (
    MetricRow("capital", "Capital", "money", None),
    # Capital + net P&L: runs of different capitals are told apart by net P&L and return.
    MetricRow("final_equity", "Final equity", "money", None),
    MetricRow("net_pnl", "Net P&L", "money", HIGHER),
    MetricRow("realised_pnl", "Realised P&L", "money", HIGHER),
    MetricRow("open_pnl", "Open P&L", "money", None),
    MetricRow("gross_pnl", "Gross P&L", "money", HIGHER),
    MetricRow("commission", "Commission", "money", LOWER),
    MetricRow("total_return_pct", "Total return %", "pct", HIGHER),
    MetricRow("cagr_pct", "CAGR %", "pct", HIGHER),
    MetricRow("volatility_pct", "Volatility %", "pct", LOWER),
    MetricRow("sharpe", "Sharpe", "ratio", HIGHER),
    MetricRow("sortino", "Sortino", "ratio", HIGHER),
    MetricRow("calmar", "Calmar", "ratio", HIGHER),
    MetricRow("max_drawdown", "Max drawdown", "money", LOWER),
    MetricRow("max_drawdown_pct", "Max drawdown %", "pct", LOWER),
    MetricRow("max_drawdown_duration_days", "Longest drawdown (days)", "days", LOWER),
    MetricRow("exposure_pct", "Exposure %", "pct", None),
    MetricRow("turnover", "Turnover", "ratio", None),
    MetricRow("max_leverage", "Max leverage", "ratio", LOWER),
    MetricRow("benchmark_return_pct", "Benchmark return %", "pct", None),
    MetricRow("excess_return_pct", "Excess return %", "pct", HIGHER),
    MetricRow("beta", "Beta", "ratio", None),
    MetricRow("correlation", "Correlation", "ratio", None),
    MetricRow("trading_days", "Trading days", "count", None),
    MetricRow("bars", "Bars", "count", None),
    MetricRow("risk_free_rate", "Risk-free rate", "fraction", None),
    MetricRow("trades", "Trades", "count", None),
    MetricRow("wins", "Wins", "count", None),
    MetricRow("losses", "Losses", "count", None),
    MetricRow("win_rate", "Win rate", "fraction", HIGHER),
    MetricRow("avg_win", "Average win", "money", HIGHER),
    # Losses are negative: the higher (nearer zero) the better.
    MetricRow("avg_loss", "Average loss", "money", HIGHER),
    MetricRow("largest_win", "Largest win", "money", HIGHER),
    MetricRow("largest_loss", "Largest loss", "money", HIGHER),
    MetricRow("profit_factor", "Profit factor", "ratio", HIGHER),
    MetricRow("expectancy", "Expectancy", "money", HIGHER),
    MetricRow("avg_duration_bars", "Average duration (bars)", "ratio", None),
    MetricRow("avg_duration_seconds", "Average duration (s)", "seconds", None),
    MetricRow("open_trades", "Open trades", "count", None),
)
# Keys of a run's metrics that are not figures (nested blocks and texts).
NOT_FIGURES = frozenset({"per_symbol", "notes", "warnings"})


def metric_rows_for(keys: list[str]) -> list[MetricRow]:
    """The table's rows, then a neutral row for each figure in ``keys`` the table lacks (a
    metric added after this table, shown rather than hidden)."""
    known = {row.key for row in METRIC_ROWS}
    extra = [
        MetricRow(key, key.replace("_", " ").capitalize(), "ratio", None)
        for key in keys
        if key not in known and key not in NOT_FIGURES
    ]
    return [*METRIC_ROWS, *extra]


def best_indices(values: list[float | None], better: Better) -> list[int]:
    """Positions of the best value(s) of a row; none when the row has no direction, fewer
    than two values to compare, or all of them are equal (nothing stands out)."""
    if better is None:
        return []
    numbers = [
        (i, float(v))
        for i, v in enumerate(values)
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    if len(numbers) < 2:
        return []
    chosen = max(v for _, v in numbers) if better == HIGHER else min(v for _, v in numbers)
    if all(v == chosen for _, v in numbers):
        return []
    return [i for i, v in numbers if v == chosen]
