"""Trade journey: how far each round trip went for and against the position before it exited.

Per round trip (in the order they closed) a bar spans its low watermark (worst unrealised P&L)
to its high watermark (best); a tick marks where it exited. Watermarks and exit are P&L before
commission, as the round trips define them; a trade counts as a winner when its P&L after
commission is positive. Dashed lines give the average exit of winners and of losers. Bar width
grows with the trade's duration in bars (up to DENSE_TRADES trades; beyond, all bars are
equally wide so each stays visible).
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from backtests.charts import binning, loading, style

TITLE = "Trade journey"
MIN_WIDTH, MAX_WIDTH = 0.25, 0.85  # bar width in trade slots, by duration
DENSE_TRADES = 150  # beyond this many trades, equal widths and dots for the exits


def trade_journey_png(run_id: str, *, symbol: str | None = None) -> bytes:
    """PNG of every round trip's best and worst excursion and its exit P&L."""
    trades, title = loading.chart_trades(run_id, symbol, TITLE)
    if trades.empty:
        return style.message_png(title, loading.no_trades_message(symbol))

    n = len(trades)
    all_hwm = trades["high_watermark"].to_numpy(float)
    all_lwm = trades["low_watermark"].to_numpy(float)
    all_exit = trades["pnl_before_commission"].to_numpy(float)
    all_winner = trades["pnl_after_commission"].to_numpy(float) > 0
    duration = trades["duration_bars"].to_numpy(float)
    # Many trades: each slot of consecutive trades spans its worst to its best, exits averaged.
    starts = binning.slot_starts(n)
    per_slot = int(starts[1] - starts[0]) if len(starts) > 1 else 1
    x = (starts + 1 + np.r_[starts[1:], n]) / 2
    hwm = binning.slot_reduce(all_hwm, starts, "max")
    lwm = binning.slot_reduce(all_lwm, starts, "min")
    exit_pnl = binning.slot_reduce(all_exit, starts, "mean")
    winner = binning.slot_reduce(all_winner.astype(float), starts, "mean") > 0.5
    slots = len(starts)
    longest = max(duration.max(), 1.0)
    if n <= DENSE_TRADES:
        width = MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * np.clip(duration / longest, 0, 1)
    else:  # a few pixels per slot: full-width bars, so each one stays visible
        width = np.full(slots, 0.9 * per_slot)

    fig = style.new_figure()
    (ax,), side = style.main_and_side(fig)
    style.style_axes(ax, ylabel="P&L from entry (before commission)", money=True)
    style.zero_line(ax)

    colors = np.where(
        winner[:, None], to_rgba(style.UP_LIGHT, 0.75), to_rgba(style.DOWN_LIGHT, 0.8)
    )
    half = width / 2
    rects = np.stack(
        [
            np.column_stack([x - half, lwm]),
            np.column_stack([x - half, hwm]),
            np.column_stack([x + half, hwm]),
            np.column_stack([x + half, lwm]),
        ],
        axis=1,
    )
    ax.add_collection(PolyCollection(rects, facecolors=colors, edgecolors="none", zorder=2))
    if n <= DENSE_TRADES:
        ticks = np.stack(
            [np.column_stack([x - half, exit_pnl]), np.column_stack([x + half, exit_pnl])], axis=1
        )
        ax.add_collection(LineCollection(ticks, colors=style.TEXT, linewidths=2.0, zorder=3))
    else:
        ax.scatter(x, exit_pnl, s=5, color=style.TEXT, linewidths=0, zorder=3)

    handles = [
        Patch(color=style.UP_LIGHT, alpha=0.75, label="Winner: worst → best"),
        Patch(color=style.DOWN_LIGHT, alpha=0.8, label="Loser: worst → best"),
        Line2D([], [], color=style.TEXT, linewidth=2, label="Exit")
        if n <= DENSE_TRADES
        else Line2D([], [], color=style.TEXT, marker="o", markersize=3, ls="none", label="Exit"),
    ]
    for mask, color, what in ((all_winner, style.UP, "win"), (~all_winner, style.DOWN, "loss")):
        if mask.any():
            avg = float(all_exit[mask].mean())
            handles.append(
                ax.axhline(
                    avg,
                    color=color,
                    linestyle=(0, (6, 3)),
                    linewidth=1.4,
                    zorder=4,
                    label=f"Avg {what} exit {style.fmt_money(avg)}",
                )
            )

    top, bottom = float(max(hwm.max(), 0)), float(min(lwm.min(), 0))
    pad = (top - bottom) * 0.06 or 1.0
    ax.set_ylim(bottom - pad, top + pad)
    ax.set_xlim(0.3, n + 0.7)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True, min_n_ticks=1))
    ax.set_xlabel("Trade number (in order of exit)", fontsize=style.LABEL_SIZE, color=style.MUTED)
    style.side_panel(side, _stats(all_hwm, all_lwm, all_exit, all_winner, duration), handles)
    style.set_title(
        fig,
        f"{TITLE}{'' if symbol is None else ' · ' + symbol}",
        f"Best and worst unrealised P&L of each of {n:,} round trips, and where it exited"
        + ("" if per_slot == 1 else f" (each bar: {per_slot:,} consecutive trades)"),
    )
    return style.figure_png(fig)


def _stats(hwm, lwm, exit_pnl, winner, duration) -> list[tuple[str, str]]:
    def avg_bars(mask: np.ndarray) -> str:
        return f"{duration[mask].mean():,.1f}" if mask.any() else "—"

    return [
        ("Trades", f"{len(hwm):,}"),
        ("Avg best", style.fmt_money(float(hwm.mean()))),
        ("Avg worst", style.fmt_money(float(lwm.mean()))),
        ("Avg exit", style.fmt_money(float(exit_pnl.mean()))),
        ("Best exit", style.fmt_money(float(exit_pnl.max()))),
        ("Worst exit", style.fmt_money(float(exit_pnl.min()))),
        ("Bars, winners", avg_bars(winner)),
        ("Bars, losers", avg_bars(~winner)),
    ]
