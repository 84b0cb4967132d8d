"""What the trade chart and the window chart share: checking a symbol and time span, drawing
bars with their indicators (overlays on price, the rest in panels below) and marking fills."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from backtests.charts import loading, ohlc, style

MAX_INDICATOR_PANELS = 4
MAX_FILL_LABELS = 8

_LINESTYLES = {"line": "-", "dashed": (0, (5, 3)), "dots": "none"}

Indicator = tuple[str, np.ndarray, dict]


def span_fields(symbol: object, start_ns: object, end_ns: object) -> dict[str, str]:
    """Problems with a symbol and a [start_ns, end_ns] span (UTC ns), by argument name."""
    fields: dict[str, str] = {}
    if not isinstance(symbol, str) or not symbol.strip():
        fields["symbol"] = "a non-empty symbol is required"
    for name, value in (("start_ns", start_ns), ("end_ns", end_ns)):
        if not isinstance(value, int) or isinstance(value, bool):
            fields[name] = "must be an integer (UTC nanoseconds)"
        elif value < 0:
            fields[name] = "must not be negative"
    if not fields.get("start_ns") and not fields.get("end_ns") and start_ns > end_ns:  # type: ignore[operator]
        fields["end_ns"] = "must not be before start_ns"
    return fields


def indicator_split(run, bars: loading.Bars) -> tuple[list[Indicator], list[Indicator]]:
    """(overlays, panels) of the bars' indicators with any finite value, panels capped."""
    hints = loading.indicator_hints(run)
    overlays, panels = [], []
    for name, values in bars.indicators.items():
        if not np.isfinite(values).any():
            continue
        hint = hints.get(name, {})
        (overlays if hint.get("placement") == "overlay" else panels).append((name, values, hint))
    return overlays, panels[:MAX_INDICATOR_PANELS]


def draw_bars_and_indicators(
    ax_price: Axes,
    panel_axes: list[Axes],
    bars: loading.Bars,
    fills: pd.DataFrame,
    overlays: list[Indicator],
    panels: list[Indicator],
) -> np.ndarray:
    """Price bars, overlay indicators and fill markers on ``ax_price``; one panel indicator
    per axis of ``panel_axes``. Returns the bar index of each fill."""
    x = np.arange(len(bars), dtype=float)
    style.style_axes(ax_price, ylabel="Price")
    ohlc.draw_price_bars(ax_price, x, bars.open, bars.high, bars.low, bars.close)
    for i, (name, values, hint) in enumerate(overlays):
        _draw_indicator(ax_price, x, name, values, hint, i)
    fill_x = _draw_fills(ax_price, bars, fills)
    for j, ((name, values, hint), ax) in enumerate(zip(panels, panel_axes, strict=True)):
        style.style_axes(ax, ylabel=_short(name))
        _draw_indicator(ax, x, name, values, hint, len(overlays) + j)
    return fill_x


def _draw_indicator(
    ax: Axes, x: np.ndarray, name: str, values: np.ndarray, hint: dict, index: int
) -> None:
    color = hint.get("color") or style.series_color(index)
    kind = hint.get("style", "line")
    ax.plot(
        x,
        values,
        label=name,
        color=color,
        linewidth=1.5,
        alpha=0.95,
        zorder=4,
        linestyle=_LINESTYLES.get(kind, "-"),
        marker="o" if kind == "dots" else None,
        markersize=2.6,
    )


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def fill_bar_index(bars: loading.Bars, fills: pd.DataFrame) -> np.ndarray:
    """Index of the bar each fill happened in (the last bar that opened at or before it)."""
    idx = np.searchsorted(bars.ts, fills["ts"].to_numpy(np.int64), side="right") - 1
    return np.clip(idx, 0, len(bars) - 1)


def _draw_fills(ax: Axes, bars: loading.Bars, fills: pd.DataFrame) -> np.ndarray:
    if fills.empty:
        return np.empty(0, dtype=int)
    fill_x = fill_bar_index(bars, fills)
    buys = fills["signed"].to_numpy() > 0
    price = fills["price"].to_numpy()
    for mask, marker, color, label in (
        (buys, "^", style.UP, "Buy"),
        (~buys, "v", style.DOWN, "Sell"),
    ):
        if mask.any():
            ax.scatter(
                fill_x[mask],
                price[mask],
                marker=marker,
                s=110,
                color=color,
                edgecolors="white",
                linewidths=1.2,
                zorder=6,
                label=label,
            )
    if len(fills) <= MAX_FILL_LABELS:
        for xi, buy, row in zip(fill_x, buys, fills.itertuples(), strict=True):
            ax.annotate(
                f"{style.fmt_number(row.qty, decimals=0)} @ {style.fmt_number(row.price)}",
                (xi, row.price),
                xytext=(0, -16 if buy else 16),
                textcoords="offset points",
                ha="center",
                va="top" if buy else "bottom",
                fontsize=8,
                color=style.TEXT,
                zorder=7,
                bbox={
                    "boxstyle": "round,pad=0.25",
                    "facecolor": "white",
                    "edgecolor": style.GRID,
                    "alpha": 0.9,
                },
            )
    return fill_x


def bars_source_note(bars: loading.Bars) -> str:
    """Subtitle suffix saying where the bars came from when they are not the run's own."""
    return " · bars from the security master" if bars.source == "secmaster" else ""


def duration_text(delta: pd.Timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s" if seconds % 60 else f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds / 86400:,.1f} days"
