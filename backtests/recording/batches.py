"""What a recorder hands to a database writer: one batch of rows, written in one transaction.

Event rows are plain tuples per table. Bars stay columnar (the engine's ``BarBlock``s) until a
writer needs them: as a message of raw column bytes (and their indicator values as JSON
texts) for the writer process (``bar_message``), or as lists for the writers of this process
(``bar_lists``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtests.engine.chunks import BarBlock
from backtests.recording import wire
from backtests.recording.indicator_json import indicator_texts


@dataclass
class Batch:
    """Rows of one run to write in one transaction, and how many events they hold."""

    run_id: str
    tables: dict[str, list[tuple]] = field(default_factory=dict)  # table -> rows (non-empty)
    bars: list[BarBlock] = field(default_factory=list)
    events: int = 0
    # The executing claim's token: the batch is written only while the run is still claimed
    # by it (and running or cancelling). None: only that the run exists is checked.
    claim: str | None = None

    def __bool__(self) -> bool:
        return bool(self.tables) or bool(self.bars)


class InProcessWriter(ABC):
    """Writes each batch at once on the Django connection of ``using``, in one transaction.

    Subclasses implement ``_insert(batch)``: it returns False when the run is gone (deleted
    while it ran) or no longer claimed by the batch's execution, after which later batches
    are dropped.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self.run_deleted = False
        self.rows_written = 0

    def write(self, batch: Batch) -> None:
        if self.run_deleted or not batch:
            return
        if self._insert(batch):
            self.rows_written += batch.events
        else:
            self.run_deleted = True

    @abstractmethod
    def _insert(self, batch: Batch) -> bool:
        """Insert ``batch`` in one transaction; False if the run row is gone or not the
        batch's claim's any more."""

    def drain(self) -> None:
        """Nothing is pending: every batch was written by ``write``."""
        return None

    def close(self) -> None:
        """Nothing to release (the Django connection stays open)."""
        return None


def bar_message(blocks: Sequence[BarBlock]) -> dict[str, Any] | None:
    """The blocks joined, numbers as raw bytes (``wire.NUMBER_COLUMNS``); None if none."""
    if not blocks:
        return None
    symbols: dict[str, int] = {}
    codes = []
    for block in blocks:
        index = np.array([symbols.setdefault(s, len(symbols)) for s in block.symbols], np.int32)
        codes.append(index[block.code] if len(block) else np.empty(0, np.int32))
    names = blocks[0].names
    if any(block.names != names for block in blocks):
        raise ValueError("bar blocks of one batch must have the same indicator names")
    values = np.concatenate([block.values for block in blocks])
    message: dict[str, Any] = {
        "symbols": list(symbols),
        "bar_period": blocks[0].bar_period.name,
        "code": np.concatenate(codes).astype(np.int32).tobytes(),
        "indicators": indicator_texts(names, values),
    }
    for name, typecode in wire.NUMBER_COLUMNS.items():
        if name == "code":
            continue
        column = np.concatenate([np.asarray(getattr(block, name)) for block in blocks])
        if name == "volume" and column.dtype == object:
            message[name] = column.tolist()  # holds None
        else:
            dtype = np.float64 if typecode == "d" else np.int64
            message[name] = np.ascontiguousarray(column, dtype=dtype).tobytes()
    return message


def bar_lists(blocks: Sequence[BarBlock]) -> dict[str, list] | None:
    """The blocks joined as the lists ``statements.insert_batch`` takes; None if none."""
    message = bar_message(blocks)
    return None if message is None else wire.bar_lists(message)
