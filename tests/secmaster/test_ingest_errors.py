"""Broken input: each refusal names the file and fault, and leaves the database as it was."""

from __future__ import annotations

import json
import zipfile

import databento_dbn
import pytest
from django.core.management import CommandError, call_command

from ostsite.errors import InvalidInput
from tests.dbn_files import (
    P,
    compress,
    dbn_bytes,
    ingest_paths,
    ns,
    secmaster_snapshot,
    write_batch_zip,
    write_dbn,
)

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

BARS = [
    (100, ns("2024-01-02T14:30"), 100 * P, 101 * P, 99 * P, 100 * P, 500),
    (100, ns("2024-01-03T14:30"), 101 * P, 102 * P, 100 * P, 101 * P, 600),
]
OTHER_BARS = [(300, ns("2024-01-04T14:30"), 370 * P, 371 * P, 369 * P, 370 * P, 300)]
MAPPINGS = {"AAPL": [("2024-01-02", "2024-02-01", 100)]}


@pytest.fixture
def stored(tmp_path):
    """A security master that already holds one ingested zip; returns its snapshot."""
    ingest_paths([write_batch_zip(tmp_path / "base.zip", files={33: BARS}, mappings=MAPPINGS)])
    snapshot = secmaster_snapshot()
    assert snapshot["ohlcv"] and snapshot["symbology"] and snapshot["symbol_coverage"]
    return snapshot


def _refused(paths, message: str, before: dict, **options) -> None:
    with pytest.raises(InvalidInput) as err:
        ingest_paths(paths, **options)
    assert err.value.message == message
    assert secmaster_snapshot() == before


def test_ingest_missing_path_refused(tmp_path, stored):
    _refused([tmp_path / "nope.zip"], f"no such file or folder: {tmp_path / 'nope.zip'}", stored)


def test_ingest_unsupported_file_refused(tmp_path, stored):
    path = tmp_path / "bars.csv"
    path.write_text("ts,open\n")
    _refused([path], f"{path}: not a Databento file (expected .zip, .dbn or .dbn.zst)", stored)


def test_ingest_empty_folder_refused(tmp_path, stored):
    (tmp_path / "empty").mkdir()
    _refused(
        [tmp_path / "empty"],
        f"{tmp_path / 'empty'}: the folder holds no .zip, .dbn or .dbn.zst files",
        stored,
    )


def test_ingest_truncated_zstd_file_refused(tmp_path, stored):
    data = compress(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=OTHER_BARS * 1))
    path = tmp_path / "cut.dbn.zst"
    path.write_bytes(data[:-6])
    _refused([path], f"{path}: truncated zstd stream (the compressed data ends mid-frame)", stored)


def test_ingest_zip_with_truncated_second_member_stores_nothing_of_it(tmp_path, stored):
    good = compress(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=OTHER_BARS))
    bad = compress(dbn_bytes(dataset="XNAS.ITCH", rtype=35, bars=OTHER_BARS))[:-6]
    path = write_batch_zip(
        tmp_path / "cut.zip",
        mappings={"MSFT": [("2024-01-02", "2024-02-01", 300)]},
        extra_members={"a.ohlcv-1m.dbn.zst": good, "b.ohlcv-1d.dbn.zst": bad},
    )
    _refused(
        [path],
        f"{path}!b.ohlcv-1d.dbn.zst: truncated zstd stream (the compressed data ends mid-frame)",
        stored,
    )


def test_ingest_zip_without_dbn_files_refused(tmp_path, stored):
    path = write_batch_zip(tmp_path / "nodbn.zip", mappings=MAPPINGS)
    _refused([path], f"{path}: the zip holds no .dbn or .dbn.zst files", stored)


def test_ingest_not_a_zip_refused(tmp_path, stored):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"this is not a zip")
    _refused([path], f"{path}: not a readable zip archive: File is not a zip file", stored)


