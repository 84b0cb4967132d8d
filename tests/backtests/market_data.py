"""Security-master data for backtest tests, written as real DBN files and ingested."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from secmaster.models import Publisher
from tests.dbn_files import P, ingest_paths, ns, write_dbn

__all__ = ["P", "ingest_bars", "minute_bars", "ns"]


def ingest_bars(
    folder: Path,
    *,
    bars: Sequence[tuple[int, int, int, int, int, int, int]],
    mappings: dict[str, Sequence[tuple[str, str, int]]],
    rtype: int = 33,
    dataset: str = "XNAS.ITCH",
    name: str = "bars",
) -> int:
    """Ingest one DBN file through the real ingest service; returns the publisher id."""
    path = write_dbn(
        folder / f"{name}-{dataset}-{rtype}.dbn.zst",
        dataset=dataset,
        rtype=rtype,
        bars=bars,
        mappings=mappings,
    )
    ingest_paths([path])
    return Publisher.objects.get(name="databento", dataset=dataset).publisher_id


def minute_bars(
    instrument: int, start: str, count: int, *, base: float = 100.0, step: float = 0.5
) -> list[tuple[int, int, int, int, int, int, int]]:
    """``count`` one-minute bars from ``start`` whose close walks up and down by ``step``."""
    first = ns(start)
    rows = []
    price = base
    for i in range(count):
        price += step if (i // 7) % 2 == 0 else -step
        o, c = price - step / 2, price
        lo, hi = min(o, c) - 0.25, max(o, c) + 0.25
        rows.append(
            (
                instrument,
                first + i * 60 * P,
                int(o * P),
                int(hi * P),
                int(lo * P),
                int(c * P),
                100 + i,
            )
        )
    return rows
