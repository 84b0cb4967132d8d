"""A time window of one symbol in a run: its bars, indicators and every fill in the window.

Unlike the trade chart there is no context outside the window and no P&L band: this is the
chart page's browsing view, not a trade.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.charts import loading, price, style
from ostsite.errors import InvalidInput

INVALID_WINDOW = "Invalid window chart request"
NO_BARS = "No bars for {symbol} in this window"


def window_chart_png(run_id: str, *, symbol: str, start_ns: int, end_ns: int) -> bytes:
    """PNG of the bars of ``symbol`` from ``start_ns`` to ``end_ns`` (UTC ns, inclusive).

    Overlay indicators are drawn on the price, panel indicators below it, fills as buy ^ and
    sell v markers. Raises ``InvalidInput`` for bad arguments, ``NotFound`` for an unknown run
    or a symbol that is not one of the run's.
    """
    fields = price.span_fields(symbol, start_ns, end_ns)
    if fields:
        raise InvalidInput(INVALID_WINDOW, fields=fields)
    run = loading.run_get(run_id)
    loading.symbol_check(run, symbol)
    bars = loading.window_bars(run, symbol, start_ns, end_ns)
    span = _span_text(start_ns, end_ns)
    if len(bars) == 0:
        return style.message_png(f"{symbol} · {span}", NO_BARS.format(symbol=symbol))
    fills = loading.fills_frame(run, symbol=symbol, start_ns=start_ns, end_ns=end_ns)
    return _render(run, bars, fills, f"{symbol} · {span}")


def _span_text(start_ns: int, end_ns: int) -> str:
    start, end = style.pd_utc(np.array([start_ns, end_ns], dtype=np.int64))
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _render(run, bars: loading.Bars, fills: pd.DataFrame, heading: str) -> bytes:
    overlays, panels = price.indicator_split(run, bars)
    fig = style.new_figure(height_px=style.HEIGHT_PX + style.PANEL_HEIGHT_PX * len(panels))
    ratios = [4.0] + [1.25] * len(panels)
    axes, side = style.main_and_side(fig, rows=len(ratios), height_ratios=ratios)
    ax_price, ax_last = axes[0], axes[-1]

    price.draw_bars_and_indicators(ax_price, axes[1:], bars, fills, overlays, panels)
    label = style.index_time_axis(ax_last, bars.ts)
    ax_last.set_xlabel(label, fontsize=style.LABEL_SIZE, color=style.MUTED)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)

    handles = ax_price.get_legend_handles_labels()[0]
    style.side_panel(side, _facts(bars, fills), handles, heading="Window")
    style.set_title(
        fig,
        f"{heading} · {_count(len(bars), 'bar')} · {_count(len(fills), 'fill')}",
        _subtitle(bars),
    )
    return style.figure_png(fig)


def _subtitle(bars: loading.Bars) -> str:
    first, last = style.pd_utc(bars.ts[[0, -1]])
    where = "from the security master" if bars.source == "secmaster" else "recorded by the run"
    return f"Bars {where}, first {first:%Y-%m-%d %H:%M}, last {last:%Y-%m-%d %H:%M} UTC"


def _facts(bars: loading.Bars, fills: pd.DataFrame) -> list[tuple[str, str]]:
    first_open, last_close = float(bars.open[0]), float(bars.close[-1])
    change = (last_close / first_open - 1.0) * 100.0 if first_open else float("nan")
    signed = fills["signed"].to_numpy() if not fills.empty else np.empty(0)
    span = pd.Timedelta(int(bars.ts[-1] - bars.ts[0]), unit="ns")
    return [
        ("Bars", f"{len(bars):,}"),
        ("Open", style.fmt_number(first_open)),
        ("High", style.fmt_number(float(np.nanmax(bars.high)))),
        ("Low", style.fmt_number(float(np.nanmin(bars.low)))),
        ("Close", style.fmt_number(last_close)),
        ("Change", f"{style.fmt_number(change, sign=True)}%" if np.isfinite(change) else "—"),
        ("Fills", f"{len(fills):,}"),
        ("Bought", style.fmt_number(float(signed[signed > 0].sum()), decimals=0)),
        ("Sold", style.fmt_number(abs(float(signed[signed < 0].sum())), decimals=0)),
        ("Span", price.duration_text(span)),
    ]
