"""Equity: the account marked to market at every timestamp, with the buy-and-hold benchmark
and the drawdown from the running peak.

The whole run's curve is the series its account stored (``backtests.results``), downsampled
to a few thousand buckets for long runs (each bucket's lowest and highest equity are shaded,
so no dip disappears). One symbol's curve is that symbol's P&L, its account rebuilt from its
fills on its own bars (``results.replay``). The figures in the side panel are the run's
stored metrics, the same numbers the metric cards and the API show.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from backtests.charts import loading, style

TITLE = "Equity"
NO_BARS = "No bars: the run has no equity to draw"


def equity_png(run_id: str, *, symbol: str | None = None) -> bytes:
    """PNG of the run's equity (or one symbol's P&L) at every timestamp, with drawdown."""
    from backtests.results.replay import run_account_replay
    from backtests.results.selectors import equity_series_get, run_metrics_get

    run = loading.run_get(run_id)
    loading.symbol_check(run, symbol)
    if symbol is None:
        series, attrs = equity_series_get(run)
        metrics = run_metrics_get(run)
        if series["ts"].size == 0:
            return style.message_png(TITLE, NO_BARS)
        points = int(attrs.get("points_per_bucket", 1) or 1)
        return _render_account(series, float(attrs.get("capital", 0.0)), metrics, points)
    title = f"{TITLE} · {symbol}"
    metrics = run_metrics_get(run, symbol=symbol)
    if not metrics.get("trades") and not metrics.get("open_trades"):
        return style.message_png(title, loading.no_trades_message(symbol))
    account = run_account_replay(run, symbols=[symbol])
    buckets = account.series
    if len(buckets) == 0:
        return style.message_png(title, NO_BARS)
    series = {"ts": buckets.ts, "last": buckets.last, "low": buckets.low, "high": buckets.high}
    return _render_symbol(series, account.capital, metrics, symbol, buckets.points_per_bucket)


def _drawdown(series: dict[str, np.ndarray], start: float) -> np.ndarray:
    """Fall of each bucket's lowest value from the running peak of the highest (<= 0)."""
    peak = np.maximum(np.maximum.accumulate(series["high"]), start)
    return series["low"] - peak


def _axes(fig: Any):
    (ax, ax_dd), side = style.main_and_side(fig, rows=2, height_ratios=[3, 1.2])
    return ax, ax_dd, side


def _curve(ax, x: np.ndarray, series: dict[str, np.ndarray], base: float, label: str) -> list:
    last = series["last"]
    ax.fill_between(
        x, base, last, where=last >= base, color=style.UP, alpha=0.10, linewidth=0, interpolate=True
    )
    ax.fill_between(
        x,
        base,
        last,
        where=last < base,
        color=style.DOWN,
        alpha=0.10,
        linewidth=0,
        interpolate=True,
    )
    handles = []
    if np.any(series["high"] > series["low"]):
        ax.fill_between(
            x, series["low"], series["high"], color=style.NEUTRAL, alpha=0.18, linewidth=0
        )
        handles.append(Patch(color=style.NEUTRAL, alpha=0.3, label="Range within a bucket"))
    handles.insert(0, ax.plot(x, last, color=style.NEUTRAL, linewidth=1.8, label=label)[0])
    return handles


def _drawdown_panel(ax_dd, x: np.ndarray, drawdown: np.ndarray, ts: np.ndarray) -> None:
    style.style_axes(ax_dd, ylabel="Drawdown", money=True)
    ax_dd.fill_between(x, drawdown, 0, color=style.DOWN, alpha=0.25, linewidth=0)
    ax_dd.plot(x, drawdown, color=style.DOWN, linewidth=1.0)
    floor = max(abs(float(np.abs(drawdown).max())), 1.0)  # a flat account still gets an axis
    ax_dd.set_ylim(-floor * 1.1, 0)
    ax_dd.set_xlabel(style.index_time_axis(ax_dd, ts), fontsize=style.LABEL_SIZE, color=style.MUTED)


def _money(value: object, *, sign: bool = True) -> str:
    """A P&L (signed) or, with ``sign=False``, a level or size of money."""
    return style.fmt_money(float(value), sign=sign) if isinstance(value, int | float) else "—"


