"""Symbol coverage rebuild on rows written directly (not through ingestion)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from secmaster.models import Instrument, OhlcvBar, Publisher, SymbolCoverage, SymbologyMapping
from secmaster.services.coverage import coverage_rebuild
from tests.dbn_files import ns

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


def _bar(instrument: Instrument, rtype: int, ts: int) -> OhlcvBar:
    return OhlcvBar(
        instrument=instrument, rtype=rtype, ts_event=ts, open=1, high=1, low=1, close=1, volume=1
    )


@pytest.fixture
def data():
    publisher = Publisher.objects.create(name="databento", dataset="XNAS.ITCH", venue="XNAS")
    other = Publisher.objects.create(name="databento", dataset="ARCX.PILLAR", venue="ARCX")
    a = Instrument.objects.create(publisher=publisher, source_instrument_id=1)
    b = Instrument.objects.create(publisher=publisher, source_instrument_id=2)
    orphan = Instrument.objects.create(publisher=publisher, source_instrument_id=3)
    a_other = Instrument.objects.create(publisher=other, source_instrument_id=1)
    OhlcvBar.objects.bulk_create(
        [
            _bar(a, 33, ns("2024-01-01T23:59")),  # day before the interval
            _bar(a, 33, ns("2024-01-02T00:00")),  # first instant of the interval
            _bar(a, 33, ns("2024-01-04T23:59:59.999999")),  # last microsecond of it
            _bar(a, 33, ns("2024-01-05T00:00")),  # end date: excluded
            _bar(b, 33, ns("2024-01-05T14:30")),
            _bar(b, 33, ns("2024-01-09T14:30")),
            _bar(b, 35, ns("2024-01-08T00:00")),
            _bar(orphan, 33, ns("2024-01-03T14:30")),  # no mapping: never covered
            _bar(a_other, 32, ns("2024-01-03T14:30:01")),
        ]
    )
    day = dt.date.fromisoformat
    SymbologyMapping.objects.bulk_create(
        [
            SymbologyMapping(
                publisher=publisher,
                symbol="XYZ",
                symbol_type="raw_symbol",
                source_instrument_id=1,
                start_date=day("2024-01-02"),
                end_date=day("2024-01-05"),
            ),
            SymbologyMapping(
                publisher=publisher,
                symbol="XYZ",
                symbol_type="raw_symbol",
                source_instrument_id=2,
                start_date=day("2024-01-05"),
                end_date=day("2024-02-01"),
            ),
            SymbologyMapping(
                publisher=other,
                symbol="XYZ",
                symbol_type="raw_symbol",
                source_instrument_id=1,
                start_date=day("2024-01-01"),
                end_date=day("2024-02-01"),
            ),
            SymbologyMapping(  # maps a date range with no bars at all
                publisher=publisher,
                symbol="EMPTY",
                symbol_type="raw_symbol",
                source_instrument_id=2,
                start_date=day("2023-01-01"),
                end_date=day("2023-02-01"),
            ),
        ]
    )
    return publisher, other, b


def _coverage() -> list[tuple]:
    return sorted(
        SymbolCoverage.objects.values_list(
            "publisher__dataset", "symbol", "symbol_type", "rtype", "min_ts", "max_ts"
        )
    )


def test_coverage_rebuild_counts_only_bars_inside_mapping_dates(data):
    rows = coverage_rebuild()

    assert rows == 3
    assert _coverage() == [
        (
            "ARCX.PILLAR",
            "XYZ",
            "raw_symbol",
            32,
            ns("2024-01-03T14:30:01"),
            ns("2024-01-03T14:30:01"),
        ),
        ("XNAS.ITCH", "XYZ", "raw_symbol", 33, ns("2024-01-02T00:00"), ns("2024-01-09T14:30")),
        ("XNAS.ITCH", "XYZ", "raw_symbol", 35, ns("2024-01-08T00:00"), ns("2024-01-08T00:00")),
    ]


def test_coverage_rebuild_drops_rows_whose_bars_are_gone(data):
    coverage_rebuild()
    _, _, b = data
    OhlcvBar.objects.filter(instrument=b).delete()

    coverage_rebuild()

    assert _coverage() == [
        (
            "ARCX.PILLAR",
            "XYZ",
            "raw_symbol",
            32,
            ns("2024-01-03T14:30:01"),
            ns("2024-01-03T14:30:01"),
        ),
        (
            "XNAS.ITCH",
            "XYZ",
            "raw_symbol",
            33,
            ns("2024-01-02T00:00"),
            ns("2024-01-04T23:59:59.999999"),
        ),
    ]


def test_coverage_rebuild_command_reports_row_count(data, capsys):
    call_command("rebuild_coverage")

    assert (
        capsys.readouterr().out == "Rebuilt symbol coverage: 3 (publisher, symbol, rtype) rows.\n"
    )
    assert len(_coverage()) == 3
