"""One round trip on its price chart: bars with context, indicators, fills and the trade's
unrealised P&L band with its high and low watermarks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from backtests.charts import loading, price, style
from ostsite.errors import InvalidInput

# Bars shown before the entry and after the exit: twice the trade's length, within these
# bounds, so a short trade is not a sliver and a long one keeps some context.
MIN_CONTEXT_BARS, MAX_CONTEXT_BARS = 20, 60

INVALID_TRADE = "Invalid trade chart request"
DIRECTIONS = ("LONG", "SHORT")


def trade_chart_png(
    run_id: str, *, symbol: str, start_ns: int, end_ns: int, direction: str, pnl: float
) -> bytes:
    """PNG of the trade of ``symbol`` held from ``start_ns`` to ``end_ns`` (UTC ns).

    ``direction`` is LONG or SHORT, ``pnl`` the trade's net P&L (shown in the title).
    Raises ``InvalidInput`` for bad arguments, ``NotFound`` for an unknown run or a symbol
    the run did not trade.
    """
    direction = _validate(symbol, start_ns, end_ns, direction, pnl)
    run = loading.run_get(run_id)
    loading.symbol_check(run, symbol)
    bars = loading.trade_window_bars(
        run, symbol, start_ns, end_ns, _context_bars(run, start_ns, end_ns)
    )
    title = f"{symbol} · {direction}"
    if len(bars) == 0:
        return style.message_png(title, f"No bars for {symbol} around this trade")
    fills = loading.fills_frame(run, symbol=symbol, start_ns=start_ns, end_ns=end_ns)
    return _render(run, bars, fills, symbol, start_ns, end_ns, direction, pnl)


def _context_bars(run, start_ns: int, end_ns: int) -> int:
    period = loading.run_bar_period(run)
    held = (end_ns - start_ns) // period.nanoseconds + 1 if period else MAX_CONTEXT_BARS
    return int(min(max(2 * held, MIN_CONTEXT_BARS), MAX_CONTEXT_BARS))


def _validate(
    symbol: object, start_ns: object, end_ns: object, direction: object, pnl: object
) -> str:
    fields = price.span_fields(symbol, start_ns, end_ns)
    if not isinstance(direction, str) or direction.upper() not in DIRECTIONS:
        fields["direction"] = "must be LONG or SHORT"
    if isinstance(pnl, bool) or not isinstance(pnl, (int, float)) or not math.isfinite(pnl):
        fields["pnl"] = "must be a finite number"
    if fields:
        raise InvalidInput(INVALID_TRADE, fields=fields)
    return direction.upper()  # type: ignore[union-attr]


def _render(
    run,
    bars: loading.Bars,
    fills: pd.DataFrame,
    symbol: str,
    start_ns: int,
    end_ns: int,
    direction: str,
    pnl: float,
) -> bytes:
    overlays, panels = price.indicator_split(run, bars)

    fig = style.new_figure(height_px=style.HEIGHT_PX + style.PANEL_HEIGHT_PX * len(panels))
    ratios = [4.0] + [1.25] * len(panels) + [1.6]
    axes, side = style.main_and_side(fig, rows=len(ratios), height_ratios=ratios)
    ax_price, ax_pnl = axes[0], axes[-1]

    entry_i = int(np.searchsorted(bars.ts, start_ns, side="left"))
    exit_i = int(np.searchsorted(bars.ts, end_ns, side="right")) - 1
    for ax in axes:
        if entry_i <= exit_i:
            ax.axvspan(entry_i - 0.5, exit_i + 0.5, color=style.TRADE_SPAN, zorder=0, lw=0)

    fill_x = price.draw_bars_and_indicators(ax_price, axes[1:-1], bars, fills, overlays, panels)

    style.style_axes(ax_pnl, ylabel="Trade P&L", money=True)
    hwm, lwm = _draw_pnl_band(ax_pnl, bars, fills, fill_x, entry_i, exit_i)
    label = style.index_time_axis(ax_pnl, bars.ts)
    ax_pnl.set_xlabel(label, fontsize=style.LABEL_SIZE, color=style.MUTED)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)

    handles = ax_price.get_legend_handles_labels()[0] + ax_pnl.get_legend_handles_labels()[0]
    facts = _facts(fills, direction, pnl, hwm, lwm, max(0, exit_i - entry_i + 1), end_ns - start_ns)
    style.side_panel(side, facts, handles, heading="Trade")
    _title(fig, bars, symbol, start_ns, end_ns, direction, pnl)
    return style.figure_png(fig)


def _draw_pnl_band(
    ax: Axes, bars: loading.Bars, fills: pd.DataFrame, fill_x: np.ndarray, entry_i: int, exit_i: int
) -> tuple[float, float]:
    """Best and worst mark-to-market P&L of the trade within each bar (before commission).

    P&L so far = cash from fills + position x price; within a bar the price ranges over
    [low, high], which bounds the band. Running extremes give the watermarks, returned as
    (high watermark >= 0, low watermark <= 0).
    """
    style.zero_line(ax)
    if fills.empty or entry_i > exit_i:
        return 0.0, 0.0
    n = len(bars)
    signed = fills["signed"].to_numpy()
    position = np.cumsum(np.bincount(fill_x, weights=signed, minlength=n))
    cash = -np.cumsum(np.bincount(fill_x, weights=signed * fills["price"].to_numpy(), minlength=n))
    at_high, at_low = cash + position * bars.high, cash + position * bars.low
    sl = slice(entry_i, exit_i + 1)
    xs = np.arange(n, dtype=float)[sl]
    best, worst = np.maximum(at_high, at_low)[sl], np.minimum(at_high, at_low)[sl]
    ax.fill_between(
        xs,
        worst,
        best,
        color=style.BAND,
        alpha=0.45,
        linewidth=0,
        label="P&L range in bar",
        step="mid",
    )
    high = np.maximum.accumulate(np.maximum(best, 0.0))
    low = np.minimum.accumulate(np.minimum(worst, 0.0))
    ax.plot(xs, high, color=style.UP, linewidth=1.5, label="High watermark", drawstyle="steps-mid")
    ax.plot(xs, low, color=style.DOWN, linewidth=1.5, label="Low watermark", drawstyle="steps-mid")
    return float(high[-1]), float(low[-1])


def _facts(
    fills: pd.DataFrame, direction: str, pnl: float, hwm: float, lwm: float, held: int, span_ns: int
) -> list[tuple[str, str]]:
    def fill_text(row: pd.Series) -> str:
        return f"{style.fmt_number(row['qty'], decimals=0)} @ {style.fmt_number(row['price'])}"

    flat = not fills.empty and abs(float(fills["signed"].sum())) < 1e-9
    gross = -float((fills["signed"] * fills["price"]).sum()) if flat else math.nan
    return [
        ("Direction", direction),
        ("Net P&L", style.fmt_money(pnl)),
        ("Gross P&L", style.fmt_money(gross) if flat else "—"),
        ("Entry", fill_text(fills.iloc[0]) if not fills.empty else "—"),
        ("Exit", fill_text(fills.iloc[-1]) if len(fills) > 1 else "—"),
        ("Fills", f"{len(fills):,}"),
        ("High watermark", style.fmt_money(hwm)),
        ("Low watermark", style.fmt_money(lwm)),
        ("Bars held", f"{held:,}"),
        ("Duration", price.duration_text(pd.Timedelta(span_ns, unit="ns"))),
    ]


def _title(
    fig, bars: loading.Bars, symbol: str, start_ns: int, end_ns: int, direction: str, pnl: float
) -> None:
    result = "WIN" if pnl > 0 else "LOSS" if pnl < 0 else "BREAK-EVEN"
    entry, exit_ = style.pd_utc(np.array([start_ns, end_ns]))
    source = price.bars_source_note(bars)
    style.set_title(
        fig,
        f"{symbol} · {direction} trade",
        f"{entry:%Y-%m-%d %H:%M} → {exit_:%Y-%m-%d %H:%M} UTC{source}",
    )
    color = style.UP if pnl > 0 else style.DOWN if pnl < 0 else style.MUTED
    style.badge(fig, f"{result}  {style.fmt_money(pnl)}", color)
