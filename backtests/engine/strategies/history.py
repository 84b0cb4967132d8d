"""``self.bar``: recent bars of the current symbol, read field by field.

``self.bar.close[-1]`` is the close of the bar being processed, ``self.bar.high[-2]`` the
previous high; ``self.bar.close["AAPL", -1]`` reads another symbol. Missing values are NaN.
One deque of bar tuples per symbol is kept (one append per bar, not one per field).
"""

from __future__ import annotations

from collections import deque

from backtests.engine.events import BarReceived
from backtests.engine.indicators.base import NAN, SOURCE_FIELDS


class FieldHistory:
    """One field (open, high, low, close or volume) of the kept bars."""

    __slots__ = ("_owner", "_index", "name")

    def __init__(self, owner: BarHistory, name: str) -> None:
        self._owner = owner
        self._index = SOURCE_FIELDS[name]
        self.name = name

    def __getitem__(self, key: int | tuple[str, int]) -> float:
        owner = self._owner
        if isinstance(key, tuple):
            symbol, key = key
            bars = owner._bars.get(symbol)
        else:
            bars = owner._current
        if bars is None:
            return NAN
        try:
            value = bars[key][self._index]
        except IndexError:
            return NAN
        return NAN if value is None else value

    def latest(self, symbol: str | None = None) -> float:
        return self[-1] if symbol is None else self[symbol, -1]


class BarHistory:
    """The last ``max_history`` bars of each symbol."""

    __slots__ = ("_bars", "_current", "_max_history", "open", "high", "low", "close", "volume")

    def __init__(self, max_history: int = 256) -> None:
        self._bars: dict[str, deque[BarReceived]] = {}
        self._current: deque[BarReceived] | None = None
        self._max_history = max(2, int(max_history))
        self.open = FieldHistory(self, "open")
        self.high = FieldHistory(self, "high")
        self.low = FieldHistory(self, "low")
        self.close = FieldHistory(self, "close")
        self.volume = FieldHistory(self, "volume")

    def push(self, bar: BarReceived) -> None:
        """Append ``bar`` to its symbol and make that symbol current."""
        bars = self.bars_of(bar[2])
        bars.append(bar)
        self._current = bars

    def bars_of(self, symbol: str) -> deque[BarReceived]:
        """The deque of ``symbol``'s kept bars (created empty if new).

        The orchestrator binds these once per symbol; per bar it appends and assigns
        ``_current`` itself, which is what ``push`` does, without the call and lookup.
        """
        bars = self._bars.get(symbol)
        if bars is None:
            bars = self._bars[symbol] = deque(maxlen=self._max_history)
        return bars

    def __getitem__(self, key: int) -> BarReceived | None:
        """``self.bar[-2]``: the whole previous bar of the current symbol, or None."""
        try:
            return self._current[key] if self._current is not None else None
        except IndexError:
            return None

    def __len__(self) -> int:
        return 0 if self._current is None else len(self._current)
