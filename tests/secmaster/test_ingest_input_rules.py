"""Ingest input that used to end in a traceback or be taken silently (issue 12 item 5).

Each file is real (DBN bytes from databento_dbn, Databento-style zips); a refused file gives
``manage.py ingest_databento`` one line naming the file and the fault, exit status 1, and no row
of the security master changes. Duplicate records are stored once and reported in the summary.
Messages are written out here from the bytes the test wrote.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from secmaster import dbn_reading
from tests.dbn_files import (
    P,
    ingest_paths,
    metadata_json,
    ns,
    symbology_json,
    write_batch_zip,
    write_dbn,
)
from tests.secmaster.test_ingest_hostile import (
    BARS,
    MAPPINGS,
    NEW_BARS,
    NEW_MAPPINGS,
    everything,
    refused,
)

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

DEEP = 100_000  # far beyond Python's recursion limit
IDS = "a whole number from 0 to 4294967295"


@pytest.fixture
def stored(tmp_path) -> dict:
    """A security master holding one good zip (AAPL) already; returns ``everything()``."""
    ingest_paths([write_batch_zip(tmp_path / "base.zip", files={33: BARS}, mappings=MAPPINGS)])
    return everything()


def zip_with(tmp_path, name: str, text: str):
    """A good zip (a new MSFT bar) whose ``name`` member is ``text``."""
    return write_batch_zip(
        tmp_path / "input.zip",
        files={33: NEW_BARS},
        mappings=NEW_MAPPINGS,
        extra_members={name: text},
    )


def symbology_text(result: dict) -> str:
    return json.dumps({**symbology_json(NEW_MAPPINGS), "result": result})


# --- deeply nested JSON ---------------------------------------------------------------------


def test_deeply_nested_metadata_json_is_refused_in_one_line(tmp_path, stored):
    text = '{"query": ' + "[" * DEEP + "]" * DEEP + "}"
    path = zip_with(tmp_path, "metadata.json", text)

    refused([path], f"{path}!metadata.json: invalid JSON: nested too deeply", stored)


def test_deeply_nested_symbology_json_is_refused_in_one_line(tmp_path, stored):
    text = '{"result": {"MSFT": ' + "[" * DEEP + "]" * DEEP + "}}"
    path = zip_with(tmp_path, "symbology.json", text)

    refused([path], f"{path}!symbology.json: invalid JSON: nested too deeply", stored)


# --- instrument ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("18446744073709551616", "18446744073709551616"),  # 2**64
        ("4294967296", "4294967296"),  # 2**32: beyond what a DBN record carries
        ("9" * 5000, "'" + "9" * 40 + "'... (5,000 characters)"),
        (2**70, str(2**70)),
        (-5, "-5"),
        ("²", "'²'"),  # a Unicode digit
    ],
)
def test_symbology_instrument_id_outside_dbn_ids_is_refused(tmp_path, stored, target, shown):
    entry = {"d0": "2024-01-02", "d1": "2024-02-01", "s": target}
    path = zip_with(tmp_path, "symbology.json", symbology_text({"MSFT": [entry]}))

    refused(
        [path],
        f"{path}!symbology.json: symbol 'MSFT' mapping 0: 's' must be an instrument id from 0"
        f" to 4294967295, got {shown}",
        stored,
    )


def test_dbn_metadata_mapping_to_an_id_beyond_64_bits_is_refused(tmp_path, stored):
    path = write_dbn(
        tmp_path / "big-id.dbn",
        bars=NEW_BARS,
        mappings={"MSFT": [("2024-01-02", "2024-02-01", 2**64)]},
    )

    refused(
        [path],
        f"{path}: symbol 'MSFT' maps to instrument id 18446744073709551616, which is not a DBN"
        f" instrument id ({IDS})",
        stored,
    )


# --- symbols no request can name ------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "shown", "problem"),
    [
        ("", "''", "it is empty"),
        (" SP ", "' SP '", "it has whitespace at its start or end, which requests strip"),
        ("SP ", "'SP '", "it has whitespace at its start or end, which requests strip"),
        ("A\x00B", "'A\\x00B'", "it holds the control character U+0000"),
        ("A\nB", "'A\\nB'", "it holds the control character U+000A"),
        ("X" * 101, "'" + "X" * 40 + "'... (101 characters)", "it is longer than 100 characters"),
        (
            "Y" * 5_000_000,
            "'" + "Y" * 40 + "'... (5,000,000 characters)",
            "it is longer than 100 characters",
        ),
    ],
)
def test_symbology_symbol_no_request_can_name_is_refused(tmp_path, stored, symbol, shown, problem):
    entry = {"d0": "2024-01-02", "d1": "2024-02-01", "s": "300"}
    path = zip_with(tmp_path, "symbology.json", symbology_text({symbol: [entry]}))

    refused([path], f"{path}!symbology.json: symbol {shown} is refused: {problem}", stored)


def test_symbology_lone_surrogate_symbol_is_refused(tmp_path, stored):
    text = symbology_text({"MSFT": []}).replace('"MSFT"', '"\\ud800"', 1)
    assert '"\\ud800": []' in text
    path = zip_with(tmp_path, "symbology.json", text)

    refused(
        [path],
        f"{path}!symbology.json: symbol '\\ud800' is refused: it holds the lone surrogate"
        " U+D800, which no database stores",
        stored,
    )


def test_dbn_metadata_symbol_with_outer_spaces_is_refused(tmp_path, stored):
    path = write_dbn(
        tmp_path / "spaced.dbn.zst",
        bars=NEW_BARS,
        mappings={" MSFT ": [("2024-01-02", "2024-02-01", 300)]},
    )

    refused(
        [path],
        f"{path}: symbol ' MSFT ' is refused: it has whitespace at its start or end, which"
        " requests strip",
        stored,
    )


def test_symbols_a_request_can_name_are_accepted(tmp_path, stored):
    mappings = {
        "BRK.B": [("2024-01-02", "2024-02-01", 300)],
        "ÄPFEL 1": [("2024-01-02", "2024-02-01", 301)],
    }
    bars = [*NEW_BARS, (301, ns("2024-01-04T14:30"), 5 * P, 6 * P, 4 * P, 5 * P, 1)]
    path = write_batch_zip(tmp_path / "ok.zip", files={33: bars}, mappings=mappings)

    call_command("ingest_databento", str(path), stdout=io.StringIO())

    coverage = everything()["rows"]["symbol_coverage"]
    assert [row[0] for row in coverage] == ["AAPL", "BRK.B", "ÄPFEL 1"]


def test_metadata_json_still_needs_its_query_object(tmp_path, stored):
    path = zip_with(tmp_path, "metadata.json", json.dumps(metadata_json(dataset="", schema="x")))

    refused(
        [path], f"{path}!metadata.json: 'query.dataset' must be a non-empty string, got ''", stored
    )


# --- duplicate records ----------------------------------------------------------------------

FIRST = (300, ns("2024-01-04T14:30"), 370 * P, 371 * P, 369 * P, 370 * P, 300)
REPEAT = (300, ns("2024-01-04T14:30"), 500 * P, 501 * P, 499 * P, 500 * P, 9)  # same key
LATER = (300, ns("2024-01-04T14:31"), 371 * P, 372 * P, 370 * P, 371 * P, 10)


def ingest_output(path) -> str:
    out = io.StringIO()
    call_command("ingest_databento", str(path), stdout=out)
    return out.getvalue().strip()


def msft_bars() -> list[tuple]:
    return [row for row in everything()["rows"]["ohlcv"] if row[0] == 300]


@pytest.mark.parametrize("block_records", [None, 1])  # one read block; a block per record
def test_duplicate_records_are_stored_once_and_reported(
    tmp_path, stored, monkeypatch, block_records
):
    if block_records:
        monkeypatch.setattr(dbn_reading, "BLOCK_RECORDS", block_records)
    path = write_dbn(
        tmp_path / "dups.dbn.zst",
        bars=[FIRST, REPEAT, LATER, LATER],
        mappings=NEW_MAPPINGS,
    )

    line = ingest_output(path)

    assert line.startswith("Ingested 1 file(s): 4 records, 2 new bars, 1 symbols in ")
    assert line.endswith(
        "; duplicate records (same instrument, rtype and ts_event as an earlier record of the"
        f" file; the first was stored, the repeats skipped): {path}: 2"
    )
    assert msft_bars() == [(300, 33, *FIRST[1:]), (300, 33, *LATER[1:])]


def test_records_already_stored_are_not_duplicates(tmp_path, stored):
    path = write_dbn(tmp_path / "once.dbn.zst", bars=[FIRST, LATER], mappings=NEW_MAPPINGS)
    ingest_output(path)

    line = ingest_output(path)

    assert "no new bars (all were stored already)" in line
    assert "duplicate" not in line
