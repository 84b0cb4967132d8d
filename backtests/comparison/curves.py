"""A stored equity series as comparable curves: % return from the run's capital and the
drawdown from the running peak in %, downsampled to at most a number of points.

The stored series (``backtests.results``) keeps per bucket the last, lowest and highest
equity. The return curve takes each point's last equity; the drawdown takes the lowest
equity against the peak of the highest ones (the peak starts at the capital), so no dip
disappears. Downsampling keeps each group's last return and its deepest drawdown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DECIMALS = 4


@dataclass(frozen=True)
class Curve:
    """Columns of one run's curve: UTC ns, % return, drawdown % (<= 0)."""

    ts: np.ndarray
    return_pct: np.ndarray
    drawdown_pct: np.ndarray

    def as_json(self) -> dict[str, list]:
        return {
            "ts": self.ts.astype(np.int64).tolist(),
            "return_pct": np.round(self.return_pct, DECIMALS).tolist(),
            "drawdown_pct": np.round(self.drawdown_pct, DECIMALS).tolist(),
        }


def curve_from_series(series: dict[str, np.ndarray], *, capital: float, points: int) -> Curve:
    """The return and drawdown curve of a stored series (``ts``, ``last``, ``low``, ``high``)
    with at most ``points`` points."""
    ts = np.asarray(series["ts"], dtype=np.int64)
    if ts.size == 0 or capital <= 0:
        empty = np.empty(0)
        return Curve(np.empty(0, dtype=np.int64), empty, empty)
    last = np.asarray(series["last"], dtype=float)
    low = np.asarray(series.get("low", last), dtype=float)
    high = np.asarray(series.get("high", last), dtype=float)
    returns = (last - capital) / capital * 100.0
    peak = np.maximum(np.maximum.accumulate(high), capital)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, np.minimum(low - peak, 0.0) / peak * 100.0, 0.0)
    if ts.size <= points:
        return Curve(ts, returns, drawdown)
    edges = np.floor(np.arange(points + 1) * (ts.size / points)).astype(np.int64)
    ends = edges[1:] - 1
    return Curve(ts[ends], returns[ends], np.minimum.reduceat(drawdown, edges[:-1]))
