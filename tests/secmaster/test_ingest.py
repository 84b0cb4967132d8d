"""Databento ingestion: bars, symbology, instruments and coverage, checked against hand values."""

from __future__ import annotations

import pytest

from tests.dbn_files import (
    P,
    ingest_paths,
    ns,
    secmaster_snapshot,
    write_batch_zip,
    write_dbn,
)

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

# AAPL moves from instrument 100 to instrument 200 on 2024-01-04; MSFT is 300 throughout.
MAPPINGS = {
    "AAPL": [("2024-01-02", "2024-01-04", 100), ("2024-01-04", "2024-02-01", 200)],
    "MSFT": [("2024-01-02", "2024-02-01", 300)],
}
MINUTE_BARS = [
    (100, ns("2024-01-02T14:30"), 100 * P, 101 * P, 99 * P, 100_500_000_000, 500),
    (100, ns("2024-01-03T20:59"), 102 * P, 103 * P, 101 * P, 102 * P, 700),
    (100, ns("2024-01-04T14:30"), 90 * P, 91 * P, 89 * P, 90 * P, 10),  # not AAPL any more
    (200, ns("2024-01-03T14:30"), 50 * P, 51 * P, 49 * P, 50 * P, 20),  # not AAPL yet
    (200, ns("2024-01-04T14:31"), 104 * P, 105 * P, 103 * P, 104 * P, 800),
    (200, ns("2024-01-05T15:00"), 105 * P, 106 * P, 104 * P, 105 * P, 900),
    (300, ns("2024-01-02T14:30"), 370 * P, 371 * P, 369 * P, 370 * P, 300),
    (300, ns("2024-01-05T20:00"), 372 * P, 373 * P, 371 * P, 372 * P, 400),
]
DAILY_BARS = [
    (100, ns("2024-01-02T00:00"), 100 * P, 103 * P, 99 * P, 102 * P, 90_000),
    (200, ns("2024-01-04T00:00"), 104 * P, 106 * P, 103 * P, 105 * P, 80_000),
]


def _rows(bars, rtype):
    return [(b[0], rtype, *b[1:]) for b in bars]


def test_ingest_batch_zip_stores_bars_symbology_and_coverage(tmp_path):
    path = write_batch_zip(
        tmp_path / "XNAS-20240102-ABC.zip",
        files={33: MINUTE_BARS, 35: DAILY_BARS},
        mappings=MAPPINGS,
    )

    summary = ingest_paths([path])

    assert (summary.files, summary.records, summary.new_bars) == (1, 10, 10)
    assert summary.symbols == {"AAPL", "MSFT"}
    snap = secmaster_snapshot()
    assert snap["publishers"] == [("databento", "XNAS.ITCH", "XNAS")]
    assert snap["ohlcv"] == sorted(_rows(MINUTE_BARS, 33) + _rows(DAILY_BARS, 35))
    assert snap["symbology"] == [
        ("AAPL", "raw_symbol", 100, "2024-01-02", "2024-01-04"),
        ("AAPL", "raw_symbol", 200, "2024-01-04", "2024-02-01"),
        ("MSFT", "raw_symbol", 300, "2024-01-02", "2024-02-01"),
    ]
    # The symbol names the instrument of its latest interval; 100 keeps no symbol.
    assert snap["instruments"] == [
        ("XNAS.ITCH", 100, None, None),
        ("XNAS.ITCH", 200, "AAPL", "raw_symbol"),
        ("XNAS.ITCH", 300, "MSFT", "raw_symbol"),
    ]
    assert snap["symbol_coverage"] == [
        ("AAPL", "raw_symbol", 33, ns("2024-01-02T14:30"), ns("2024-01-05T15:00")),
        ("AAPL", "raw_symbol", 35, ns("2024-01-02T00:00"), ns("2024-01-04T00:00")),
        ("MSFT", "raw_symbol", 33, ns("2024-01-02T14:30"), ns("2024-01-05T20:00")),
    ]


