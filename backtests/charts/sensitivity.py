"""The sensitivity report of a run as a chart: net P&L and Sharpe ratio for each cell of
slippage (columns) x volume participation cap (rows), as two coloured grids."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.colors import TwoSlopeNorm

from backtests.charts import style

WIDTH_PX, HEIGHT_PX = 1200, 560
TITLE = "Sensitivity to costs"
NO_SHARPE = "— no Sharpe ratio: too few days of returns"


def _grid(report: dict[str, Any], key: str) -> np.ndarray:
    ticks, caps = report["slippage_ticks"], report["participation_caps"]
    values = np.full((len(caps), len(ticks)), np.nan)
    for cell in report.get("cells") or []:
        if cell["participation_cap"] in caps and cell["slippage_ticks"] in ticks:
            value = cell.get(key)
            row, col = caps.index(cell["participation_cap"]), ticks.index(cell["slippage_ticks"])
            values[row, col] = np.nan if value is None else float(value)
    return values


def _percent(cap: float) -> str:
    return f"{cap * 100:g} %"


def _panel(fig, box, report: dict[str, Any], key: str, title: str, money: bool) -> None:
    ax = fig.add_axes(box)
    values = _grid(report, key)
    finite = values[np.isfinite(values)]
    span = float(np.abs(finite).max()) if finite.size else 1.0
    span = span if span > 0 else 1.0
    norm = TwoSlopeNorm(vmin=-span, vcenter=0.0, vmax=span)
    shown = np.where(np.isfinite(values), values, 0.0)
    ax.imshow(shown, cmap="RdYlGn", norm=norm, aspect="auto", alpha=0.85)
    for (row, col), value in np.ndenumerate(values):
        if math.isnan(value):
            text = "—" if report.get("status") == "completed" else "…"
        else:
            text = style.fmt_money(value) if money else style.fmt_number(value, sign=True)
        ax.text(col, row, text, ha="center", va="center", fontsize=12.5, color=style.TEXT,
                fontfamily=style.FONT_FAMILY, fontweight="bold")  # fmt: skip
    ticks, caps = report["slippage_ticks"], report["participation_caps"]
    ax.set_xticks(range(len(ticks)), [f"{t:g} tick" + ("" if t == 1 else "s") for t in ticks])
    ax.set_yticks(range(len(caps)), [_percent(c) for c in caps])
    ax.set_xlabel("slippage", fontsize=style.LABEL_SIZE, color=style.MUTED)
    ax.set_ylabel("at most this share of a bar's volume", fontsize=style.LABEL_SIZE,
                  color=style.MUTED)  # fmt: skip
    ax.set_title(title, fontsize=style.LABEL_SIZE + 2, color=style.TEXT, loc="left")
    ax.tick_params(labelsize=style.TICK_SIZE + 1, colors=style.TEXT, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def sensitivity_png(report: dict[str, Any]) -> bytes:
    """Two grids (net P&L, Sharpe) of a report as ``sensitivity_get`` answers it; a report
    still being computed shows the cells done so far."""
    fig = style.new_figure(width_px=WIDTH_PX, height_px=HEIGHT_PX)
    done = len(report.get("cells") or [])
    status = report.get("status", "")
    costs = f"fill model {report.get('fill_model', 'classic')}"
    if report.get("latency_ms"):
        costs += f", latency {report['latency_ms']:g} ms"
    if report.get("tick_size"):
        costs += f", tick {report['tick_size']:g}"
    subtitle = f"run {report.get('run_id', '')} · {costs} · {status}" + (
        "" if status == "completed" else f" ({done} of 9 cells)"
    )
    style.set_title(fig, TITLE, subtitle)
    top = 1 - (style.HEADER_PX + 34) / HEIGHT_PX
    height = top - 90 / HEIGHT_PX
    _panel(fig, (0.09, 90 / HEIGHT_PX, 0.39, height), report, "net_pnl", "Net P&L", True)
    _panel(fig, (0.6, 90 / HEIGHT_PX, 0.38, height), report, "sharpe", "Sharpe ratio", False)
    cells = report.get("cells") or []
    if status == "completed" and cells and all(c.get("sharpe") is None for c in cells):
        fig.text(0.6, 12 / HEIGHT_PX, NO_SHARPE, fontsize=style.LABEL_SIZE, color=style.MUTED)
    return style.figure_png(fig)
