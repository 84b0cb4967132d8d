"""The look shared by every chart: palette, sizes, axis styling, PNG export.

Charts are drawn on ``matplotlib.figure.Figure`` with the Agg canvas directly, never through
``pyplot`` or global ``rcParams``, so concurrent requests in threads cannot disturb each other.
Every style choice is passed explicitly to the artists from here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator
from matplotlib.transforms import offset_copy

# --- Sizes --------------------------------------------------------------------------------
DPI = 100
WIDTH_PX = 1200
HEIGHT_PX = 700
PANEL_HEIGHT_PX = 150  # each indicator panel of the trade chart adds this much height

FONT_FAMILY = "DejaVu Sans"
TITLE_SIZE = 14
LABEL_SIZE = 10
TICK_SIZE = 9
LEGEND_SIZE = 9

# --- Palette (GitHub-like light theme) ------------------------------------------------------
BACKGROUND = "#ffffff"
PANEL_BACKGROUND = "#fbfcfd"
GRID = "#e6e9ee"
SPINE = "#c9ced6"
TEXT = "#1f2328"
MUTED = "#656d76"
ZERO_LINE = "#8c959f"

UP = "#1a7f37"  # rising bars, buys, winners, gains
DOWN = "#cf222e"  # falling bars, sells, losers, losses
UP_LIGHT = "#4ac26b"
DOWN_LIGHT = "#ff8182"
NEUTRAL = "#0969da"  # net P&L, totals
GROSS = "#8250df"  # gross P&L
TRADE_SPAN = "#fff5d9"  # background of the holding period
BAND = "#54aeff"  # unrealised P&L band

# Colours for series without a colour of their own (indicators, per-symbol equity lines).
SERIES_CYCLE = (
    "#0969da",
    "#bf3989",
    "#9a6700",
    "#1b7c83",
    "#8250df",
    "#bc4c00",
    "#57606a",
    "#2da44e",
)


def series_color(index: int) -> str:
    return SERIES_CYCLE[index % len(SERIES_CYCLE)]


# --- Figures ------------------------------------------------------------------------------
def new_figure(*, width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> Figure:
    """A blank figure of exactly ``width_px`` x ``height_px`` pixels with its own Agg canvas."""
    fig = Figure(
        figsize=(width_px / DPI, height_px / DPI),
        dpi=DPI,
        facecolor=BACKGROUND,
    )
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes at its own size (no tight bbox, so the size is exact)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor=BACKGROUND)
    return buf.getvalue()


# Fixed margins in pixels (no layout engine: one draw pass, and tick labels are bounded by
# the compact formatter below, so they always fit).
HEADER_PX = 62  # title and subtitle band at the top of every chart
MARGIN_LEFT_PX = 96  # y label and tick labels
MARGIN_RIGHT_PX = 14
MARGIN_BOTTOM_PX = 54  # x tick labels and x label
PANEL_GAP_PX = 12
SIDE_WIDTH_PX = 200
SIDE_GAP_PX = 26


def set_title(fig: Figure, title: str, subtitle: str | None = None) -> None:
    """Title and muted subtitle in a band of their own above the plots (never over them)."""
    height = fig.get_figheight() * DPI
    left = 12 / (fig.get_figwidth() * DPI)
    fig.text(
        left,
        1 - 10 / height,
        title,
        ha="left",
        va="top",
        fontsize=TITLE_SIZE,
        fontweight="bold",
        color=TEXT,
        fontfamily=FONT_FAMILY,
    )
    if subtitle:
        fig.text(
            left,
            1 - 36 / height,
            subtitle,
            ha="left",
            va="top",
            fontsize=LABEL_SIZE,
            color=MUTED,
            fontfamily=FONT_FAMILY,
        )


def badge(fig: Figure, text: str, color: str) -> None:
    """A coloured label at the top right of the header (e.g. a trade's result)."""
    height = fig.get_figheight() * DPI
    right = 1 - 14 / (fig.get_figwidth() * DPI)
    fig.text(
        right,
        1 - 14 / height,
        text,
        ha="right",
        va="top",
        fontsize=13,
        fontweight="bold",
        color="white",
        fontfamily=FONT_FAMILY,
        bbox={"boxstyle": "round,pad=0.45", "facecolor": color, "edgecolor": color},
    )


def style_axes(ax: Axes, *, ylabel: str | None = None, money: bool = False) -> None:
    """Light panel, thin grid, no top/right spines, readable ticks."""
    ax.set_facecolor(PANEL_BACKGROUND)
    ax.grid(True, color=GRID, linewidth=0.7)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(SPINE)
        ax.spines[side].set_linewidth(0.8)
    ax.tick_params(labelsize=TICK_SIZE, colors=MUTED, length=3, width=0.6)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE, color=TEXT, fontfamily=FONT_FAMILY)
    ax.yaxis.set_major_formatter(ThousandsFormatter(money=money))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))


