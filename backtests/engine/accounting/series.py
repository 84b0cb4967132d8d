"""The equity series kept in bounded memory: buckets of consecutive timestamps."""

from __future__ import annotations

import numpy as np

from backtests.engine.accounting.results import EquityBuckets


class Downsampler:
    """Buckets of ``size`` consecutive points; when there are more than 2 × ``max_points``
    buckets, neighbours merge in pairs and ``size`` doubles, so memory stays bounded. Each
    bucket keeps its last timestamp, last, lowest and highest value, and the last benchmark
    and gross exposure."""

    def __init__(self, max_points: int) -> None:
        self.max_points = max(1, int(max_points))
        self.size = 1
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.count = 0
        self.carry: tuple[np.ndarray, ...] | None = None  # points of an unfinished bucket

    def add(self, ts, value, benchmark, gross) -> None:
        points = (ts, value, value, value, benchmark, gross)
        if self.carry is not None:
            points = tuple(np.concatenate((c, p)) for c, p in zip(self.carry, points, strict=True))
            self.carry = None
        n = points[0].size
        whole = n - n % self.size
        if whole < n:
            self.carry = tuple(p[whole:] for p in points)
        if whole:
            buckets = _merge_buckets(tuple(p[:whole] for p in points), self.size)
            self.parts.append(buckets)
            self.count += buckets[0].size
        if self.count > 2 * self.max_points:
            joined = self._joined()
            even = self.count - self.count % 2
            merged = _merge_buckets(tuple(c[:even] for c in joined), 2)
            if even < self.count:  # an odd last bucket stays as it is
                merged = tuple(
                    np.concatenate((m, c[even:])) for m, c in zip(merged, joined, strict=True)
                )
            self.parts = [merged]
            self.count = merged[0].size
            self.size *= 2

    def _joined(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return tuple(np.empty(0) for _ in range(6))
        return tuple(np.concatenate(cols) for cols in zip(*self.parts, strict=True))

    def result(self) -> EquityBuckets:
        joined = self._joined()
        if self.carry is not None and self.carry[0].size:
            tail = _merge_buckets(self.carry, self.carry[0].size)
            joined = tuple(np.concatenate((j, t)) for j, t in zip(joined, tail, strict=True))
        ts, last, low, high, bench, gross = joined
        return EquityBuckets(
            ts=ts.astype(np.int64),
            last=last.astype(float),
            low=low.astype(float),
            high=high.astype(float),
            benchmark=bench.astype(float),
            gross=gross.astype(float),
            points_per_bucket=self.size,
        )


def _merge_buckets(buckets: tuple[np.ndarray, ...], k: int) -> tuple[np.ndarray, ...]:
    """Every ``k`` consecutive buckets as one (the length must be a multiple of ``k``)."""
    if k == 1:
        return buckets
    ts, last, low, high, bench, gross = (b.reshape(-1, k) for b in buckets)
    return (ts[:, -1], last[:, -1], low.min(axis=1), high.max(axis=1), bench[:, -1], gross[:, -1])
