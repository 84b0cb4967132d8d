"""Hostile Databento input through ``manage.py ingest_databento``: each file is built for real, the
command is refused with the exact message, and no row of any security-master table changes.

Faults that sit in one DBN stream are checked twice: as a bare file, and as a zip member that
comes after a good member (which is read and written first, then rolled back with the zip).
Messages and sizes are computed here from the bytes the test wrote, not from the code's output.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import databento_dbn
import pytest
import zstandard
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections

from secmaster.dbn_reading import READ_SIZE, DbnOhlcvReader, DbnReadError
from tests.backtests.subprocesses import database_env, start_manage
from tests.dbn_files import (
    P,
    compress,
    dbn_bytes,
    ingest_paths,
    metadata_json,
    ns,
    secmaster_snapshot,
    symbology_json,
    write_batch_zip,
)

DATABASES = ["default", "secmaster"]
pytestmark = pytest.mark.django_db(databases=DATABASES)

BARS = [
    (100, ns("2024-01-02T14:30"), 100 * P, 101 * P, 99 * P, 100 * P, 500),
    (100, ns("2024-01-03T14:30"), 101 * P, 102 * P, 100 * P, 101 * P, 600),
]
MAPPINGS = {"AAPL": [("2024-01-02", "2024-02-01", 100)]}
NEW_BARS = [(300, ns("2024-01-04T14:30"), 370 * P, 371 * P, 369 * P, 370 * P, 300)]
NEW_MAPPINGS = {"MSFT": [("2024-01-02", "2024-02-01", 300)]}
GOOD_MEMBER = "xnas-itch-20240102-20240131.ohlcv-1m.dbn.zst"  # what write_batch_zip names it
OHLCV_SCHEMAS = "ohlcv-1s, ohlcv-1m, ohlcv-1h, ohlcv-1d, ohlcv-eod"
RATIO_LIMIT = "(OST_INGEST_MAX_RATIO); refused as a possible zip bomb"
SIZE_LIMIT = "(OST_INGEST_MAX_MEMBER_BYTES); refused as a possible zip bomb"
OHLCV_RECORD = bytes(databento_dbn.OHLCVMsg(33, 2, 300, ns("2024-01-04T14:30"), P, P, P, P, 1))


# --- helpers -----------------------------------------------------------------------------


def everything() -> dict:
    """Row counts of every table of the secmaster database, and all security-master rows."""
    connection = connections["secmaster"]
    with connection.cursor() as cursor:
        counts = {}
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return {"counts": counts, "rows": secmaster_snapshot()}


@pytest.fixture
def stored(tmp_path) -> dict:
    """A security master holding one good zip already; returns ``everything()`` of it."""
    ingest_paths([write_batch_zip(tmp_path / "base.zip", files={33: BARS}, mappings=MAPPINGS)])
    state = everything()
    assert state["counts"]["ohlcv"] == 2 and state["counts"]["symbology"] == 1
    return state


def refused(paths: list[Path], message: str, before: dict) -> None:
    """The command fails with exactly ``message`` (exit status 1) and changes no row."""
    with pytest.raises(CommandError) as err:
        call_command("ingest_databento", *(str(p) for p in paths))
    assert str(err.value) == message
    assert err.value.returncode == 1
    assert everything() == before


def zip_after_good_member(path: Path, members: dict[str, bytes | str], **options) -> Path:
    """A batch zip whose good ohlcv-1m member (a new MSFT bar) sorts before ``members``."""
    assert all(name > GOOD_MEMBER for name in members if name.endswith((".dbn", ".dbn.zst")))
    return write_batch_zip(
        path, files={33: NEW_BARS}, mappings=NEW_MAPPINGS, extra_members=members, **options
    )


def placed(tmp_path: Path, where: str, name: str, data: bytes) -> tuple[Path, str]:
    """``data`` as a bare file or as a zip member after a good one; (path, name in messages)."""
    if where == "file":
        path = tmp_path / name
        path.write_bytes(data)
        return path, str(path)
    member = f"zz-{name}"
    path = zip_after_good_member(tmp_path / "hostile.zip", {member: data})
    return path, f"{path}!{member}"


def dbn_header(*, schema=databento_dbn.Schema.OHLCV_1M, version: int = 3) -> bytes:
    return databento_dbn.Metadata(
        dataset="XNAS.ITCH",
        start=0,
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=schema,
        version=version,
    ).encode()


def mbp1_record() -> bytes:
    return bytes(
        databento_dbn.MBP1Msg(
            publisher_id=2,
            instrument_id=300,
            ts_event=ns("2024-01-04T14:30"),
            price=100 * P,
            size=10,
            action=databento_dbn.Action.TRADE,
            side=databento_dbn.Side.BID,
            depth=0,
            ts_recv=ns("2024-01-04T14:30"),
        )
    )


def zstd_bomb(records: int) -> bytes:
    """A valid ohlcv-1m DBN stream of one record repeated: zstd shrinks it about 10,000 times."""
    return zstandard.ZstdCompressor(level=3).compress(dbn_header() + OHLCV_RECORD * records)


WHERE = pytest.mark.parametrize("where", ["file", "zip"])


# --- one DBN stream ----------------------------------------------------------------------


def _corrupt_frame_header(data: bytes) -> bytes:
    return data[:6] + b"\xff" * 6 + data[12:]


def _corrupt_payload_with_checksum(data: bytes) -> bytes:
    checked = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(
        zstandard.ZstdDecompressor().decompress(data)
    )
    middle = len(checked) // 2
    return checked[:middle] + bytes([checked[middle] ^ 0x01]) + checked[middle + 1 :]


@WHERE
@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (_corrupt_frame_header, "zstd decompressor error: Data corruption detected"),
        (
            _corrupt_payload_with_checksum,
            "zstd decompressor error: Restored data doesn't match checksum",
        ),
    ],
)
def test_corrupt_zstd_refused(tmp_path, stored, where, corrupt, problem):
    bars = [(300, NEW_BARS[0][1] + i * 60 * 10**9, *NEW_BARS[0][2:]) for i in range(50)]
    data = corrupt(compress(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=bars)))
    path, name = placed(tmp_path, where, "x.ohlcv-1m.dbn.zst", data)
    refused([path], f"{name}: corrupt zstd data: {problem}", stored)


@WHERE
@pytest.mark.parametrize("version", [0, 4, 255])
def test_unsupported_dbn_version_refused(tmp_path, stored, where, version):
    data = bytearray(dbn_header() + OHLCV_RECORD)
    assert data[:4] == b"DBN\x03"
    data[3] = version
    path, name = placed(tmp_path, where, "x.ohlcv-1m.dbn", bytes(data))
    refused(
        [path],
        f"{name}: DBN version {version} is not supported (this reader handles versions 1 to 3)",
        stored,
    )


@WHERE
def test_non_ohlcv_schema_refused(tmp_path, stored, where):
    data = dbn_header(schema=databento_dbn.Schema.MBP_1) + mbp1_record()
    path, name = placed(tmp_path, where, "x.mbp-1.dbn", data)
    refused(
        [path],
        f"{name}: schema 'mbp-1' is not an OHLCV schema (expected one of {OHLCV_SCHEMAS})",
        stored,
    )


@WHERE
def test_mbp1_record_in_a_file_without_schema_refused(tmp_path, stored, where):
    path, name = placed(tmp_path, where, "x.mixed.dbn", dbn_header(schema=None) + mbp1_record())
    # An MBP-1 record is 80 bytes: 16 header, price 8, size 4, 4 flag bytes, ts_recv 8,
    # ts_in_delta 4, sequence 4 and one 32-byte book level.
    refused([path], f"{name}: record 0 has length 80 bytes, expected 56", stored)


@WHERE
def test_record_rtype_other_than_the_schema_refused(tmp_path, stored, where):
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=35, bars=NEW_BARS, schema="ohlcv-1m")
    path, name = placed(tmp_path, where, "x.ohlcv-1m.dbn", data)
    refused([path], f"{name}: record 0 has rtype 35, expected 33 for schema 'ohlcv-1m'", stored)


@WHERE
@pytest.mark.parametrize("suffix", [".dbn", ".dbn.zst"])
def test_empty_dbn_refused(tmp_path, stored, where, suffix):
    path, name = placed(tmp_path, where, f"x.ohlcv-1m{suffix}", b"")
    refused([path], f"{name}: empty file (no DBN data)", stored)


@WHERE
def test_dbn_metadata_that_is_not_utf8_refused(tmp_path, stored, where):
    data = bytearray(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=NEW_BARS))
    data[data.index(b"XNAS.ITCH")] = 0xE9  # Latin-1 'é' where the dataset name starts
    path, name = placed(tmp_path, where, "x.ohlcv-1m.dbn", bytes(data))
    refused(
        [path],
        f"{name}: unreadable DBN metadata: UTF-8 error: Utf8Error {{ valid_up_to: 0,"
        " error_len: Some(1) } while reading dataset from metadata",
        stored,
    )


# --- bombs and size limits ---------------------------------------------------------------


@WHERE
def test_zstd_bomb_refused_at_the_ratio_limit(tmp_path, stored, where):
    bomb = zstd_bomb(300_000)  # 16.8 MB of records from about 1.6 kB
    assert len(bomb) * 1000 < 300_000 * 56
    path, name = placed(tmp_path, where, "x.ohlcv-1m.dbn.zst", bomb)
    refused(
        [path],
        f"{name}: expands to more than 1000 times its compressed size {RATIO_LIMIT}",
        stored,
    )


def test_zstd_bomb_inside_a_large_file_is_not_read_beyond_the_limit():
    """Concatenated frames that would expand to 34 GB from 3 MB (so the file's own size allows
    3 GB): reading stops at the ratio of what was read so far, within the first chunk."""
    frame = zstandard.ZstdCompressor(level=3).compress(OHLCV_RECORD * 300_000)
    stream = io.BytesIO(compress(dbn_header()) + frame * 2000)
    with pytest.raises(DbnReadError) as err:
        list(DbnOhlcvReader(stream, "bomb.dbn.zst", stored_size=len(stream.getvalue())))
    assert str(err.value) == (
        f"bomb.dbn.zst: expands to more than 1000 times its compressed size {RATIO_LIMIT}"
    )
    assert len(stream.getvalue()) > 3 * READ_SIZE
    assert stream.tell() == READ_SIZE  # one read of compressed bytes


@pytest.mark.parametrize("where", ["file", "zip"])
def test_member_over_the_size_limit_refused(tmp_path, stored, where, settings):
    settings.OST_INGEST_MAX_MEMBER_BYTES = 4096
    bars = [(300, NEW_BARS[0][1] + i * 60 * 10**9, *NEW_BARS[0][2:]) for i in range(100)]
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=bars)
    assert len(data) > 4096
    # In the zip the member's declared size is refused; the bare file while it is read.
    path, name = placed(tmp_path, where, "x.ohlcv-1m.dbn", data)
    refused(
        [path], f"{name}: more than 4,096 bytes uncompressed, over the limit {SIZE_LIMIT}", stored
    )


def test_deflated_member_with_absurd_declared_ratio_refused(tmp_path, stored, settings):
    settings.OST_INGEST_MAX_RATIO = 50
    member = "zz-x.ohlcv-1m.dbn"
    path = tmp_path / "ratio.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            GOOD_MEMBER, compress(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=NEW_BARS))
        )
        archive.writestr(member, dbn_header() + OHLCV_RECORD * 40_000)  # 2.2 MB
    info = zipfile.ZipFile(path).getinfo(member)
    assert info.file_size > max(50 * info.compress_size, 1 << 20)
    refused(
        [path],
        f"{path}!{member}: expands to more than 50 times its compressed size {RATIO_LIMIT}",
        stored,
    )


def overlapping_zip(path: Path, names: list[str], data: bytes) -> Path:
    """A zip whose central directory lists every name at the offset of the first member's data
    (the overlapping-files zip bomb): each member looks modest, together they are huge."""
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, data)
    raw = plain.getvalue()
    eocd = raw.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", raw[eocd + 12 : eocd + 20])
    first_end = zipfile.ZipFile(plain).infolist()[1].header_offset
    entries, at = [], cd_offset
    while at < cd_offset + cd_size:
        n, m, k = struct.unpack("<HHH", raw[at + 28 : at + 34])
        entry = bytearray(raw[at : at + 46 + n + m + k])
        entry[42:46] = struct.pack("<I", 0)  # every entry points at the first member
        entries.append(bytes(entry))
        at += len(entry)
    directory = b"".join(entries)
    end = bytearray(raw[eocd:])
    end[16:20] = struct.pack("<I", first_end)
    path.write_bytes(raw[:first_end] + directory + bytes(end))
    return path


def test_overlapping_members_zip_bomb_refused(tmp_path, stored):
    data = dbn_header() + OHLCV_RECORD * 40_000  # deflates about 340 times: under the limit
    names = [f"m{i}.ohlcv-1m.dbn" for i in range(10)]
    path = overlapping_zip(tmp_path / "overlap.zip", names, data)
    infos = zipfile.ZipFile(path).infolist()
    assert [i.header_offset for i in infos] == [0] * 10
    assert all(i.file_size < 1000 * i.compress_size for i in infos)
    size = path.stat().st_size
    declared = 10 * len(data)
    assert declared > 1000 * size
    refused(
        [path],
        f"{path}: its members declare {declared:,} bytes uncompressed, more than 1000 times the"
        f" zip's {size:,} bytes {RATIO_LIMIT}",
        stored,
    )


def test_huge_symbology_json_refused_before_parsing(tmp_path, stored, settings):
    settings.OST_INGEST_MAX_METADATA_BYTES = 1024
    document = json.dumps(
        symbology_json({f"S{i:04d}": [("2024-01-02", "2024-02-01", i)] for i in range(100)})
    )
    path = zip_after_good_member(tmp_path / "big.zip", {"symbology.json": document})
    refused(
        [path],
        f"{path}!symbology.json: {len(document):,} bytes, over the limit of 1,024 bytes"
        " (OST_INGEST_MAX_METADATA_BYTES); refused before parsing",
        stored,
    )


def test_huge_dbn_metadata_header_refused(tmp_path, stored, settings):
    settings.OST_INGEST_MAX_METADATA_BYTES = 1024
    mappings = {f"S{i:04d}": [("2024-01-02", "2024-02-01", i)] for i in range(100)}
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=NEW_BARS, mappings=mappings)
    declared = int.from_bytes(data[4:8], "little")
    path = tmp_path / "x.ohlcv-1m.dbn"
    path.write_bytes(data)
    refused(
        [path],
        f"{path}: the DBN metadata header declares {declared:,} bytes, over the limit of 1,024"
        " bytes (OST_INGEST_MAX_METADATA_BYTES)",
        stored,
    )


# --- zip structure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../x.ohlcv-1m.dbn.zst", "a '..' component"),
        ("data/../../x.ohlcv-1m.dbn", "a '..' component"),
        ("/etc/x", "an absolute path"),
        ("data\\x.ohlcv-1m.dbn", "a backslash"),
        ("..\\..\\x.txt", "a backslash"),
        ("C:/x.ohlcv-1m.dbn", "a drive letter"),
    ],
)
def test_member_path_escaping_the_target_refused(tmp_path, stored, member, reason):
    path = write_batch_zip(
        tmp_path / "escape.zip",
        files={33: NEW_BARS},
        mappings=NEW_MAPPINGS,
        extra_members={member: "anything"},
    )
    assert member in zipfile.ZipFile(path).namelist()
    refused(
        [path],
        f"{path}: member {member!r} has an unsafe path ({reason}); the zip is refused",
        stored,
    )


def _patch_central_directory(path: Path, member: str, offset: int, value: int) -> None:
    """Set a 16-bit field of ``member``'s central directory entry (offset from its signature)."""
    raw = bytearray(path.read_bytes())
    at = raw.index(b"PK\x01\x02")
    while raw[at + 46 : at + 46 + len(member)] != member.encode():
        at = raw.index(b"PK\x01\x02", at + 4)
    raw[at + offset : at + offset + 2] = struct.pack("<H", value)
    path.write_bytes(bytes(raw))


