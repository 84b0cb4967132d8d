"""In-memory datafeed and recorder: for tests, notebooks and quick experiments."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from backtests.engine.events import AnyEvent, BarReceived


class ListDatafeed:
    """Serves a list of bars (already in time order) in batches of ``batch_size``."""

    def __init__(self, bars: Sequence[BarReceived], batch_size: int = 10_000) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._bars = list(bars)
        self._batch_size = batch_size

    def total_bars(self) -> int:
        return len(self._bars)

    def batches(self) -> Iterator[Sequence[BarReceived]]:
        size = self._batch_size
        for start in range(0, len(self._bars), size):
            yield self._bars[start : start + size]


class ListFinerBars:
    """Serves finer bars from a list (any symbols, any order), for the intrabar fill model;
    counts the calls in ``asked``."""

    def __init__(self, bars: Sequence[BarReceived]) -> None:
        self._by_symbol: dict[str, list[BarReceived]] = {}
        for bar in sorted(bars, key=lambda b: (b[2], b[0])):
            self._by_symbol.setdefault(bar[2], []).append(bar)
        self._times = {s: [b[0] for b in bars] for s, bars in self._by_symbol.items()}
        self.asked: list[tuple[str, int, int]] = []

    def finer_bars(self, symbol: str, start_ns: int, end_ns: int) -> Sequence[BarReceived]:
        self.asked.append((symbol, start_ns, end_ns))
        times = self._times.get(symbol, [])
        bars = self._by_symbol.get(symbol, [])
        return bars[bisect_left(times, start_ns) : bisect_left(times, end_ns)]


class MemoryRecorder:
    """Keeps every recorded event in ``events`` (in order); counts flushes."""

    def __init__(self, records_bars: bool = True) -> None:
        self.records_bars = records_bars
        self.events: list[AnyEvent] = []
        self.flushes = 0

    def record(self, event: AnyEvent) -> None:
        self.events.append(event)

    def flush(self) -> None:
        self.flushes += 1

    def of_type(self, event_type: type) -> list[AnyEvent]:
        """The recorded events that are instances of ``event_type``."""
        return [e for e in self.events if isinstance(e, event_type)]


class NullRecorder:
    """Drops everything (used when a run needs no record, e.g. benchmarks)."""

    records_bars = False

    def record(self, event: AnyEvent) -> None:
        pass

    def flush(self) -> None:
        pass
