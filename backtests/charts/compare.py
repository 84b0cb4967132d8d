"""Several runs' equity overlaid: % return from each run's capital (so runs of different
capitals compare) and the drawdown from each run's peak in %, on one time axis.

The curves come from ``backtests.comparison.selectors.compare_curves`` (the runs' stored
series, downsampled); the side panel names each run with its total return and deepest
drawdown as drawn.
"""

from __future__ import annotations

import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.lines import Line2D

from backtests.charts import style

TITLE = "Runs compared"
SUBTITLE = "Equity as % return from each run's capital; drawdown from each run's peak"
NO_BARS = "None of these runs has equity to draw (no bars)"
LABEL_CHARS = 16  # with " (run id)" the legend stays inside the side panel


def _label(name: str, run_id: str) -> str:
    text = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
    return f"{text} ({run_id[:8]})"


def compare_png(curves: list) -> bytes:
    """PNG of ``RunCurve``s (see ``backtests.comparison.selectors``)."""
    drawn = [c for c in curves if c.curve.ts.size]
    if not drawn:
        return style.message_png(TITLE, NO_BARS)
    fig = style.new_figure()
    (ax, ax_dd), side = style.main_and_side(fig, rows=2, height_ratios=[3, 1.4])
    style.style_axes(ax, ylabel="Return %")
    style.style_axes(ax_dd, ylabel="Drawdown %")
    style.zero_line(ax)
    handles: list = []
    lines: list[tuple[str, str]] = []
    for index, item in enumerate(curves):
        color = style.series_color(index)
        curve = item.curve
        label = _label(item.run.name or item.run.run_id, item.run.run_id)
        if curve.ts.size == 0:
            handles.append(Line2D([], [], color=color, linestyle=":", label=f"{label}: no bars"))
            continue
        x = curve.ts.astype("datetime64[ns]")
        ax.plot(x, curve.return_pct, color=color, linewidth=1.6)
        ax_dd.plot(x, curve.drawdown_pct, color=color, linewidth=1.0)
        handles.append(Line2D([], [], color=color, linewidth=2, label=label))
        lines.append(
            (
                f"#{index + 1}",
                f"{curve.return_pct[-1]:+.2f} % · dd {float(np.min(curve.drawdown_pct)):.2f} %",
            )
        )
    deepest = max(float(np.abs(c.curve.drawdown_pct).max()) for c in drawn)
    floor = max(deepest, 0.01)  # a run that never fell still gets an axis
    ax_dd.set_ylim(-floor * 1.1, 0.0)
    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax_dd.xaxis.set_major_locator(locator)
    ax_dd.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelbottom=False)
    ax_dd.set_xlabel("UTC", fontsize=style.LABEL_SIZE, color=style.MUTED)
    style.side_panel(side, lines, handles, heading="Return · max drawdown")
    style.set_title(fig, TITLE, SUBTITLE)
    return style.figure_png(fig)