def test_encrypted_member_refused(tmp_path, stored):
    member = "zz-x.ohlcv-1m.dbn"
    path = zip_after_good_member(tmp_path / "enc.zip", {member: dbn_header() + OHLCV_RECORD})
    _patch_central_directory(path, member, 8, 0x1)  # general purpose flag bit 0: encrypted
    refused([path], f"{path}!{member}: encrypted zip members are not supported", stored)


def test_member_with_unknown_compression_method_refused(tmp_path, stored):
    member = "zz-x.ohlcv-1m.dbn"
    path = zip_after_good_member(tmp_path / "method.zip", {member: dbn_header() + OHLCV_RECORD})
    _patch_central_directory(path, member, 10, 99)  # compression method 99 (AES)
    refused(
        [path],
        f"{path}: not a readable zip archive: That compression method is not supported",
        stored,
    )


@pytest.mark.parametrize("kind", ["empty", "truncated", "dbn renamed"])
def test_zip_that_is_not_a_zip_refused(tmp_path, stored, kind):
    good = write_batch_zip(tmp_path / "good.zip", files={33: NEW_BARS}, mappings=NEW_MAPPINGS)
    content = {
        "empty": b"",
        "truncated": good.read_bytes()[: good.stat().st_size // 2],
        "dbn renamed": compress(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=NEW_BARS)),
    }[kind]
    path = tmp_path / "bad.zip"
    path.write_bytes(content)
    refused([path], f"{path}: not a readable zip archive: File is not a zip file", stored)


