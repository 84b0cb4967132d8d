"""PNG charts of a backtest run, drawn with matplotlib's Agg canvas (no pyplot, thread-safe).

Each function returns PNG bytes; a run or symbol without trades gives a chart that says so.
Unknown runs and symbols raise ``ostsite.errors.NotFound``; bad arguments ``InvalidInput``.
"""

from backtests.charts.equity import equity_png
from backtests.charts.journey import trade_journey_png
from backtests.charts.pnl_summary import pnl_summary_png
from backtests.charts.trade import trade_chart_png
from backtests.charts.window import window_chart_png

__all__ = [
    "equity_png",
    "pnl_summary_png",
    "trade_chart_png",
    "trade_journey_png",
    "window_chart_png",
]
