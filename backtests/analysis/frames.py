"""The column layout of the frames the analysis computes on, shared by loaders and tests."""

from __future__ import annotations

import pandas as pd

FILL_COLUMNS = ("ts_event_ns", "symbol", "side", "quantity_filled", "fill_price", "commission")
BAR_COLUMNS = ("ts_event_ns", "symbol", "high", "low")


def empty_fills_frame() -> pd.DataFrame:
    """A fills frame with no rows and the columns ``trades_from_frames`` reads."""
    return pd.DataFrame(
        {
            "ts_event_ns": pd.Series(dtype="int64"),
            "symbol": pd.Series(dtype="object"),
            "side": pd.Series(dtype="object"),
            "quantity_filled": pd.Series(dtype="float64"),
            "fill_price": pd.Series(dtype="float64"),
            "commission": pd.Series(dtype="float64"),
        }
    )


def empty_bars_frame() -> pd.DataFrame:
    """A bars frame with no rows and the columns ``trades_from_frames`` reads."""
    return pd.DataFrame(
        {
            "ts_event_ns": pd.Series(dtype="int64"),
            "symbol": pd.Series(dtype="object"),
            "high": pd.Series(dtype="float64"),
            "low": pd.Series(dtype="float64"),
        }
    )
