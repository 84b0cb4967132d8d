"""P&L summary: cumulative gross and net P&L trade by trade (in the order trades closed), with
each trade's maximum drawdown as a bar in a panel below."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from backtests.charts import loading, style

TITLE = "P&L summary"
MARKER_LIMIT = 80  # draw a dot per trade up to this many trades


def pnl_summary_png(run_id: str, *, symbol: str | None = None) -> bytes:
    """PNG of the cumulative P&L by round trip and each round trip's maximum drawdown."""
    trades, title = loading.chart_trades(run_id, symbol, TITLE)
    if trades.empty:
        return style.message_png(title, loading.no_trades_message(symbol))

    n = len(trades)
    x = np.arange(1, n + 1, dtype=float)
    gross = trades["pnl_before_commission"].to_numpy(float)
    net = trades["pnl_after_commission"].to_numpy(float)
    drawdown = trades["max_drawdown"].to_numpy(float)
    cum_gross, cum_net = np.cumsum(gross), np.cumsum(net)

    fig = style.new_figure()
    (ax, ax_dd), side = style.main_and_side(fig, rows=2, height_ratios=[3, 1.2])
    style.style_axes(ax, ylabel="Cumulative P&L", money=True)
    style.zero_line(ax)
    xs = np.concatenate([[0.0], x])
    marker = "o" if n <= MARKER_LIMIT else None
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
    half = 0.32 if n > 1 else 0.25
    zero = np.zeros(n)
    bars = np.stack(
        [
            np.column_stack([x - half, zero]),
            np.column_stack([x - half, -drawdown]),
            np.column_stack([x + half, -drawdown]),
            np.column_stack([x + half, zero]),
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
    handles.append(Patch(color=style.DOWN, alpha=0.6, label="Max drawdown in trade"))
    style.side_panel(side, _stats(gross, net, cum_net), handles)
    style.set_title(fig, title, f"Cumulative P&L over {n:,} round trips, in the order they closed")
    return style.figure_png(fig)


def _stats(gross: np.ndarray, net: np.ndarray, cum_net: np.ndarray) -> list[tuple[str, str]]:
    wins, losses = net[net > 0], net[net <= 0]
    lost = float(-losses.sum())
    factor = f"{wins.sum() / lost:,.2f}" if lost > 0 else "—"
    peak = np.maximum.accumulate(np.concatenate([[0.0], cum_net]))
    max_dd = float((peak - np.concatenate([[0.0], cum_net])).max())
    return [
        ("Trades", f"{len(net):,}"),
        ("Net P&L", style.fmt_money(float(net.sum()))),
        ("Gross P&L", style.fmt_money(float(gross.sum()))),
        ("Commission", style.fmt_money(float(gross.sum() - net.sum()), sign=False)),
        ("Winners", f"{len(wins):,} ({len(wins) / len(net):.0%})"),
        ("Losers", f"{len(losses):,}"),
        ("Avg winner", style.fmt_money(float(wins.mean())) if len(wins) else "—"),
        ("Avg loser", style.fmt_money(float(losses.mean())) if len(losses) else "—"),
        ("Profit factor", factor),
        ("Max drawdown", style.fmt_money(-max_dd) if max_dd > 0 else "$0.00"),
    ]