def _pct(value: object) -> str:
    return f"{value:+.2f} %" if isinstance(value, int | float) else "—"


def _size_pct(value: object) -> str:
    return f"{value:.2f} %" if isinstance(value, int | float) else "—"


def _subtitle(ts: np.ndarray, scope: str, points_per_bucket: int) -> str:
    first, last = style.pd_utc(ts[[0, -1]])
    detail = (
        "every timestamp"
        if points_per_bucket <= 1
        else f"buckets of {points_per_bucket:,} timestamps"
    )
    return (
        f"Marked to market at each close, {scope}, {detail}, "
        f"{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC"
    )


def _render_account(
    series: dict[str, np.ndarray], capital: float, metrics: dict, points: int
) -> bytes:
    ts = series["ts"].astype(np.int64)
    x = np.arange(ts.size, dtype=float)
    fig = style.new_figure()
    ax, ax_dd, side = _axes(fig)
    style.style_axes(ax, ylabel="Equity", money=True)
    ax.axhline(capital, color=style.ZERO_LINE, linewidth=0.8, linestyle="--")
    handles = _curve(
        ax, x, series, capital, f"Equity {_money(metrics.get('final_equity'), sign=False)}"
    )
    handles.insert(
        1,
        ax.plot(
            x,
            series["benchmark"],
            color=style.GROSS,
            linewidth=1.1,
            alpha=0.85,
            label=f"Buy and hold {_pct(metrics.get('benchmark_return_pct'))}",
        )[0],
    )
    ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.tick_params(labelbottom=False)
    _drawdown_panel(ax_dd, x, _drawdown(series, capital), ts)
    handles.append(Patch(color=style.DOWN, alpha=0.3, label="Drawdown from peak"))
    handles.append(Line2D([], [], color=style.ZERO_LINE, linestyle="--", label="Capital"))
    stats = [
        ("Net P&L", _money(metrics.get("net_pnl"))),
        ("Return", _pct(metrics.get("total_return_pct"))),
        ("Realised", _money(metrics.get("realised_pnl"))),
        ("Open", _money(metrics.get("open_pnl"))),
        ("Max drawdown", _money(metrics.get("max_drawdown"), sign=False)),
        ("Max drawdown %", _size_pct(metrics.get("max_drawdown_pct"))),
        ("Buy and hold", _pct(metrics.get("benchmark_return_pct"))),
        ("Capital", _money(capital, sign=False)),
    ]
    style.side_panel(side, stats, handles)
    style.set_title(fig, TITLE, _subtitle(ts, "all symbols", points))
    if not metrics.get("trades") and not metrics.get("open_trades"):
        style.badge(fig, "No trades in this run", style.MUTED)
    return style.figure_png(fig)


def _render_symbol(
    series: dict[str, np.ndarray], capital: float, metrics: dict, symbol: str, points: int
) -> bytes:
    ts = series["ts"].astype(np.int64)
    x = np.arange(ts.size, dtype=float)
    pnl = {key: series[key] - capital for key in ("last", "low", "high")}
    fig = style.new_figure()
    ax, ax_dd, side = _axes(fig)
    style.style_axes(ax, ylabel="P&L after commission", money=True)
    style.zero_line(ax)
    handles = _curve(ax, x, pnl, 0.0, f"{symbol} {_money(metrics.get('net_pnl'))}")
    ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.tick_params(labelbottom=False)
    _drawdown_panel(ax_dd, x, _drawdown(pnl, 0.0), ts)
    handles.append(Patch(color=style.DOWN, alpha=0.3, label="Drawdown from peak"))
    stats = [
        ("Net P&L", _money(metrics.get("net_pnl"))),
        ("Realised", _money(metrics.get("realised_pnl"))),
        ("Open", _money(metrics.get("open_pnl"))),
        ("Max drawdown", _money(metrics.get("max_drawdown"), sign=False)),
        ("Trades", f"{metrics.get('trades') or 0:,}"),
    ]
    style.side_panel(side, stats, handles)
    style.set_title(fig, f"{TITLE} · {symbol}", _subtitle(ts, symbol, points))
    return style.figure_png(fig)
