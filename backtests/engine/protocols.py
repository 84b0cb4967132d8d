"""The boundaries of the engine: where bars come from and where events go.

Implementations that touch a database live outside the engine (``backtests.feeds`` and
``backtests.recording``); in-memory ones for tests live beside these protocols.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from backtests.engine.events import AnyEvent, BarReceived


class Datafeed(Protocol):
    """A finite stream of bars for the subscribed symbols and one bar period.

    Bars arrive in time order, every symbol of one timestamp before the next timestamp,
    symbols of one timestamp in a stable order (sorted by symbol). ``batches`` yields lists
    of bars so the consumer can check for cancellation between batches; a batch may end in
    the middle of a timestamp.
    """

    def total_bars(self) -> int:
        """How many bars ``batches`` will yield in all (for progress reporting)."""
        ...

    def batches(self) -> Iterator[Sequence[BarReceived]]: ...


class Recorder(Protocol):
    """Receives every event of a run; writes them in batches, never one query per event.

    ``records_bars`` is False for the ``trades`` recording level: the orchestrator then
    neither builds nor sends ``BarReceived``/``BarProcessed`` events to the recorder.
    """

    records_bars: bool

    def record(self, event: AnyEvent) -> None: ...

    def flush(self) -> None:
        """Write everything buffered so far."""
        ...


class FinerBars(Protocol):
    """The bars of a finer period inside one bar of the run, for the ``intrabar`` fill model.

    The broker asks only about ambiguous bars (two or more price levels of working orders
    reached inside the bar, a stop-limit triggered inside it, an order arriving within it).
    The strategy never sees these bars.
    """

    def finer_bars(self, symbol: str, start_ns: int, end_ns: int) -> Sequence[BarReceived]:
        """``symbol``'s bars of the finest period below the run's with start_ns <= ts <
        end_ns, in time order, resolved through the same symbology as the run's own bars;
        empty when there are none."""
        ...
