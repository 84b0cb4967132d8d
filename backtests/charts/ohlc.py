"""Price bars drawn as a handful of collections (never one artist per bar), so thousands of
bars render in milliseconds."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba

from backtests.charts import style

CANDLE_LIMIT = 320  # above this many bars, candles get too thin: draw OHLC bars instead
BODY_WIDTH = 0.62
TICK_WIDTH = 0.32


def draw_price_bars(
    ax: Axes, x: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray
) -> None:
    """Candlesticks for a few hundred bars, OHLC bars (open tick left, close right) beyond."""
    if x.size == 0:
        return
    rising = c >= o
    colors = np.where(rising[:, None], to_rgba(style.UP), to_rgba(style.DOWN))
    if x.size <= CANDLE_LIMIT:
        _candles(ax, x, o, h, lo, c, colors)
    else:
        _ohlc_bars(ax, x, o, h, lo, c, colors)
    pad = (np.nanmax(h) - np.nanmin(lo)) * 0.06 or abs(np.nanmax(h)) * 0.01 or 1.0
    ax.set_ylim(np.nanmin(lo) - pad, np.nanmax(h) + pad)
    ax.set_xlim(x[0] - 0.8, x[-1] + 0.8)


def _candles(ax, x, o, h, lo, c, colors) -> None:
    wicks = np.stack([np.column_stack([x, lo]), np.column_stack([x, h])], axis=1)
    ax.add_collection(LineCollection(wicks, colors=colors, linewidths=0.9, zorder=2))
    bottom, top = np.minimum(o, c), np.maximum(o, c)
    half = BODY_WIDTH / 2
    bodies = np.stack(
        [
            np.column_stack([x - half, bottom]),
            np.column_stack([x - half, top]),
            np.column_stack([x + half, top]),
            np.column_stack([x + half, bottom]),
        ],
        axis=1,
    )
    faces = colors.copy()
    faces[:, 3] = 0.85
    ax.add_collection(
        PolyCollection(bodies, facecolors=faces, edgecolors=colors, linewidths=0.8, zorder=3)
    )


def _ohlc_bars(ax, x, o, h, lo, c, colors) -> None:
    ranges = np.stack([np.column_stack([x, lo]), np.column_stack([x, h])], axis=1)
    opens = np.stack([np.column_stack([x - TICK_WIDTH, o]), np.column_stack([x, o])], axis=1)
    closes = np.stack([np.column_stack([x, c]), np.column_stack([x + TICK_WIDTH, c])], axis=1)
    segments = np.concatenate([ranges, opens, closes])
    ax.add_collection(
        LineCollection(segments, colors=np.concatenate([colors] * 3), linewidths=0.8, zorder=2)
    )