def zero_line(ax: Axes) -> None:
    ax.axhline(0, color=ZERO_LINE, linewidth=0.8, zorder=1)


def main_and_side(
    fig: Figure, *, rows: int = 1, height_ratios: Sequence[float] | None = None
) -> tuple[list[Axes], Axes]:
    """Axes for the chart (``rows`` stacked, shared x) and a narrow side column for the key
    figures and the legend, so neither ever covers data."""
    width, height = fig.get_figwidth() * DPI, fig.get_figheight() * DPI
    side_left = width - MARGIN_RIGHT_PX - SIDE_WIDTH_PX
    plot_height = height - HEADER_PX - MARGIN_BOTTOM_PX
    mean_axes = (plot_height - PANEL_GAP_PX * (rows - 1)) / rows
    grid = fig.add_gridspec(
        rows,
        1,
        height_ratios=height_ratios,
        left=MARGIN_LEFT_PX / width,
        right=(side_left - SIDE_GAP_PX) / width,
        top=1 - HEADER_PX / height,
        bottom=MARGIN_BOTTOM_PX / height,
        hspace=PANEL_GAP_PX / mean_axes,
    )
    axes = [fig.add_subplot(grid[0, 0])]
    for r in range(1, rows):
        axes.append(fig.add_subplot(grid[r, 0], sharex=axes[0]))
    side = fig.add_axes(
        (side_left / width, MARGIN_BOTTOM_PX / height, SIDE_WIDTH_PX / width, plot_height / height)
    )
    side.set_axis_off()
    return axes, side


SIDE_ROW_PT = 16.5  # line pitch of the side panel's key figures, in points


def side_panel(
    side: Axes,
    lines: Sequence[tuple[str, str]],
    handles: Sequence | None = None,
    *,
    heading: str = "Summary",
) -> None:
    """Key figures (label left, value right) at the top of ``side``, the legend below them.

    Rows sit at fixed offsets in points from the top, so the pitch is the same whatever the
    figure's height.
    """

    def row(x: float, text: str, offset_pt: float, **kwargs) -> None:
        side.annotate(
            text,
            xy=(x, 1.0),
            xycoords="axes fraction",
            xytext=(0, -offset_pt),
            textcoords="offset points",
            va="top",
            fontfamily=FONT_FAMILY,
            **kwargs,
        )

    row(0.02, heading, 0, ha="left", fontsize=LABEL_SIZE + 1, fontweight="bold", color=TEXT)
    offset = SIDE_ROW_PT * 1.5
    for label, value in lines:
        row(0.02, label, offset, ha="left", fontsize=LEGEND_SIZE, color=MUTED)
        row(0.98, value, offset, ha="right", fontsize=LEGEND_SIZE, color=TEXT, fontweight="bold")
        offset += SIDE_ROW_PT
    if handles:
        anchor = offset_copy(
            side.transAxes, fig=side.figure, y=-(offset + SIDE_ROW_PT * 0.6), units="points"
        )
        leg = side.legend(
            handles=list(handles),
            loc="upper left",
            bbox_to_anchor=(0.0, 1.0),
            bbox_transform=anchor,
            fontsize=LEGEND_SIZE,
            frameon=False,
            handlelength=1.8,
            borderaxespad=0.0,
            borderpad=0.0,
        )
        for text in leg.get_texts():
            text.set_color(TEXT)


