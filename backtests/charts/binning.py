"""Trades in slots: a chart of many round trips draws at most ``MAX_TRADE_SLOTS`` slots, each
holding an equal run of consecutive trades (in exit order), so a run with hundreds of
thousands of trades draws as fast, and in as little memory, as one with a few thousand."""

from __future__ import annotations

import numpy as np

MAX_TRADE_SLOTS = 2_000


def slot_starts(n: int, limit: int = MAX_TRADE_SLOTS) -> np.ndarray:
    """Index of each slot's first trade: one trade a slot up to ``limit`` trades."""
    if n <= limit:
        return np.arange(n)
    size = -(-n // limit)  # ceil
    return np.arange(0, n, size)


def slot_reduce(values: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """``values`` reduced per slot: "min", "max", "sum", "mean" or "last"."""
    if how == "last":
        ends = np.r_[starts[1:], values.size] - 1
        return values[ends]
    if how == "min":
        return np.minimum.reduceat(values, starts)
    if how == "max":
        return np.maximum.reduceat(values, starts)
    total = np.add.reduceat(values, starts)
    if how == "sum":
        return total
    return total / np.diff(np.r_[starts, values.size])
