"""Columnar chunks of bars: how a datafeed hands bars to the orchestrator in bulk.

A ``BarChunk`` holds, for each symbol, that symbol's next bars as columns (``SymbolBars``)
and says in which order the bars of all symbols are delivered. The orchestrator turns each
column set into ``BarReceived`` tuples in one C-level pass, lets indicators compute a whole
chunk ahead (``Indicator.compute_block``) and then walks the bars one by one: strategies
still see one bar at a time, but no Python code runs per bar and field to move data around.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain, repeat
from operator import itemgetter

import numpy as np

from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived

_new_tuple = tuple.__new__

# Field index in ``BarReceived`` -> attribute name of ``SymbolBars``.
_COLUMNS = {4: "open", 5: "high", 6: "low", 7: "close", 8: "volume"}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Every new bar tuple counts towards the collector's thresholds; with hundreds of thousands
    of them the collector would rescan the young generations again and again (about half of
    the cost of building them). Bars hold no references back, so nothing is missed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _as_list(values: Sequence) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


class SymbolBars:
    """One symbol's bars within a chunk, as columns in delivery order.

    Columns are numpy arrays (from a database) or plain sequences; ``volume`` may hold None.
    ``prebuilt`` carries bar tuples the datafeed already has, so they are not built again.
    """

    __slots__ = ("symbol", "ts", "open", "high", "low", "close", "volume", "_bars", "_source")

    def __init__(
        self,
        symbol: str,
        ts: Sequence[int],
        open: Sequence[float],
        high: Sequence[float],
        low: Sequence[float],
        close: Sequence[float],
        volume: Sequence[int | None],
        *,
        prebuilt: list[BarReceived] | None = None,
    ) -> None:
        self.symbol = symbol
        self.ts, self.open, self.high, self.low, self.close = ts, open, high, low, close
        self.volume = volume
        self._bars = prebuilt
        self._source: Callable[[], list[BarReceived]] | None = None
        lengths = {len(ts), len(open), len(high), len(low), len(close), len(volume)}
        if len(lengths) != 1:
            raise ValueError(f"columns of {symbol!r} differ in length: {sorted(lengths)}")

    @classmethod
    def from_bars(cls, symbol: str, bars: list[BarReceived]) -> SymbolBars:
        """Columns of existing bar tuples (kept, and handed out again by ``bars``)."""
        columns = list(zip(*bars, strict=True)) if bars else [()] * 9
        return cls(symbol, *columns[0:1], *columns[4:9], prebuilt=bars)

    def __len__(self) -> int:
        return len(self.ts)

    def column(self, index: int) -> np.ndarray:
        """The ``BarReceived`` field ``index`` (4..8) as a float array, None as NaN."""
        values = getattr(self, _COLUMNS[index])
        if isinstance(values, np.ndarray):
            return values.astype(np.float64, copy=False)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    def bars(self) -> list[BarReceived]:
        """The bars as ``BarReceived`` tuples, in time order (built once, then cached)."""
        if self._bars is None:
            if self._source is None:
                raise RuntimeError(f"bars of {self.symbol!r} are only known inside a BarChunk")
            self._bars = self._source()
        return self._bars


def build_bars(
    bar_period: BarPeriod,
    ts: Sequence[int],
    symbol: Sequence[str],
    open: Sequence[float],
    high: Sequence[float],
    low: Sequence[float],
    close: Sequence[float],
    volume: Sequence[int | None],
) -> list[BarReceived]:
    """``BarReceived`` tuples of equal-length columns, built in one C-level pass."""
    ts = _as_list(ts)
    with gc_paused():
        return list(
            map(
                _new_tuple,
                repeat(BarReceived),
                zip(
                    ts,
                    ts,
                    _as_list(symbol),
                    repeat(bar_period),
                    _as_list(open),
                    _as_list(high),
                    _as_list(low),
                    _as_list(close),
                    _as_list(volume),
                ),
            )
        )


class BarChunk:
    """The next bars of a run: per-symbol columns and the order they are delivered in.

    ``order`` lists positions in the concatenation of ``parts`` (first part's bars first) in
    delivery order; None means "merge by timestamp", with bars of equal timestamps in the
    order of ``parts`` (which a datafeed gives in symbol order).
    """

    __slots__ = ("bar_period", "parts", "_order", "_bars", "_columns")

    def __init__(
        self,
        bar_period: BarPeriod,
        parts: Sequence[SymbolBars],
        order: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        self.bar_period = bar_period
        self.parts = tuple(parts)
        self._order = order
        self._bars: list[BarReceived] | None = None
        self._columns: dict[str, np.ndarray] | None = None
        if len({part.symbol for part in self.parts}) != len(self.parts):
            raise ValueError("a chunk holds a symbol more than once")
        offset = 0
        for part in self.parts:
            if part._bars is None:
                part._source = partial(self._part_bars, offset, offset + len(part))
            offset += len(part)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    @property
    def order(self) -> np.ndarray:
        """Delivery order as positions into the parts' concatenation (int64)."""
        if self._order is None:
            if len(self.parts) == 1:
                self._order = np.arange(len(self.parts[0]), dtype=np.int64)
            else:
                stamps = np.concatenate([np.asarray(p.ts, dtype=np.int64) for p in self.parts])
                self._order = np.argsort(stamps, kind="stable")
        return np.asarray(self._order, dtype=np.int64)

    @classmethod
    def from_bars(cls, bars: Sequence[BarReceived]) -> BarChunk:
        """A chunk delivering ``bars`` exactly in the given order (the tuples are reused)."""
        if not bars:
            return cls(BarPeriod.SECOND, ())
        by_symbol: dict[str, list[BarReceived]] = {}
        slots: dict[str, int] = {}
        positions = []
        for bar in bars:
            group = by_symbol.get(bar[2])
            if group is None:
                group = by_symbol[bar[2]] = []
            positions.append((bar[2], len(group)))
            group.append(bar)
        offset = 0
        for symbol, group in by_symbol.items():
            slots[symbol] = offset
            offset += len(group)
        order = np.fromiter((slots[s] + i for s, i in positions), dtype=np.int64, count=len(bars))
        parts = [SymbolBars.from_bars(symbol, group) for symbol, group in by_symbol.items()]
        return cls(bars[0][3], parts, order)

    def bars(self) -> list[BarReceived]:
        """All bars as tuples, in delivery order (built once, then cached).

        Parts that came with tuples are reused; the others are built from their columns,
        reordered in numpy first, so each bar is built once, in its final place.
        """
        if self._bars is None:
            if all(part._bars is not None for part in self.parts):
                flat = list(chain.from_iterable(part._bars for part in self.parts))
                self._bars = _take(flat, self.order)
            else:
                columns = self.columns()
                symbols = np.array([part.symbol for part in self.parts], dtype=object)
                self._bars = build_bars(
                    self.bar_period,
                    columns["ts"],
                    symbols[columns["code"]],
                    *(columns[name] for name in ("open", "high", "low", "close", "volume")),
                )
        return self._bars

    def columns(self) -> dict[str, np.ndarray]:
        """The bars' columns in delivery order (numpy, built once): ts, code (the index of
        the bar's part, so ``parts[code].symbol`` is its symbol), open, high, low, close and
        volume (int64, or objects when a volume is None)."""
        if self._columns is None:
            order = self.order
            lengths = [len(part) for part in self.parts]
            codes = np.repeat(np.arange(len(self.parts), dtype=np.int32), lengths)
            self._columns = {"ts": self._column("ts")[order], "code": codes[order]}
            for name in ("open", "high", "low", "close", "volume"):
                self._columns[name] = self._column(name)[order]
        return self._columns

    def release(self) -> None:
        """Drop the bar tuples and merged columns built for this chunk (the parts stay)."""
        self._bars = None
        self._columns = None
        for part in self.parts:
            if part._source is not None:
                part._bars = None

    def _column(self, name: str) -> np.ndarray:
        """A column over all parts (parts' order), as numpy (objects where needed)."""
        columns = [getattr(part, name) for part in self.parts]
        if all(isinstance(c, np.ndarray) for c in columns):
            return np.concatenate(columns) if columns else np.empty(0)
        values = list(chain.from_iterable(columns))
        if name != "volume" or None not in values:
            try:
                return np.array(values, dtype=np.int64 if name in ("ts", "volume") else None)
            except (TypeError, ValueError, OverflowError):
                pass
        return np.array(values, dtype=object)

    def _part_bars(self, start: int, end: int) -> list[BarReceived]:
        """The bars of the part at [start, end) of the concatenation, from ``bars()``."""
        delivered = self.bars()
        where = np.empty(len(delivered), dtype=np.int64)
        where[self.order] = np.arange(len(delivered))
        return _take(delivered, where[start:end])


def _take(items: list, positions: np.ndarray) -> list:
    """``items`` reordered by ``positions`` (the same list when they are already in order)."""
    if len(positions) == len(items) and (
        not len(positions) or np.array_equal(positions, np.arange(len(items)))
    ):
        return items
    if not len(positions):
        return []
    if len(positions) == 1:
        return [items[int(positions[0])]]
    return list(itemgetter(*positions.tolist())(items))


@dataclass(frozen=True)
class BarBlock:
    """Bars to record with their indicator values, as columns in delivery order.

    ``symbols[code[i]]`` is bar i's symbol; ``values`` holds one row per bar, one column per
    name in ``names``. Recorders write it in bulk (``Recorder.record_bar_block``).
    """

    bar_period: BarPeriod
    symbols: tuple[str, ...]
    ts: np.ndarray
    code: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def bars(self) -> list[BarReceived]:
        """The bars as tuples (for recorders that want events)."""
        symbols = np.array(self.symbols, dtype=object)
        return build_bars(
            self.bar_period,
            self.ts,
            symbols[self.code],
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
        )
