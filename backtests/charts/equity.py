"""Equity: the run's mark-to-market P&L bar by bar, in total and per symbol, with drawdown.

Positions come from the fills (a fill belongs to the last bar that opened at or before it) and
are valued at each bar's close: P&L = cash from fills - commissions + position x close. All of
it is cumulative sums over arrays, one pass per symbol; no Python loop over bars or fills.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from backtests.charts import loading, style

TITLE = "Equity"
MAX_SYMBOL_LINES = 8


def equity_png(run_id: str, *, symbol: str | None = None) -> bytes:
    """PNG of mark-to-market P&L after commission over every bar of the run."""
    run = loading.run_get(run_id)
    loading.symbol_check(run, symbol)
    title = TITLE if symbol is None else f"{TITLE} · {symbol}"
    fills = loading.fills_frame(run, symbol=symbol)
    if fills.empty:
        return style.message_png(title, loading.no_trades_message(symbol))
    symbols = [symbol] if symbol is not None else sorted(fills["symbol"].unique())
    closes = loading.run_closes(run, symbols)
    if closes.empty:
        return style.message_png(title, "No bars to value the positions on")
    pnl = mark_to_market(closes, fills)
    return _render(pnl, title, symbol)


def mark_to_market(closes: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """P&L after commission per symbol (columns) at each bar time (index, ns), at the close.

    ``closes``: close prices indexed by bar time, NaN where a symbol has no bar (carried
    forward). ``fills``: columns ts, symbol, signed (signed quantity), price, commission.
    """
    ts = closes.index.to_numpy(np.int64)
    n = ts.size
    out = {}
    for sym in closes.columns:
        f = fills[fills["symbol"] == sym]
        close = closes[sym].ffill().to_numpy(float)
        if f.empty:
            out[sym] = np.zeros(n)
            continue
        bar = np.clip(np.searchsorted(ts, f["ts"].to_numpy(np.int64), side="right") - 1, 0, n - 1)
        signed = f["signed"].to_numpy(float)
        position = np.cumsum(np.bincount(bar, weights=signed, minlength=n))
        cash = -np.cumsum(
            np.bincount(
                bar,
                weights=signed * f["price"].to_numpy(float) + f["commission"].to_numpy(float),
                minlength=n,
            )
        )
        value = np.where(position != 0, position * np.nan_to_num(close), 0.0)
        out[sym] = cash + value
    return pd.DataFrame(out, index=closes.index)


def _render(pnl: pd.DataFrame, title: str, symbol: str | None) -> bytes:
    ts = pnl.index.to_numpy(np.int64)
    x = np.arange(ts.size, dtype=float)
    total = pnl.sum(axis=1).to_numpy(float)
    peak = np.maximum.accumulate(np.maximum(total, 0.0))
    drawdown = total - peak

    fig = style.new_figure()
    (ax, ax_dd), side = style.main_and_side(fig, rows=2, height_ratios=[3, 1.2])
    style.style_axes(ax, ylabel="P&L after commission", money=True)
    style.zero_line(ax)
    ax.fill_between(
        x, 0, total, where=total >= 0, color=style.UP, alpha=0.10, linewidth=0, interpolate=True
    )
    ax.fill_between(
        x, 0, total, where=total < 0, color=style.DOWN, alpha=0.10, linewidth=0, interpolate=True
    )
    handles: list = []
    shown = list(pnl.columns)
    if len(shown) > 1:
        final = pnl.iloc[-1].abs().sort_values(ascending=False, kind="stable")
        shown = list(final.index[:MAX_SYMBOL_LINES])
        for i, sym in enumerate(shown):
            line = pnl[sym].to_numpy(float)
            handles += ax.plot(
                x,
                line,
                color=style.series_color(i + 1),
                linewidth=1.0,
                alpha=0.85,
                label=f"{sym} {style.fmt_money(float(line[-1]))}",
            )
    handles.insert(
        0,
        ax.plot(
            x,
            total,
            color=style.NEUTRAL,
            linewidth=2.0,
            label=f"Total {style.fmt_money(float(total[-1]))}",
        )[0],
    )
    ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.tick_params(labelbottom=False)

    style.style_axes(ax_dd, ylabel="Drawdown", money=True)
    ax_dd.fill_between(x, drawdown, 0, color=style.DOWN, alpha=0.25, linewidth=0)
    ax_dd.plot(x, drawdown, color=style.DOWN, linewidth=1.0)
    ax_dd.set_ylim(min(float(drawdown.min()), -1e-9) * 1.1, 0)
    ax_dd.set_xlabel(style.index_time_axis(ax_dd, ts), fontsize=style.LABEL_SIZE, color=style.MUTED)

    handles.append(Patch(color=style.DOWN, alpha=0.3, label="Drawdown from peak"))
    if len(pnl.columns) > len(shown):
        handles.append(
            Line2D([], [], color="none", label=f"… {len(pnl.columns) - len(shown)} more symbols")
        )
    stats = [
        ("Final P&L", style.fmt_money(float(total[-1]))),
        ("Best", style.fmt_money(float(total.max()))),
        ("Worst", style.fmt_money(float(total.min()))),
        ("Max drawdown", style.fmt_money(float(drawdown.min()))),
        ("Bars", f"{ts.size:,}"),
        ("Symbols", f"{len(pnl.columns):,}"),
    ]
    style.side_panel(side, stats, handles)
    first, last = style.pd_utc(ts[[0, -1]])
    scope = "all symbols" if symbol is None else symbol
    style.set_title(
        fig,
        title,
        f"Mark-to-market at each bar's close, {scope}, "
        f"{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC",
    )
    return style.figure_png(fig)