def test_ingest_trades_schema_file_refused(tmp_path, stored):
    metadata = databento_dbn.Metadata(
        dataset="XNAS.ITCH",
        start=0,
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema.MBP_1,
    )
    record = databento_dbn.MBP1Msg(
        publisher_id=2,
        instrument_id=38,
        ts_event=1,
        price=100 * P,
        size=10,
        action=databento_dbn.Action.TRADE,
        side=databento_dbn.Side.BID,
        depth=0,
        ts_recv=2,
    )
    path = tmp_path / "xnas-itch-20240102.mbp-1.dbn"
    path.write_bytes(metadata.encode() + bytes(record))
    _refused(
        [path],
        f"{path}: schema 'mbp-1' is not an OHLCV schema "
        "(expected one of ohlcv-1s, ohlcv-1m, ohlcv-1h, ohlcv-1d, ohlcv-eod)",
        stored,
    )


def test_ingest_metadata_json_with_trades_schema_refused(tmp_path, stored):
    metadata = {"query": {"dataset": "XNAS.ITCH", "schema": "trades"}}
    path = write_batch_zip(
        tmp_path / "t.zip",
        files={33: OTHER_BARS},
        extra_members={"metadata.json": json.dumps(metadata)},
    )
    _refused(
        [path],
        f"{path}!metadata.json: schema 'trades' is not an OHLCV schema "
        "(expected one of ohlcv-1s, ohlcv-1m, ohlcv-1h, ohlcv-1d, ohlcv-eod)",
        stored,
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "{not json",
            "invalid JSON: Expecting property name enclosed in double quotes:"
            " line 1 column 2 (char 1)",
        ),
        ('["a"]', "expected an object with a 'query' object"),
        (
            '{"query": {"schema": "ohlcv-1m"}}',
            "'query.dataset' must be a non-empty string, got None",
        ),
    ],
)
def test_ingest_malformed_metadata_json_refused(tmp_path, stored, content, problem):
    path = write_batch_zip(
        tmp_path / "m.zip", files={33: OTHER_BARS}, extra_members={"metadata.json": content}
    )
    _refused([path], f"{path}!metadata.json: {problem}", stored)


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ("[1, 2", "invalid JSON: Expecting ',' delimiter: line 1 column 6 (char 5)"),
        ('{"symbols": []}', "expected an object with a 'result' object of symbols"),
        ('{"result": {"MSFT": {"d0": "2024-01-02"}}}', "mappings of symbol 'MSFT' must be a list"),
        (
            '{"result": {"MSFT": [{"d0": "2024-01-02", "d1": "2024-02-01"}]}}',
            "symbol 'MSFT' mapping 0: missing key(s) s",
        ),
        (
            '{"result": {"MSFT": [{"d0": "2024-01-02", "d1": "2024-13-01", "s": "300"}]}}',
            "symbol 'MSFT' mapping 0: 'd1' is not a date YYYY-MM-DD: '2024-13-01'",
        ),
        (
            '{"result": {"MSFT": [{"d0": "2024-01-02", "d1": "2024-02-01", "s": "MSFT"}]}}',
            "symbol 'MSFT' mapping 0: 's' must be an instrument id from 0 to 4294967295,"
            " got 'MSFT'",
        ),
        (
            '{"result": {"MSFT": [{"d0": "2024-02-02", "d1": "2024-02-01", "s": "300"}]}}',
            "symbol 'MSFT' mapping 0: d1 2024-02-01 is before d0 2024-02-02",
        ),
    ],
)
def test_ingest_malformed_symbology_json_refused(tmp_path, stored, result, problem):
    path = write_batch_zip(
        tmp_path / "s.zip", files={33: OTHER_BARS}, extra_members={"symbology.json": result}
    )
    _refused([path], f"{path}!symbology.json: {problem}", stored)


def test_ingest_overlapping_symbology_in_one_file_refused(tmp_path, stored):
    mappings = {"MSFT": [("2024-01-02", "2024-01-10", 300), ("2024-01-09", "2024-02-01", 301)]}
    path = write_batch_zip(tmp_path / "o.zip", files={33: OTHER_BARS}, mappings=mappings)
    _refused(
        [path],
        f"symbology conflict in {path}!symbology.json: symbol 'MSFT' (raw_symbol) maps to "
        "instrument 300 on [2024-01-02, 2024-01-10) and to instrument 301 on "
        "[2024-01-09, 2024-02-01), which overlap",
        stored,
    )


