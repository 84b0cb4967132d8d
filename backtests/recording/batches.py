"""What a recorder hands to a database writer: one batch of rows, written in one transaction.

Event rows are plain tuples per table. Bars recorded as blocks (the engine's usual way) stay
columnar: one sequence per column, for both bar tables at once, since ``bars`` and
``bars_processed`` share every column but the indicator values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain

# The columns of a bar block, in this order (ts_event_ns is also ts_created_ns).
BAR_BLOCK_COLUMNS = (
    "ts_event_ns",
    "symbol",
    "bar_period",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "indicators",
)


@dataclass
class BarBlock:
    """Columns of bars recorded in both bar tables (``indicators`` only in bars_processed)."""

    columns: tuple[Sequence, ...]  # as BAR_BLOCK_COLUMNS

    def __len__(self) -> int:
        return len(self.columns[0])

    @staticmethod
    def joined(blocks: Sequence[BarBlock]) -> BarBlock:
        """The blocks one after the other."""
        if len(blocks) == 1:
            return blocks[0]
        return BarBlock(
            tuple(list(chain.from_iterable(b.columns[i] for b in blocks)) for i in range(9))
        )


@dataclass
class Batch:
    """Rows of one run to write in one transaction, and how many events they hold."""

    run_id: str
    tables: dict[str, list[tuple]] = field(default_factory=dict)  # table -> rows (non-empty)
    bars: BarBlock | None = None
    events: int = 0

    def __bool__(self) -> bool:
        return bool(self.tables) or self.bars is not None