# --- Number formatting --------------------------------------------------------------------
def fmt_number(value: float, *, decimals: int = 2, sign: bool = False) -> str:
    """Thousands separators, fixed decimals; NaN as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+,.{decimals}f}" if sign else f"{value:,.{decimals}f}"


def fmt_money(value: float, *, sign: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    prefix = (
        ("+" if value > 0 else "−" if value < 0 else "") if sign else ("−" if value < 0 else "")
    )
    return f"{prefix}${abs(value):,.2f}"


def _decimals_for(step: float) -> int:
    """Fewest decimals that write every multiple of ``step`` exactly (0.25 -> 2, 5 -> 0)."""
    if not math.isfinite(step) or step <= 0:
        return 2
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    return decimals


class ThousandsFormatter(Formatter):
    """Tick labels with thousands separators; decimals follow the tick step; optional $."""

    def __init__(self, *, money: bool = False) -> None:
        self.money = money
        self.step = 1.0
        self.biggest = 0.0

    def set_locs(self, locs) -> None:
        values = np.asarray(locs, dtype=float)
        diffs = np.diff(values)
        diffs = diffs[diffs > 0]
        self.step = float(diffs.min()) if diffs.size else 1.0
        self.biggest = float(np.abs(values).max()) if values.size else 0.0

    def __call__(self, x: float, pos: int | None = None) -> str:
        biggest = max(self.biggest, abs(x))
        scale, suffix = (1e6, "M") if biggest >= 1e6 else (1e3, "k") if biggest >= 1e5 else (1, "")
        decimals = _decimals_for(self.step / scale)
        text = f"{abs(x) / scale:,.{decimals}f}"
        if text.strip("0.,") == "":
            return "$0" if self.money else "0"
        sign = "−" if x < 0 else ""
        return f"{sign}${text}{suffix}" if self.money else f"{sign}{text}{suffix}"


# --- Messages -----------------------------------------------------------------------------
def message_png(
    title: str, message: str, *, width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX
) -> bytes:
    """A chart-sized PNG that says why there is nothing to draw (never an empty body)."""
    fig = new_figure(width_px=width_px, height_px=height_px)
    set_title(fig, title)
    ax = fig.add_axes(
        (12 / width_px, 12 / height_px, 1 - 24 / width_px, 1 - (HEADER_PX + 12) / height_px)
    )
    style_axes(ax)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=18,
        color=MUTED,
        fontfamily=FONT_FAMILY,
    )
    return figure_png(fig)


# --- Time axis ------------------------------------------------------------------------------
NS_PER_DAY = 86_400_000_000_000


def index_time_axis(ax: Axes, ts_ns: np.ndarray, *, nbins: int = 8) -> str:
    """Label an axis whose x values are bar indices with the bars' UTC times.

    Plotting against the bar index leaves no gaps for nights and weekends. Returns the axis
    label to use ("UTC" plus the date when every bar falls on one day).
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    n = int(ts.size)
    if n == 0:
        return "UTC"
    days = ts // NS_PER_DAY
    one_day = bool(days[0] == days[-1])
    intraday = n > 1 and bool(np.median(np.diff(ts)) < NS_PER_DAY)
    pattern = "%H:%M" if one_day else ("%b %d %H:%M" if intraday else "%Y-%m-%d")
    stamps = pd_utc(ts)

    def fmt(x: float, _pos: int | None) -> str:
        i = int(round(x))
        if i < 0 or i >= n or abs(x - i) > 1e-6:
            return ""
        return stamps[i].strftime(pattern)

    ax.xaxis.set_major_locator(MaxNLocator(nbins=nbins, integer=True, min_n_ticks=2))
    ax.xaxis.set_major_formatter(FuncFormatter(fmt))
    if one_day and intraday:
        return f"UTC · {stamps[0].strftime('%a %Y-%m-%d')}"
    return "UTC"


def pd_utc(ts_ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ts_ns, dtype=np.int64), unit="ns", utc=True)