# --- JSON members: encodings and emptiness -----------------------------------------------


def _metadata_document() -> str:
    return json.dumps(metadata_json(dataset="XNAS.ITCH", schema="ohlcv-1m", symbols=["MSFT"]))


def _symbology_document(symbol: str = "MSFT") -> str:
    return json.dumps(symbology_json({symbol: NEW_MAPPINGS["MSFT"]}), ensure_ascii=False)


@pytest.mark.parametrize(
    ("member", "raw", "detail"),
    [
        (
            "metadata.json",
            _metadata_document().encode("utf-16"),
            "it starts with a UTF-16 or UTF-32 byte-order mark",
        ),
        (
            "metadata.json",
            _metadata_document().encode("utf-32"),
            "it starts with a UTF-16 or UTF-32 byte-order mark",
        ),
        (
            "symbology.json",
            _symbology_document().encode("utf-16-le"),
            "it holds NUL bytes, as UTF-16 or UTF-32 text does",
        ),
        (
            "symbology.json",
            _symbology_document("SOCIÉTÉ").encode("latin-1"),
            "byte 0xc9 at offset {offset} is not valid UTF-8",
        ),
    ],
)
def test_json_member_not_utf8_refused(tmp_path, stored, member, raw, detail):
    path = zip_after_good_member(tmp_path / "enc.zip", {member: raw})
    detail = detail.format(offset=raw.find(b"\xc9"))
    refused([path], f"{path}!{member}: not UTF-8 text ({detail}); save it as UTF-8", stored)


