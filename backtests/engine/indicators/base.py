"""Indicator base class: bounded per-symbol history, plot hints and a class registry.

An indicator turns each bar of a symbol into one float. ``update(bar)`` computes and stores
the value; ``latest(sym)`` and ``ind[sym, -k]`` read it back (``-1`` is the latest value).
Anything missing (unknown symbol, index beyond the kept history, warm-up) is NaN.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from backtests.engine.events import BarReceived

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
    called exactly once per bar, in bar order, and may keep per-symbol state. Subclasses
    register themselves by class name (pass ``register=False`` to opt out; names starting
    with ``_`` are not registered).
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
        self._history: dict[str, deque[float]] = {}
        plot = self.default_plot
        changes = {
            k: v for k, v in (("color", color), ("style", style), ("placement", placement)) if v
        }
        self.plot = replace(plot, **changes) if changes else plot
        self.color_given = color is not None

    def _compute(self, bar: BarReceived) -> float:
        """The indicator's value for ``bar``, NaN while warming up.

        Every registered indicator defines it or its own ``update`` (checked when the class
        is defined); this base answers NaN, a missing value.
        """
        return math.nan

    def update(self, bar: BarReceived) -> float:
        """Compute the value for ``bar``, store it in the bar's symbol history and return it."""
        value = self._compute(bar)
        history = self._history.get(bar[2])
        if history is None:
            history = self._history[bar[2]] = deque(maxlen=self._max_history)
        history.append(value)
        return value

    def bind_symbol(self, symbol: str) -> Callable[[BarReceived], float]:
        """An ``update`` for bars of ``symbol`` only, with that symbol's history bound once.

        The orchestrator binds one per strategy symbol before the run, so the hot loop does
        no per-bar symbol lookup. Same effect as ``update``; a subclass that overrides
        ``update`` itself keeps its own ``update``.
        """
        if type(self).update is not Indicator.update:
            return self.update
        history = self._history.get(symbol)
        if history is None:
            history = self._history[symbol] = deque(maxlen=self._max_history)
        compute, append = self._compute, history.append

        def update(bar: BarReceived) -> float:
            value = compute(bar)
            append(value)
            return value

        return update

    def bind_symbol_batched(
        self, symbol: str
    ) -> tuple[Callable[[Sequence[BarReceived]], None], Callable[[BarReceived], float]] | None:
        """Optional vectorised binding for ``symbol``: ``(prepare, update)``, or None.

        The orchestrator then calls ``prepare(bars)`` with the symbol's next bars, in order,
        and afterwards ``update(bar)`` once for each of those bars, in the same order.
        ``prepare`` may compute all their values at once; ``update`` hands them out one bar at
        a time, so a strategy never sees a value before its bar, and must store and return
        exactly what ``bind_symbol``'s update would have. The base offers none.
        """
        return None

    def latest(self, symbol: str) -> float:
        """The most recent value for ``symbol``; NaN when there is none."""
        try:  # free when nothing is raised: the hot path is one lookup and one index
            return self._history[symbol][-1]
        except (KeyError, IndexError):
            return NAN

    def __getitem__(self, key: tuple[str, int]) -> float:
        """``ind[symbol, -k]``: the k-th latest value (``-1`` is the latest); NaN if missing."""
        try:
            return self._history[key[0]][key[1]]
        except (KeyError, IndexError):
            return NAN

    def history(self, symbol: str) -> list[float]:
        """The kept values of ``symbol``, oldest first."""
        return list(self._history.get(symbol, ()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
