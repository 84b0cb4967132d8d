"""The bars a study reads, kept warm in the worker process.

Every trial of a study reads the same bars. The first trial a worker runs reads them from the
security master (``SecmasterDatafeed``) and keeps their columns (numpy arrays, about 48 bytes
a bar); the next trials of that study in this process are served from memory by a
``CachedDatafeed``, which hands the engine fresh chunks over the same read-only columns.
The cache holds at most ``OST_STUDY_BAR_CACHE_BARS`` bars over all studies (least recently
used first out); data larger than that is read from the security master for every trial.
Each task checks once that the security master still holds as many bars for the range (one
count query), so an ingest between tasks is never hidden by the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from backtests.engine.chunks import BarChunk, SymbolBars
from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from backtests.feeds import SecmasterDatafeed
from backtests.services.backtest_spec import BacktestSpec
from backtests.services.evaluation import datafeed_build

BYTES_PER_BAR = 48  # ts, open, high, low, close, volume: six 8-byte columns


@dataclass(frozen=True)
class _Part:
    symbol: str
    columns: tuple[np.ndarray, ...]  # ts, open, high, low, close, volume


class CachedDatafeed:
    """A datafeed over chunks read once: each ``chunks()`` call builds new ``BarChunk``s
    over the same columns, so the engine's per-chunk caches never leak between trials."""

    def __init__(self, bar_period: BarPeriod, chunks: list[list[_Part]], total: int) -> None:
        self.bar_period = bar_period
        self._chunks = chunks
        self._total = total

    def total_bars(self) -> int:
        return self._total

    def chunks(self) -> Iterator[BarChunk]:
        for parts in self._chunks:
            yield BarChunk(
                self.bar_period, [SymbolBars(part.symbol, *part.columns) for part in parts]
            )

    def batches(self) -> Iterator[list[BarReceived]]:
        for chunk in self.chunks():
            yield chunk.bars()


def _read_all(feed: SecmasterDatafeed) -> CachedDatafeed:
    chunks: list[list[_Part]] = []
    total = 0
    for chunk in feed.chunks():
        parts = []
        for part in chunk.parts:
            columns = tuple(
                np.asarray(getattr(part, name))
                for name in ("ts", "open", "high", "low", "close", "volume")
            )
            for column in columns:
                column.setflags(write=False)
            parts.append(_Part(part.symbol, columns))
            total += len(part)
        chunks.append(parts)
    return CachedDatafeed(feed.bar_period, chunks, total)


def _key(spec: BacktestSpec) -> tuple:
    return (
        spec.publisher_id,
        spec.bar_period.rtype,
        tuple(sorted(spec.symbols)),
        spec.start_date,
        spec.end_date,
    )


class BarCache:
    """Least-recently-used cache of studies' bars, bounded in bars."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple, CachedDatafeed] = OrderedDict()
        self._lock = threading.Lock()
        self.reads = 0  # times the security master was read (for tests and benches)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def datafeed(self, spec: BacktestSpec, *, verify: bool = False):
        """The spec's bars: from memory when cached (after a count check if ``verify``),
        else read and, when they fit, kept. Returns a datafeed for ``spec_evaluate``."""
        key = _key(spec)
        limit = settings.OST_STUDY_BAR_CACHE_BARS
        source = datafeed_build(spec)
        with self._lock:
            cached = self._items.get(key)
            if cached is not None:
                self._items.move_to_end(key)
        if cached is not None and verify and source.total_bars() != cached.total_bars():
            cached = None
        if cached is not None:
            return cached
        if limit <= 0 or source.total_bars() > limit:
            return source  # too large to keep: every trial reads the security master
        self.reads += 1
        fresh = _read_all(source)
        with self._lock:
            self._items[key] = fresh
            self._items.move_to_end(key)
            while sum(item.total_bars() for item in self._items.values()) > limit:
                self._items.popitem(last=False)
        return fresh


bar_cache = BarCache()