@pytest.mark.parametrize("member", ["metadata.json", "symbology.json"])
@pytest.mark.parametrize("content", [b"", b" \n"])
def test_empty_json_member_refused(tmp_path, stored, member, content):
    path = zip_after_good_member(tmp_path / "empty.zip", {member: content})
    refused([path], f"{path}!{member}: empty file (expected a JSON object)", stored)


def test_json_members_with_utf8_byte_order_mark_are_accepted(tmp_path, stored):
    bom = b"\xef\xbb\xbf"
    path = zip_after_good_member(
        tmp_path / "bom.zip",
        {
            "metadata.json": bom + _metadata_document().encode(),
            "symbology.json": bom + _symbology_document().encode(),
        },
    )
    call_command("ingest_databento", str(path), stdout=io.StringIO())
    after = everything()["rows"]
    assert after["ohlcv"] == sorted(stored["rows"]["ohlcv"] + [(300, 33, *NEW_BARS[0][1:])])
    assert ("MSFT", "raw_symbol", 300, "2024-01-02", "2024-02-01") in after["symbology"]


# --- the real command line ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_command_line_exits_1_with_the_message_and_stores_nothing(tmp_path):
    ingest_paths([write_batch_zip(tmp_path / "base.zip", files={33: BARS}, mappings=MAPPINGS)])
    before = everything()
    bomb = zip_after_good_member(
        tmp_path / "bomb.zip", {"zz-x.ohlcv-1m.dbn.zst": zstd_bomb(300_000)}
    )
    env = {**os.environ, **database_env(), "DJANGO_SECRET_KEY": settings.SECRET_KEY}
    log = tmp_path / "ingest.log"
    process = start_manage(["ingest_databento", str(bomb)], env, log)
    assert process.wait(timeout=120) == 1
    assert log.read_text().strip().splitlines()[-1] == (
        f"CommandError: {bomb}!zz-x.ohlcv-1m.dbn.zst: expands to more than 1000 times its"
        f" compressed size {RATIO_LIMIT}"
    )
    assert everything() == before