def test_ingest_same_zip_twice_changes_nothing(tmp_path):
    path = write_batch_zip(tmp_path / "a.zip", files={33: MINUTE_BARS}, mappings=MAPPINGS)
    ingest_paths([path])
    before = secmaster_snapshot()

    summary = ingest_paths([path])

    assert (summary.records, summary.new_bars) == (8, 0)
    assert secmaster_snapshot() == before


def test_ingest_overlapping_bars_keeps_stored_values_and_adds_new(tmp_path):
    first = write_dbn(tmp_path / "first.dbn", bars=MINUTE_BARS[:2])
    changed = (100, MINUTE_BARS[0][1], 1 * P, 2 * P, 1 * P, 2 * P, 1)  # same key, other values
    second = write_dbn(tmp_path / "second.dbn", bars=[changed, MINUTE_BARS[2]])
    ingest_paths([first])

    summary = ingest_paths([second])

    assert (summary.records, summary.new_bars) == (2, 1)
    assert secmaster_snapshot()["ohlcv"] == _rows(MINUTE_BARS[:3], 33)


@pytest.mark.parametrize("compressed", [False, True])
def test_ingest_bare_dbn_uses_its_metadata_dataset_and_mappings(tmp_path, compressed):
    name = "glbx.dbn.zst" if compressed else "glbx.dbn"
    bars = [
        (4916, ns("2024-03-14T13:00"), 5100 * P, 5110 * P, 5090 * P, 5105 * P, 1200),
        (4916, ns("2024-03-15T13:00"), 5105 * P, 5120 * P, 5100 * P, 5110 * P, 1300),
        (7011, ns("2024-03-15T13:00"), 5150 * P, 5160 * P, 5140 * P, 5155 * P, 900),
    ]
    path = write_dbn(
        tmp_path / name,
        dataset="GLBX.MDP3",
        rtype=34,
        bars=bars,
        mappings={
            "ESH4": [("2024-03-01", "2024-03-15", 4916)],
            "ESM4": [("2024-03-01", "2024-06-21", 7011)],
        },
        compress=compressed,
    )

    summary = ingest_paths([path])

    assert (summary.records, summary.new_bars, summary.symbols) == (3, 3, {"ESH4", "ESM4"})
    snap = secmaster_snapshot()
    assert snap["publishers"] == [("databento", "GLBX.MDP3", "GLBX")]
    assert snap["symbology"] == [
        ("ESH4", "raw_symbol", 4916, "2024-03-01", "2024-03-15"),
        ("ESM4", "raw_symbol", 7011, "2024-03-01", "2024-06-21"),
    ]
    # ESH4's interval ends on 2024-03-15, so its bar of that day is not covered.
    assert snap["symbol_coverage"] == [
        ("ESH4", "raw_symbol", 34, ns("2024-03-14T13:00"), ns("2024-03-14T13:00")),
        ("ESM4", "raw_symbol", 34, ns("2024-03-15T13:00"), ns("2024-03-15T13:00")),
    ]


@pytest.mark.parametrize("rtype", [32, 33, 34, 35, 36])
def test_ingest_each_ohlcv_rtype_is_stored_under_its_rtype(tmp_path, rtype):
    bars = [(38, ns("2024-01-02T00:00"), 10 * P, 12 * P, 9 * P, 11 * P, 5)]
    path = write_batch_zip(
        tmp_path / "one.zip",
        files={rtype: bars},
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]},
    )

    ingest_paths([path])

    snap = secmaster_snapshot()
    assert snap["ohlcv"] == [(38, rtype, ns("2024-01-02T00:00"), 10 * P, 12 * P, 9 * P, 11 * P, 5)]
    assert snap["symbol_coverage"] == [
        ("AAPL", "raw_symbol", rtype, ns("2024-01-02T00:00"), ns("2024-01-02T00:00"))
    ]


