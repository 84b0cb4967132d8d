"""Running sums and maxima over a stretch of bars, grouped in contiguous runs (one per
symbol), each carried on from the previous stretch.

Every running sum adds its values one after the other from the carried value
(``((carry + v0) + v1) + ...``), so a run cut into stretches at other places gives the same
sums to the last bit: the account does not depend on how the engine batched the bars."""

from __future__ import annotations

import numpy as np


def changes(values: np.ndarray, *, at_end: bool = False) -> np.ndarray:
    """True where a value differs from the one before it (``at_end``: from the one after
    it); the first (last) value counts as a change. Without ``np.r_``, which costs tens of
    microseconds a call."""
    out = np.empty(values.size, dtype=bool)
    if values.size:
        edge, inner = (-1, slice(None, -1)) if at_end else (0, slice(1, None))
        out[edge] = True
        np.not_equal(values[1:], values[:-1], out=out[inner])
    return out


def stable_order(groups: np.ndarray, count: int) -> np.ndarray:
    """The indices that sort ``groups`` (integers below ``count``) stably: one pass per group
    for a few groups, else numpy's radix sort on 16-bit keys (or its merge sort)."""
    if count <= 16:
        return np.concatenate([np.flatnonzero(groups == i) for i in range(count)])
    return np.argsort(groups.astype(np.int16 if count < 32_767 else np.int64), kind="stable")


def starts_of(sorted_groups: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts."""
    return np.flatnonzero(changes(sorted_groups))


def ends_of(sorted_groups: np.ndarray) -> np.ndarray:
    """Where each run of equal values ends (its last element)."""
    return np.flatnonzero(changes(sorted_groups, at_end=True))


def lengths_of(starts: np.ndarray, n: int) -> np.ndarray:
    """The length of each run from its start (``n`` elements in all)."""
    out = np.empty(starts.size, dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=out[:-1])
    out[-1] = n - starts[-1]
    return out


def running_max(values: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(values)


def running_max_in_groups(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Running maxima restarting at each group (contiguous, of ``lengths``), exactly: groups
    of one length are rows of a rectangle, others are padded into one (or taken in turn)."""
    groups, width = lengths.size, int(lengths.max())
    if groups == 1:
        return running_max(values)
    if groups * width == values.size:
        return np.maximum.accumulate(values.reshape(groups, width), axis=1).ravel()
    if groups * width <= 4 * values.size:
        starts = np.cumsum(lengths) - lengths
        column = np.arange(values.size) - np.repeat(starts, lengths)
        row = np.repeat(np.arange(groups), lengths)
        grid = np.full((groups, width), -np.inf)
        grid[row, column] = values
        return np.maximum.accumulate(grid, axis=1)[row, column]
    return np.concatenate([running_max(part) for part in np.split(values, np.cumsum(lengths)[:-1])])


def running_from(carry: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sums of each row of ``values`` (2-D) started from that row's ``carry``.

    Row by row: numpy accumulates a contiguous row several times faster than along a 2-D
    array's last axis."""
    out = np.empty((values.shape[0], values.shape[1] + 1))
    out[:, 0] = carry
    out[:, 1:] = values
    for row in out:
        np.cumsum(row, out=row)
    return out[:, 1:]


def _dense_group_running(
    values: np.ndarray, carry: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """``group_running`` of one row, adding every element (zeros too)."""
    if starts.size == 1:
        return running_from(carry[:1], values[None, :])[0]
    width = int(lengths.max())
    if starts.size * width <= 4 * values.size:  # a padded rectangle: one vectorised scan
        column = np.arange(values.size) - np.repeat(starts, lengths)
        row = np.repeat(np.arange(starts.size), lengths)
        grid = np.zeros((starts.size, width))
        grid[row, column] = values
        return running_from(carry, grid)[row, column]
    out = np.empty_like(values)
    for i, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        out[start : start + length] = running_from(
            carry[i : i + 1], values[None, start : start + length]
        )[0]
    return out


def group_running(
    values: np.ndarray, carry: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Running sums of each row of ``values`` (k x n) restarting at each group (contiguous
    runs of columns), each from its ``carry`` (k x groups), in the order of additions of
    ``running_from``.

    Adding zero leaves a sum as it is, so only the columns with a nonzero value (the bars
    with fills, say) are added, in order; the sums are constant from one such column to the
    next (or from a group's start, at its carry), and are laid out a constant stretch at a
    time: the same numbers for a fraction of the work when the values are sparse."""
    k, n = values.shape
    nonzero = np.flatnonzero(values.any(axis=0))
    if nonzero.size == 0:  # nothing added: every sum stays at its carry, exactly
        return np.repeat(carry, lengths, axis=1)
    nz_group = np.searchsorted(starts, nonzero, side="right") - 1
    nz_starts = starts_of(nz_group)
    nz_lengths = lengths_of(nz_starts, nonzero.size)
    # The nonzero values' sums, every row's groups as groups of one flat row.
    m = nonzero.size
    sums = _dense_group_running(
        values[:, nonzero].ravel(),
        carry[:, nz_group[nz_starts]].ravel(),
        (nz_starts[None, :] + m * np.arange(k)[:, None]).ravel(),
        np.tile(nz_lengths, k),
    ).reshape(k, m)
    # Constant stretches: from each group's start (its carry) and from each nonzero column
    # (its sum, which wins over a group's start at the same column).
    at = np.concatenate((starts, nonzero))
    levels = np.concatenate((carry, sums), axis=1)
    order = np.lexsort((np.arange(at.size), at))  # by column, a group's start first
    at, levels = at[order], levels[:, order]
    last_at_column = changes(at, at_end=True)
    at, levels = at[last_at_column], levels[:, last_at_column]
    return np.repeat(levels, lengths_of(at, n), axis=1)


def shift_in_groups(values: np.ndarray, first: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each element's predecessor in its group; a group's first element gets ``first``."""
    shifted = np.empty_like(values)
    shifted[1:] = values[:-1]
    shifted[starts] = first
    return shifted
