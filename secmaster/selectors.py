"""Reads of the security master and the symbol presets, shaped as the API answers them.

Every query has a total ``ORDER BY`` so that answers are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import TypedDict

from ostsite.errors import NotFound
from secmaster.models import Publisher, SymbolCoverage, SymbolPreset

PRESET_NOT_FOUND = "Preset not found"

# The seed orders coverage by (symbol) or (symbol, rtype) depending on the filters; this one
# order agrees with each of them and breaks their ties deterministically.
COVERAGE_ORDER = ("symbol", "rtype", "publisher_id", "symbol_type")


class DatasetRow(TypedDict):
    publisher_id: int
    dataset: str


class CoverageRow(TypedDict):
    publisher_id: int
    symbol: str
    rtype: int
    min_ts: int
    max_ts: int


def publisher_name_list(*, rtype: int | None = None) -> list[str]:
    """Distinct publisher names, sorted; with ``rtype``, only those with coverage of that type."""
    publishers = Publisher.objects.all()
    if rtype is not None:
        publishers = publishers.filter(coverage__rtype=rtype)
    return list(publishers.order_by("name").values_list("name", flat=True).distinct())


def publisher_dataset_list(*, name: str, rtype: int | None = None) -> list[DatasetRow]:
    """The datasets of the publisher called ``name``, sorted by dataset; unknown name -> []."""
    if "\x00" in name:  # no publisher can be called so, and PostgreSQL refuses the query
        return []
    publishers = Publisher.objects.filter(name=name)
    if rtype is not None:
        publishers = publishers.filter(coverage__rtype=rtype)
    rows = publishers.order_by("dataset").values("publisher_id", "dataset").distinct()
    return [DatasetRow(publisher_id=r["publisher_id"], dataset=r["dataset"]) for r in rows]


def coverage_list(
    *, publisher_id: int | None = None, rtype: int | None = None
) -> list[CoverageRow]:
    """Symbol coverage rows, optionally of one publisher and/or one rtype, ordered by symbol."""
    coverage = SymbolCoverage.objects.all()
    if publisher_id is not None:
        coverage = coverage.filter(publisher_id=publisher_id)
    if rtype is not None:
        coverage = coverage.filter(rtype=rtype)
    rows = coverage.order_by(*COVERAGE_ORDER).values_list(
        "publisher_id", "symbol", "rtype", "min_ts", "max_ts"
    )
    return [
        CoverageRow(publisher_id=p, symbol=s, rtype=r, min_ts=lo, max_ts=hi)
        for p, s, r, lo, hi in rows
    ]


def preset_name_list() -> list[str]:
    """All preset names, sorted."""
    return list(SymbolPreset.objects.order_by("name").values_list("name", flat=True))


def preset_get(*, name: str) -> SymbolPreset:
    """The preset called ``name``; raises NotFound when there is none."""
    if "\x00" in name:  # no preset can be called so, and PostgreSQL refuses the query
        raise NotFound(PRESET_NOT_FOUND)
    try:
        return SymbolPreset.objects.get(name=name)
    except SymbolPreset.DoesNotExist:
        raise NotFound(PRESET_NOT_FOUND) from None