def test_ingest_folder_reads_databento_files_recursively(tmp_path):
    write_dbn(tmp_path / "data" / "b.dbn", bars=MINUTE_BARS[:1])
    write_dbn(tmp_path / "data" / "sub" / "a.dbn.zst", bars=MINUTE_BARS[6:7])
    write_batch_zip(tmp_path / "data" / "sub" / "deeper" / "c.zip", files={33: MINUTE_BARS[4:5]})
    (tmp_path / "data" / "README.txt").write_text("not data")

    summary = ingest_paths([tmp_path / "data"])

    assert (summary.files, summary.records) == (3, 3)
    assert [row[0] for row in secmaster_snapshot()["ohlcv"]] == [100, 200, 300]


def test_ingest_zip_without_symbology_json_uses_dbn_metadata_mappings(tmp_path):
    path = write_batch_zip(
        tmp_path / "a.zip",
        files={33: MINUTE_BARS[6:]},
        mappings={"MSFT": [("2024-01-02", "2024-02-01", 300)]},
        with_symbology=False,
        dbn_mappings=True,
    )

    ingest_paths([path])

    snap = secmaster_snapshot()
    assert snap["symbology"] == [("MSFT", "raw_symbol", 300, "2024-01-02", "2024-02-01")]
    assert snap["symbol_coverage"] == [
        ("MSFT", "raw_symbol", 33, ns("2024-01-02T14:30"), ns("2024-01-05T20:00"))
    ]


def test_ingest_options_set_publisher_dataset_and_symbol_type(tmp_path):
    path = write_batch_zip(
        tmp_path / "a.zip", files={33: MINUTE_BARS[6:]}, mappings={"MSFT": MAPPINGS["MSFT"]}
    )

    ingest_paths([path], publisher_name="vendor", dataset="DBEQ.BASIC", symbol_type="ticker")

    snap = secmaster_snapshot()
    assert snap["publishers"] == [("vendor", "DBEQ.BASIC", "DBEQ")]
    assert snap["symbology"] == [("MSFT", "ticker", 300, "2024-01-02", "2024-02-01")]
    assert snap["instruments"] == [("DBEQ.BASIC", 300, "MSFT", "ticker")]
    assert snap["symbol_coverage"][0][:3] == ("MSFT", "ticker", 33)


def test_ingest_same_instrument_overlapping_intervals_are_merged(tmp_path):
    first = write_dbn(tmp_path / "jan.dbn", mappings={"MSFT": [("2024-01-02", "2024-01-20", 300)]})
    second = write_dbn(
        tmp_path / "feb.dbn",
        mappings={"MSFT": [("2024-01-10", "2024-02-05", 300), ("2024-02-05", "2024-02-06", 300)]},
    )

    ingest_paths([first, second])

    assert secmaster_snapshot()["symbology"] == [
        ("MSFT", "raw_symbol", 300, "2024-01-02", "2024-02-05"),
        ("MSFT", "raw_symbol", 300, "2024-02-05", "2024-02-06"),
    ]


def test_ingest_identical_symbology_again_is_accepted(tmp_path):
    path = write_dbn(tmp_path / "a.dbn", mappings=MAPPINGS)
    ingest_paths([path])
    before = secmaster_snapshot()

    ingest_paths([write_dbn(tmp_path / "b.dbn", mappings=MAPPINGS)])

    assert secmaster_snapshot() == before


def test_ingest_many_bars_uses_multi_row_statements_and_counts_new_bars(tmp_path):
    """More bars than one multi-row INSERT holds (250), with overlap on re-ingest."""
    start = ns("2024-01-02T14:30")
    bars = [
        (
            100 + i % 3,
            start + (i // 3) * 60 * P,
            10 * P + i,
            10 * P + i + 5,
            10 * P + i - 5,
            10 * P + i,
            i,
        )
        for i in range(600)
    ]
    ingest_paths([write_dbn(tmp_path / "a.dbn.zst", bars=bars[:400])])

    summary = ingest_paths([write_dbn(tmp_path / "b.dbn.zst", bars=bars[100:])])

    assert (summary.records, summary.new_bars) == (500, 200)
    assert secmaster_snapshot()["ohlcv"] == sorted(_rows(bars, 33))
