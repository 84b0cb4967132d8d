"""Indicator base class: bounded per-symbol history, plot hints and a class registry.

An indicator turns each bar of a symbol into one float. ``latest(sym)`` and ``ind[sym, -k]``
read the values back (``-1`` is the latest value); anything missing (unknown symbol, index
beyond the kept history, warm-up) is NaN. In a backtest the engine computes a chunk of bars
ahead (``compute_block``) and reveals the values one bar at a time, so a strategy never sees
a value before its bar; alone, ``update(bar)`` computes and stores one value.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from backtests.engine.events import BarReceived

if TYPE_CHECKING:
    from backtests.engine.chunks import SymbolBars

NAN = float("nan")

PLACEMENTS = ("overlay", "panel")
STYLES = ("line", "dashed", "dots")
DEFAULT_COLOR = "#1f77b4"

# Index of each bar field in the BarReceived tuple (reading by index is the fastest access).
SOURCE_FIELDS: dict[str, int] = {
    "open": BarReceived._fields.index("open"),
    "high": BarReceived._fields.index("high"),
    "low": BarReceived._fields.index("low"),
    "close": BarReceived._fields.index("close"),
    "volume": BarReceived._fields.index("volume"),
}

_indicator_classes: dict[str, type[Indicator]] = {}


def indicator_registry() -> dict[str, type[Indicator]]:
    """Every registered indicator class by class name, sorted by name."""
    return dict(sorted(_indicator_classes.items()))


@dataclass(frozen=True)
class PlotHint:
    """How a chart draws an indicator: on the price chart or in its own panel."""

    placement: str = "overlay"
    color: str = DEFAULT_COLOR
    style: str = "line"

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(
                f"placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}"
            )
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if not isinstance(self.color, str) or not self.color:
            raise ValueError(f"color must be a non-empty string, got {self.color!r}")

    def to_dict(self) -> dict[str, str]:
        return {"placement": self.placement, "color": self.color, "style": self.style}


def source_index(source: str) -> int:
    """The BarReceived index of a source field name; ``ValueError`` lists the valid names."""
    try:
        return SOURCE_FIELDS[source]
    except KeyError:
        raise ValueError(
            f"source must be one of {', '.join(SOURCE_FIELDS)}, got {source!r}"
        ) from None


class Indicator:
    """One float per bar and symbol, with a bounded history per symbol.

    Subclasses set ``self.name`` in ``__init__`` and implement ``_compute(bar)``, which is
    called exactly once per bar of a symbol, in bar order, and may keep per-symbol state. A
    subclass may also offer ``compute_block`` (the values of many bars of one symbol at once,
    for example with numpy) as long as it gives exactly what ``_compute`` gives, bar by bar.
    Subclasses register themselves by class name (pass ``register=False`` to opt out; names
    starting with ``_`` are not registered).

    Values are kept as rows: ``_rows[symbol]`` is a bounded deque of value tuples and this
    indicator's value is column ``_col`` of each row. Alone, an indicator keeps its own rows
    of one column. Registered with a strategy (``attach``), it shares the strategy's rows,
    one column per indicator, so the engine reveals a bar's values to all indicators of a
    symbol with a single append, whatever their number.
    """

    name: str = ""
    plot: PlotHint = PlotHint()
    default_plot: ClassVar[PlotHint] = PlotHint()

    def __init_subclass__(cls, register: bool = True, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if register and not cls.__name__.startswith("_"):
            if cls._compute is Indicator._compute and cls.update is Indicator.update:
                raise TypeError(f"indicator {cls.__name__}: must define _compute(self, bar)")
            _indicator_classes[cls.__name__] = cls

    def __init__(
        self,
        *,
        max_history: int = 100,
        color: str | None = None,
        style: str | None = None,
        placement: str | None = None,
    ) -> None:
        self._max_history = max(1, int(max_history))
        self._rows: dict[str, deque[tuple[float, ...]]] = {}
        self._col = 0
        self._attached = False
        plot = self.default_plot
        changes = {
            k: v for k, v in (("color", color), ("style", style), ("placement", placement)) if v
        }
        self.plot = replace(plot, **changes) if changes else plot
        self.color_given = color is not None

    @property
    def max_history(self) -> int:
        """How many of the latest values per symbol stay readable."""
        return self._max_history

    @property
    def warmup_bars(self) -> int:
        """Bars of a symbol before the first value: the indicator's ``period`` when it has
        one (override for other rules)."""
        period = getattr(self, "period", 0)
        return int(period) if isinstance(period, int | float) and period > 0 else 0

    @property
    def computes_ahead(self) -> bool:
        """True unless a subclass overrides ``update`` (then the engine calls it per bar)."""
        return type(self).update is Indicator.update

    def _compute(self, bar: BarReceived) -> float:
        """The indicator's value for ``bar``, NaN while warming up.

        Every registered indicator defines it or its own ``update`` (checked when the class
        is defined); this base answers NaN, a missing value.
        """
        return math.nan

    def compute_block(self, part: SymbolBars) -> Sequence[float]:
        """The values of ``part``'s bars (the next bars of one symbol, in time order, as
        columns; ``part.bars()`` gives them as tuples), computed before any of them is
        revealed to a strategy.

        The engine calls it with every bar of a symbol exactly once, in order, so the result
        is what ``_compute`` gives bar by bar; a subclass may vectorise it.
        """
        compute = self._compute
        return [compute(bar) for bar in part.bars()]

    def update(self, bar: BarReceived) -> float:
        """Compute the value for ``bar``, store it in the bar's symbol history and return it.

        For standalone use; inside a backtest the engine computes and reveals the values of
        registered indicators itself.
        """
        if self._attached:
            raise RuntimeError(
                f"indicator {self.name!r} is updated by the engine for its strategy;"
                " call update() only on indicators not registered with add_indicator()"
            )
        value = self._compute(bar)
        rows = self._rows.get(bar[2])
        if rows is None:
            rows = self._rows[bar[2]] = deque(maxlen=self._max_history)
        rows.append((value,))
        return value

    def attach(self, rows: dict[str, deque[tuple[float, ...]]], column: int) -> None:
        """Read values from a strategy's shared ``rows`` (column ``column``) from now on."""
        if self._attached:
            raise ValueError(f"indicator {self.name!r} already belongs to a strategy")
        if any(self._rows.values()):
            raise ValueError(f"indicator {self.name!r} already has values; use a fresh one")
        self._rows, self._col, self._attached = rows, column, True

    def latest(self, symbol: str) -> float:
        """The most recent value for ``symbol``; NaN when there is none."""
        try:  # free when nothing is raised: the hot path is one lookup and two indexes
            return self._rows[symbol][-1][self._col]
        except (KeyError, IndexError):
            return NAN

    def __getitem__(self, key: tuple[str, int]) -> float:
        """``ind[symbol, -k]``: the k-th latest value (``-1`` is the latest); NaN if missing.

        Non-negative indexes count from the oldest value kept. Registered with a strategy,
        an indicator keeps as many values as the strategy's indicator with the largest
        ``max_history`` (they share one row per bar).
        """
        try:
            return self._rows[key[0]][key[1]][self._col]
        except (KeyError, IndexError):
            return NAN

    def history(self, symbol: str) -> list[float]:
        """The kept values of ``symbol``, oldest first."""
        rows = list(self._rows.get(symbol, ()))[-self._max_history :]
        column = self._col
        return [row[column] for row in rows]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