def test_ingest_symbology_overlapping_stored_mapping_refused(tmp_path, stored):
    path = write_dbn(
        tmp_path / "o.dbn",
        bars=OTHER_BARS,
        mappings={"AAPL": [("2024-01-31", "2024-03-01", 999)]},
    )
    _refused(
        [path],
        f"symbology conflict in {path}: symbol 'AAPL' (raw_symbol) maps to instrument 100 on "
        "[2024-01-02, 2024-02-01) and to instrument 999 on [2024-01-31, 2024-03-01), "
        "which overlap",
        stored,
    )


def test_ingest_second_file_failing_keeps_first_file(tmp_path, stored):
    good = write_dbn(tmp_path / "a.dbn", bars=OTHER_BARS)
    bad = tmp_path / "b.dbn"
    bad.write_bytes(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=OTHER_BARS)[:-1])

    with pytest.raises(InvalidInput) as err:
        ingest_paths([good, bad])

    assert (
        err.value.message == f"{bad}: truncated DBN data (55 trailing bytes after the last record)"
    )
    after = secmaster_snapshot()
    assert after["ohlcv"] == sorted(stored["ohlcv"] + [(300, 33, *OTHER_BARS[0][1:])])


def test_ingest_command_missing_path_raises_command_error(tmp_path, stored):
    with pytest.raises(CommandError) as err:
        call_command("ingest_databento", str(tmp_path / "gone.dbn"))
    assert str(err.value) == f"no such file or folder: {tmp_path / 'gone.dbn'}"
    assert secmaster_snapshot() == stored


def test_ingest_command_prints_one_line_summary(tmp_path, capsys):
    path = write_batch_zip(tmp_path / "a.zip", files={33: BARS}, mappings=MAPPINGS)
    call_command("ingest_databento", str(path))
    out = capsys.readouterr().out
    assert out.startswith("Ingested 1 file(s): 2 records, 2 new bars, 1 symbols in ")
    assert out.rstrip().endswith("records/s)")


def test_ingest_zip_members_in_subfolder_are_found(tmp_path):
    """Databento zips may nest files in a folder; metadata.json is found by its base name."""
    path = tmp_path / "nested.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("job/metadata.json", json.dumps({"query": {"dataset": "XNAS.ITCH"}}))
        archive.writestr("job/x.ohlcv-1m.dbn", dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=BARS))
    summary = ingest_paths([path])
    assert summary.records == 2
    assert secmaster_snapshot()["publishers"] == [("databento", "XNAS.ITCH", "XNAS")]


def test_ingest_progress_reports_reach_total_and_render_on_terminal(tmp_path):
    import io

    from secmaster.management.commands.ingest_databento import TerminalProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    calls = []
    path = write_dbn(tmp_path / "a.dbn", bars=BARS)
    ingest_paths([path], progress=lambda done, total, records: calls.append((done, total, records)))
    assert calls == [(path.stat().st_size, path.stat().st_size, 2)]

    terminal = Terminal()
    bar = TerminalProgress(terminal, width=10)
    bar(5, 10, 1234)
    bar.finish()
    assert terminal.getvalue() == "\r[#####-----]  50.0%  1,234 records\n"


def test_ingest_zip_member_of_another_dataset_refused(tmp_path, stored):
    member = dbn_bytes(dataset="GLBX.MDP3", rtype=33, bars=OTHER_BARS)
    path = write_batch_zip(
        tmp_path / "mixed.zip", extra_members={"x.ohlcv-1m.dbn": member}, mappings=MAPPINGS
    )
    _refused(
        [path],
        f"{path}!x.ohlcv-1m.dbn: dataset 'GLBX.MDP3' differs from 'XNAS.ITCH';"
        " pass --dataset to override",
        stored,
    )


def test_ingest_empty_option_refused(tmp_path, stored):
    path = write_dbn(tmp_path / "a.dbn", bars=OTHER_BARS)
    _refused([path], "--symbol-type must not be empty", stored, symbol_type=" ")


def test_ingest_zip_member_with_bad_crc_refused(tmp_path, stored):
    member = dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=OTHER_BARS)
    path = write_batch_zip(tmp_path / "crc.zip", extra_members={"x.ohlcv-1m.dbn": member})
    raw = bytearray(path.read_bytes())
    last_record = raw.index(member) + len(member) - 8  # the volume of the only bar
    raw[last_record] ^= 0xFF
    path.write_bytes(bytes(raw))
    _refused(
        [path], f"{path}: not a readable zip archive: Bad CRC-32 for file 'x.ohlcv-1m.dbn'", stored
    )
