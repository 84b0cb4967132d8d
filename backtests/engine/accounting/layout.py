"""A stretch of bars grouped by symbol, each symbol's bars in time order: the per-symbol
operations of the account (running sums and maxima, a bar's predecessor, per-symbol
reductions) and the way back to delivery order.

Bars of several symbols usually arrive in a fixed cycle (bar i is the symbol ``g[i % m]``:
every timestamp has each symbol, in the same order). Then the stretch is a grid of rows of one
cycle each, every symbol a column, and nothing is moved: ``CycleLayout``. Otherwise the bars
are sorted by symbol (stably, so each symbol keeps its time order): ``SortedLayout``.

Both add and compare in the same order (each symbol's values in time order, from its carried
value), so a stretch gives the same bits whichever layout it gets."""

from __future__ import annotations

import numpy as np

from backtests.engine.accounting.running import (
    group_running,
    lengths_of,
    running_max_in_groups,
    shift_in_groups,
    stable_order,
    starts_of,
)

_MAX_CYCLE = 4_096  # longer cycles are not worth checking; they are sorted


def symbol_layout(g: np.ndarray, symbols: int) -> CycleLayout | SortedLayout:
    """The layout of a stretch whose bar i is of symbol index ``g[i]`` (below ``symbols``)."""
    cycle = _cycle(g)
    return CycleLayout(g, cycle) if cycle else SortedLayout(g, symbols)


class SortedLayout:
    """Bars sorted by symbol: each symbol a contiguous run (``starts``, ``lengths``)."""

    def __init__(self, g: np.ndarray, symbols: int) -> None:
        self.n = g.size
        if bool((g == g[0]).all()):  # one symbol: already in its time order
            self._order = None
            self.starts = np.zeros(1, dtype=np.int64)
        else:
            self._order = stable_order(g, symbols)
            self.starts = starts_of(g[self._order])
        self.lengths = lengths_of(self.starts, self.n)
        self._ends = self.starts + self.lengths - 1
        self.first = self.by_symbol(g)[self.starts]  # each group's symbol index

    def by_symbol(self, values: np.ndarray) -> np.ndarray:
        return values if self._order is None else values[self._order]

    def in_delivery_order(self, values: np.ndarray) -> np.ndarray:
        """Values of the layout (1-D, or k rows) in delivery order."""
        if self._order is None:
            return values
        out = np.empty_like(values)
        out[..., self._order] = values
        return out

    def running(self, values: np.ndarray, carry: np.ndarray) -> np.ndarray:
        """Running sums of each row (k x n) per symbol, from its carry (k x symbols)."""
        return group_running(values, carry, self.starts, self.lengths)

    def running_max(self, values: np.ndarray, carry: np.ndarray) -> np.ndarray:
        return np.maximum(
            running_max_in_groups(values, self.lengths), np.repeat(carry, self.lengths)
        )

    def previous(self, values: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Each bar's predecessor of its symbol; ``first`` (per symbol) before the first."""
        return shift_in_groups(values, first, self.starts)

    def times(self, values: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Each bar's value times its symbol's factor."""
        return values * np.repeat(factors, self.lengths)

    def first_of(self, values: np.ndarray) -> np.ndarray:
        return values[self.starts]

    def last_of(self, values: np.ndarray) -> np.ndarray:
        return values[self._ends]

    def max_of(self, values: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(values, self.starts)

    def count_of(self, flags: np.ndarray) -> np.ndarray:
        return np.add.reduceat(flags.astype(np.int64), self.starts)


class CycleLayout:
    """Bars in a fixed cycle of ``m`` distinct symbols: a grid of ``rows`` rows of one cycle
    each (the last one cut short, its missing cells padded), each symbol a column. Values of
    the layout are the grid's cells row by row: delivery order, then the padding."""

    def __init__(self, g: np.ndarray, cycle: int) -> None:
        self.n = n = g.size
        self.m = m = cycle
        self.rows = rows = -(-n // m)
        self._tail = n - (rows - 1) * m  # cells of the last row that hold bars (1..m)
        self.first = g[:m]
        self.lengths = np.full(m, rows, dtype=np.int64)
        self.lengths[self._tail :] -= 1
        # The cell of each symbol's last bar.
        self._ends = np.arange(m) + m * (rows - 1)
        self._ends[self._tail :] -= m

    def by_symbol(self, values: np.ndarray) -> np.ndarray:
        if self._tail == self.m:
            return values
        out = np.zeros(self.rows * self.m, dtype=values.dtype)
        out[: self.n] = values
        return out

    def in_delivery_order(self, values: np.ndarray) -> np.ndarray:
        return values[..., : self.n]

    def _grid(self, values: np.ndarray) -> np.ndarray:
        return values.reshape(self.rows, self.m)

    def running(self, values: np.ndarray, carry: np.ndarray) -> np.ndarray:
        out = np.empty((values.shape[0], self.rows + 1, self.m))
        out[:, 0] = carry
        out[:, 1:] = values.reshape(-1, self.rows, self.m)
        np.cumsum(out, axis=1, out=out)  # down each column: one symbol in time order
        return out[:, 1:].reshape(values.shape)

    def running_max(self, values: np.ndarray, carry: np.ndarray) -> np.ndarray:
        out = np.empty((self.rows + 1, self.m))
        out[0] = carry
        out[1:] = self._grid(values)
        np.maximum.accumulate(out, axis=0, out=out)
        return out[1:].ravel()

    def previous(self, values: np.ndarray, first: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[: self.m] = first
        out[self.m :] = values[: -self.m]
        return out

    def times(self, values: np.ndarray, factors: np.ndarray) -> np.ndarray:
        return (self._grid(values) * factors).ravel()

    def first_of(self, values: np.ndarray) -> np.ndarray:
        return values[: self.m]

    def last_of(self, values: np.ndarray) -> np.ndarray:
        return values[self._ends]

    def max_of(self, values: np.ndarray) -> np.ndarray:
        grid = self._grid(values)
        out = grid[:-1].max(axis=0)
        np.maximum(out[: self._tail], grid[-1, : self._tail], out=out[: self._tail])
        return out

    def count_of(self, flags: np.ndarray) -> np.ndarray:
        grid = self._grid(flags)
        out = np.count_nonzero(grid[:-1], axis=0)
        out[: self._tail] += grid[-1, : self._tail]
        return out


def _cycle(g: np.ndarray) -> int:
    """The length of the cycle of distinct symbols the bars follow (bar i is the symbol
    ``g[i % cycle]``), or 0 if they do not."""
    again = g[1 : _MAX_CYCLE + 1] == g[0]
    if not again.any():
        return 0
    cycle = int(again.argmax()) + 1
    if cycle == 1 or len(set(g[:cycle].tolist())) != cycle:
        return 0  # one symbol (sorted already), or not a cycle of distinct symbols
    return cycle if bool((g[cycle:] == g[:-cycle]).all()) else 0
