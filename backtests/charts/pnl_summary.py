"""P&L summary: cumulative gross and net P&L of closed round trips (in the order they closed),
with each trade's maximum drawdown as a bar in a panel below. With many trades each bar is a
slot of consecutive trades (``binning``): the lines pass through every slot's end and the bar
shows the slot's largest drawdown. The side panel's trade statistics are the run's stored
metrics, the same the cards show."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from backtests.charts import binning, loading, style

TITLE = "P&L summary"
MARKER_LIMIT = 80  # draw a dot per trade up to this many trades


def pnl_summary_png(run_id: str, *, symbol: str | None = None) -> bytes:
    """PNG of the cumulative P&L by round trip and each round trip's maximum drawdown."""
    from backtests.results.selectors import run_metrics_get

    trades, title = loading.chart_trades(run_id, symbol, TITLE)
    if trades.empty:
        return style.message_png(title, loading.no_trades_message(symbol))
    metrics = run_metrics_get(loading.run_get(run_id), symbol=symbol)

    n = len(trades)
    gross = trades["pnl_before_commission"].to_numpy(float)
    net = trades["pnl_after_commission"].to_numpy(float)
    starts = binning.slot_starts(n)
    per_slot = int(starts[1] - starts[0]) if len(starts) > 1 else 1
    x = np.r_[starts[1:], n].astype(float)  # each slot's last trade number
    centres = (starts + 1 + x) / 2
    cum_gross = binning.slot_reduce(np.cumsum(gross), starts, "last")
    cum_net = binning.slot_reduce(np.cumsum(net), starts, "last")
    drawdown = binning.slot_reduce(trades["max_drawdown"].to_numpy(float), starts, "max")
    slots = len(starts)

    fig = style.new_figure()
    (ax, ax_dd), side = style.main_and_side(fig, rows=2, height_ratios=[3, 1.2])
    style.style_axes(ax, ylabel="Cumulative P&L", money=True)
    style.zero_line(ax)
    xs = np.concatenate([[0.0], x])
    marker = "o" if slots <= MARKER_LIMIT else None
    ax.fill_between(
        xs, 0, np.concatenate([[0.0], cum_net]), color=style.NEUTRAL, alpha=0.08, linewidth=0
    )
    ax.plot(
        xs,
        np.concatenate([[0.0], cum_gross]),
        color=style.GROSS,
        linewidth=1.6,
        marker=marker,
        markersize=3.5,
        label="Gross P&L",
    )
    ax.plot(
        xs,
        np.concatenate([[0.0], cum_net]),
        color=style.NEUTRAL,
        linewidth=2.2,
        marker=marker,
        markersize=3.5,
        label="Net P&L",
    )
    ax.tick_params(labelbottom=False)

    style.style_axes(ax_dd, ylabel="Trade drawdown", money=True)
    half = (0.32 if slots > 1 else 0.25) * per_slot
    zero = np.zeros(slots)
    bars = np.stack(
        [
            np.column_stack([centres - half, zero]),
            np.column_stack([centres - half, -drawdown]),
            np.column_stack([centres + half, -drawdown]),
            np.column_stack([centres + half, zero]),
        ],
        axis=1,
    )
    ax_dd.add_collection(
        PolyCollection(bars, facecolors=to_rgba(style.DOWN, 0.6), edgecolors="none")
    )
    ax_dd.set_ylim(-max(float(drawdown.max()), 1e-9) * 1.12, 0)
    ax_dd.set_xlim(0, n + 0.7)
    ax_dd.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True, min_n_ticks=1))
    ax_dd.set_xlabel(
        "Trade number (in order of exit)", fontsize=style.LABEL_SIZE, color=style.MUTED
    )

    handles, _ = ax.get_legend_handles_labels()
    what = "trade" if per_slot == 1 else f"slot of {per_slot:,} trades"
    handles.append(Patch(color=style.DOWN, alpha=0.6, label=f"Max drawdown in {what}"))
    style.side_panel(side, _stats(gross, net, metrics), handles)
    style.set_title(fig, title, f"Cumulative P&L over {n:,} round trips, in the order they closed")
    return style.figure_png(fig)


def _money(value: object) -> str:
    return style.fmt_money(float(value)) if isinstance(value, int | float) else "—"


def _stats(gross: np.ndarray, net: np.ndarray, metrics: dict) -> list[tuple[str, str]]:
    """Sums over the closed trades drawn; the trade statistics as the metrics define them."""
    factor = metrics.get("profit_factor")
    wins, trades = metrics.get("wins") or 0, metrics.get("trades") or 0
    return [
        ("Trades", f"{trades:,}"),
        ("Net, closed trades", style.fmt_money(float(net.sum()))),
        ("Gross, closed trades", style.fmt_money(float(gross.sum()))),
        ("Commission", style.fmt_money(float(gross.sum() - net.sum()), sign=False)),
        ("Winners", f"{wins:,} ({wins / trades:.0%})" if trades else "—"),
        ("Losers", f"{metrics.get('losses') or 0:,}"),
        ("Avg winner", _money(metrics.get("avg_win"))),
        ("Avg loser", _money(metrics.get("avg_loss"))),
        ("Profit factor", f"{factor:,.2f}" if isinstance(factor, int | float) else "—"),
    ]
