"""ohlcv_blocks written by the real ingest of real DBN files, rebuilt, cascaded, rolled back.

Every check compares the decoded blocks with what ``SELECT ... FROM ohlcv ORDER BY ts_event``
returns (the source of truth), plus hand-computed block indices and prices.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from ostsite.errors import InvalidInput
from secmaster import bar_blocks
from secmaster.bar_blocks import block_decode
from secmaster.models import Instrument, Publisher
from secmaster.services import bar_blocks as bar_blocks_service
from secmaster.services import bars as bars_service
from tests.dbn_files import P, compress, dbn_bytes, ingest_paths, ns, write_batch_zip, write_dbn

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

DB = "secmaster"
DAY_NS = 86_400 * 10**9
SPAN_DAYS = {32: 1, 33: 1, 34: 32, 35: 1024, 36: 1024}  # as specified, not read from the code


def bar(instrument: int, when: str, price: int, volume: int = 10) -> tuple:
    """A bar whose prices are all derived from ``price`` (whole currency units)."""
    return (
        instrument,
        ns(when),
        price * P,
        (price + 2) * P,
        (price - 1) * P,
        (price + 1) * P,
        volume,
    )


# Instrument 100 (AAPL) and 200 (MSFT); times chosen on both sides of block boundaries:
# minute and second blocks are UTC days (2024-01-02 is day 19,724 since 1970-01-01), hourly
# blocks 32 days (block 617 starts 2024-01-22), daily blocks 1024 days (20 starts 2026-01-27).
MINUTE = [
    bar(100, "2024-01-02T23:58", 100),
    bar(100, "2024-01-02T23:59", 101),
    bar(100, "2024-01-03T00:00", 102),
    bar(100, "2024-01-03T00:01", 103),
    bar(100, "2024-01-03T14:30", 104),
    bar(200, "2024-01-02T14:30", 300),
    bar(200, "2024-01-04T14:30", 301),
]
HOURLY = [
    bar(100, "2024-01-21T22:00", 110),
    bar(100, "2024-01-21T23:00", 111),
    bar(100, "2024-01-22T00:00", 112),
]
DAILY = [
    bar(100, "2026-01-25", 120),
    bar(100, "2026-01-26", 121),
    bar(100, "2026-01-27", 122),
    bar(100, "2026-01-28", 123),
]
SECOND = [bar(200, "2024-01-02T23:59:59", 310), bar(200, "2024-01-03T00:00:00", 311)]
MAPPINGS = {
    "AAPL": [("2024-01-02", "2026-02-01", 100)],
    "MSFT": [("2024-01-02", "2026-02-01", 200)],
}
EXPECTED_BLOCK_COUNTS = {
    (100, 33): {19724: 2, 19725: 3},
    (200, 33): {19724: 1, 19726: 1},
    (100, 34): {616: 2, 617: 1},
    (100, 35): {19: 2, 20: 2},
    (200, 32): {19724: 1, 19725: 1},
}


def ohlcv_by_key() -> dict[tuple[int, int], list[tuple]]:
    """(source instrument, rtype) -> its ohlcv rows (ts, o, h, l, c, v) in ts order."""
    out: dict[tuple[int, int], list[tuple]] = {}
    with connections[DB].cursor() as cursor:
        cursor.execute(
            "SELECT i.source_instrument_id, b.rtype, b.ts_event, b.open, b.high, b.low, b.close,"
            " b.volume FROM ohlcv b JOIN instruments i ON i.instrument_id = b.instrument_id"
            " ORDER BY i.source_instrument_id, b.rtype, b.ts_event"
        )
        for source, rtype, *row in cursor.fetchall():
            out.setdefault((source, rtype), []).append(tuple(row))
    return out


def stored_blocks() -> list[tuple]:
    """(source instrument, rtype, block, bar_count, first_ts, last_ts, data) in key order."""
    with connections[DB].cursor() as cursor:
        cursor.execute(
            "SELECT i.source_instrument_id, k.rtype, k.block, k.bar_count, k.first_ts, k.last_ts,"
            " k.data FROM ohlcv_blocks k JOIN instruments i ON i.instrument_id = k.instrument_id"
            " ORDER BY i.source_instrument_id, k.rtype, k.block"
        )
        return [(*row[:6], bytes(row[6])) for row in cursor.fetchall()]


def blocks_by_key() -> dict[tuple[int, int], list[tuple]]:
    """(source instrument, rtype) -> the rows of its decoded blocks, checking each block's
    metadata and that its bars lie inside the block's span."""
    out: dict[tuple[int, int], list[tuple]] = {}
    for source, rtype, block, count, first_ts, last_ts, data in stored_blocks():
        bars = block_decode(data)
        rows = [tuple(int(v) for v in r) for r in zip(*bars.columns(), strict=True)]
        span = SPAN_DAYS[rtype] * DAY_NS
        assert (len(rows), rows[0][0], rows[-1][0]) == (count, first_ts, last_ts)
        assert all(block * span <= r[0] < (block + 1) * span for r in rows)
        out.setdefault((source, rtype), []).extend(rows)
    return out


def block_counts() -> dict[tuple[int, int], dict[int, int]]:
    out: dict[tuple[int, int], dict[int, int]] = {}
    for source, rtype, block, count, *_ in stored_blocks():
        out.setdefault((source, rtype), {})[block] = count
    return out


def assert_blocks_equal_ohlcv() -> None:
    assert blocks_by_key() == ohlcv_by_key()


def execute(sql: str, params: list | None = None) -> None:
    with connections[DB].cursor() as cursor:
        cursor.execute(sql, params)


def internal_id(source: int) -> int:
    return Instrument.objects.using(DB).get(source_instrument_id=source).instrument_id


@pytest.fixture
def demo_zip(tmp_path):
    return write_batch_zip(
        tmp_path / "XNAS-blocks.zip",
        files={32: SECOND, 33: MINUTE, 34: HOURLY, 35: DAILY},
        mappings=MAPPINGS,
    )


@pytest.fixture
def small_flushes(monkeypatch):
    """Ingest writes its blocks every few rows, so blocks are merged many times per file."""
    monkeypatch.setattr(bars_service, "BLOCK_FLUSH_ROWS", 3)


# --- ingest -----------------------------------------------------------------------------------


@pytest.mark.parametrize("flushes", ["at_close", "every_3_rows"])
def test_blocks_after_ingest_of_several_symbols_and_rtypes_equal_ohlcv(demo_zip, request, flushes):
    if flushes == "every_3_rows":
        request.getfixturevalue("small_flushes")

    ingest_paths([demo_zip])

    assert block_counts() == EXPECTED_BLOCK_COUNTS
    assert_blocks_equal_ohlcv()
    assert blocks_by_key()[(100, 34)][2] == (ns("2024-01-22T00:00"), 112 * P, 114 * P, 111 * P,
                                              113 * P, 10)  # fmt: skip


def test_blocks_after_reingesting_same_file_are_unchanged(demo_zip):
    ingest_paths([demo_zip])
    before = stored_blocks()

    summary = ingest_paths([demo_zip])

    assert summary.new_bars == 0
    assert stored_blocks() == before


def test_blocks_after_overlapping_file_with_other_prices_keep_first_stored_bar(tmp_path):
    first = write_dbn(tmp_path / "a.dbn", bars=[bar(100, "2024-01-02T14:30", 50)])
    second = write_dbn(
        tmp_path / "b.dbn",
        bars=[
            bar(100, "2024-01-02T14:31", 61),
            bar(100, "2024-01-02T14:30", 60),  # same key as the stored bar, other prices
            bar(100, "2024-01-03T09:00", 62),
        ],
    )
    ingest_paths([first])

    ingest_paths([second])

    assert [r[:2] for r in blocks_by_key()[(100, 33)]] == [
        (ns("2024-01-02T14:30"), 50 * P),
        (ns("2024-01-02T14:31"), 61 * P),
        (ns("2024-01-03T09:00"), 62 * P),
    ]
    assert_blocks_equal_ohlcv()


def test_blocks_with_duplicates_inside_one_file_keep_first_occurrence(tmp_path, request):
    path = write_dbn(
        tmp_path / "dup.dbn.zst",
        bars=[
            bar(100, "2024-01-02T14:32", 72),
            bar(100, "2024-01-02T14:30", 70),
            bar(100, "2024-01-02T14:32", 82),  # repeats the first bar's key
            bar(100, "2024-01-02T14:30", 80),
            bar(100, "2024-01-02T14:31", 71),
        ],
    )

    summary = ingest_paths([path])

    assert (summary.records, summary.new_bars) == (5, 3)
    assert [r[:2] for r in blocks_by_key()[(100, 33)]] == [
        (ns("2024-01-02T14:30"), 70 * P),
        (ns("2024-01-02T14:31"), 71 * P),
        (ns("2024-01-02T14:32"), 72 * P),
    ]
    assert_blocks_equal_ohlcv()


def test_blocks_from_zip_members_overlapping_each_other_equal_ohlcv(tmp_path, small_flushes):
    first = [bar(100, f"2024-01-02T23:5{m}", 10 + m) for m in range(10)]
    second = [bar(100, "2024-01-02T23:55", 99)] + [
        bar(100, f"2024-01-03T00:0{m}", 20 + m) for m in range(5)
    ]
    members = {
        "a.ohlcv-1m.dbn": dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=first),
        "b.ohlcv-1m.dbn": dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=second),
    }
    path = write_batch_zip(tmp_path / "two.zip", extra_members=members, mappings=MAPPINGS)

    ingest_paths([path])

    assert block_counts()[(100, 33)] == {19724: 10, 19725: 5}
    assert blocks_by_key()[(100, 33)][5][:2] == (ns("2024-01-02T23:55"), 15 * P)
    assert_blocks_equal_ohlcv()


def test_ingest_after_foreign_insert_with_other_prices_rebuilds_block_from_ohlcv(tmp_path):
    ingest_paths([write_dbn(tmp_path / "a.dbn", bars=[bar(100, "2024-01-02T14:30", 50)])])
    execute(  # a script inserts a bar, bypassing ingest (no INSERT trigger)
        "INSERT INTO ohlcv (instrument_id, rtype, ts_event, open, high, low, close, volume)"
        " VALUES (%s, 33, %s, %s, %s, %s, %s, 1)",
        [internal_id(100), ns("2024-01-02T14:31"), 40 * P, 40 * P, 40 * P, 40 * P],
    )

    # The file carries the same bar with other prices: ohlcv keeps the script's, and the
    # block (one bar short before the ingest) must not take the file's.
    ingest_paths([write_dbn(tmp_path / "b.dbn", bars=[bar(100, "2024-01-02T14:31", 60)])])

    assert [r[:2] for r in blocks_by_key()[(100, 33)]] == [
        (ns("2024-01-02T14:30"), 50 * P),
        (ns("2024-01-02T14:31"), 40 * P),
    ]
    assert_blocks_equal_ohlcv()


def test_ingest_after_update_by_sql_rebuilds_the_dropped_block(tmp_path):
    ingest_paths([write_dbn(tmp_path / "a.dbn", bars=MINUTE)])
    execute(
        "UPDATE ohlcv SET close = high WHERE instrument_id = %s AND ts_event = %s",
        [internal_id(100), ns("2024-01-03T00:00")],
    )
    assert 19725 not in block_counts()[(100, 33)]  # the trigger dropped it

    ingest_paths([write_dbn(tmp_path / "b.dbn", bars=[bar(100, "2024-01-03T20:00", 105)])])

    assert block_counts()[(100, 33)] == {19724: 2, 19725: 4}
    assert blocks_by_key()[(100, 33)][2][4] == 104 * P  # close = high of that bar
    assert_blocks_equal_ohlcv()


def test_ingest_into_block_with_corrupt_data_rebuilds_it(tmp_path):
    ingest_paths([write_dbn(tmp_path / "a.dbn", bars=MINUTE)])
    execute("UPDATE ohlcv_blocks SET data = %s WHERE block = 19725", [b"\x01garbage"])

    ingest_paths([write_dbn(tmp_path / "b.dbn", bars=[bar(100, "2024-01-03T20:00", 105)])])

    assert block_counts()[(100, 33)] == {19724: 2, 19725: 4}
    assert blocks_by_key()[(100, 33)] == ohlcv_by_key()[(100, 33)]


# --- failures roll the blocks back ------------------------------------------------------------


def test_failed_zip_with_corrupt_second_member_leaves_no_blocks(tmp_path, small_flushes):
    good = compress(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=MINUTE))
    bad = compress(dbn_bytes(dataset="XNAS.ITCH", rtype=35, bars=DAILY))[:-6]
    path = write_batch_zip(
        tmp_path / "broken.zip",
        mappings=MAPPINGS,
        extra_members={"a.ohlcv-1m.dbn.zst": good, "b.ohlcv-1d.dbn.zst": bad},
    )

    with pytest.raises(InvalidInput, match="truncated zstd stream"):
        ingest_paths([path])

    assert stored_blocks() == []
    assert ohlcv_by_key() == {}


def test_failed_second_file_keeps_blocks_of_first_only(tmp_path, small_flushes):
    write_dbn(tmp_path / "in" / "a.dbn", bars=MINUTE)
    bad = tmp_path / "in" / "b.dbn"
    bad.write_bytes(dbn_bytes(dataset="XNAS.ITCH", rtype=34, bars=HOURLY)[:-1])

    with pytest.raises(InvalidInput, match="b.dbn"):
        ingest_paths([tmp_path / "in"])

    assert set(block_counts()) == {(100, 33), (200, 33)}
    assert_blocks_equal_ohlcv()


# --- rebuild ----------------------------------------------------------------------------------


def test_rebuild_command_restores_deleted_blocks_byte_for_byte(demo_zip, capsys):
    ingest_paths([demo_zip])
    written_by_ingest = stored_blocks()
    execute("DELETE FROM ohlcv_blocks")

    call_command("rebuild_bar_blocks")

    assert stored_blocks() == written_by_ingest
    out = capsys.readouterr().out
    assert out.startswith("Rebuilt bar blocks of all publishers: 10 blocks for 2 instruments in ")


def test_rebuild_reads_in_chunks_and_joins_blocks_across_them(demo_zip, monkeypatch):
    ingest_paths([demo_zip])
    written_by_ingest = stored_blocks()
    monkeypatch.setattr(bar_blocks_service, "REBUILD_CHUNK_ROWS", 2)

    blocks = bar_blocks_service.bar_blocks_rebuild()

    assert blocks == 10
    assert stored_blocks() == written_by_ingest


def test_rebuild_drops_blocks_of_bars_gone_without_triggers(demo_zip):
    ingest_paths([demo_zip])
    execute("DROP TRIGGER ohlcv_blocks_forget_deleted" + _on_ohlcv())
    execute("DELETE FROM ohlcv WHERE rtype = 35")

    bar_blocks_service.bar_blocks_rebuild()

    assert (100, 35) not in block_counts()
    assert_blocks_equal_ohlcv()


def _on_ohlcv() -> str:
    return " ON ohlcv" if connections[DB].vendor == "postgresql" else ""


def test_rebuild_one_publisher_leaves_other_publishers_alone(tmp_path, capsys):
    ingest_paths([write_dbn(tmp_path / "x.dbn", dataset="XNAS.ITCH", bars=MINUTE[:2])])
    ingest_paths([write_dbn(tmp_path / "g.dbn", dataset="GLBX.MDP3", bars=MINUTE[5:])])
    glbx = Publisher.objects.using(DB).get(dataset="GLBX.MDP3").publisher_id
    execute("DELETE FROM ohlcv_blocks")

    call_command("rebuild_bar_blocks", "--publisher-id", str(glbx))

    assert set(block_counts()) == {(200, 33)}
    assert capsys.readouterr().out.startswith(
        f"Rebuilt bar blocks of publisher {glbx}: 2 blocks for 1 instruments in "
    )


@pytest.mark.parametrize(
    ("argument", "message"),
    [("999", "no publisher with id 999"), ("x", "invalid int value: 'x'")],
)
def test_rebuild_command_bad_publisher_raises_command_error(argument, message):
    with pytest.raises(CommandError, match=message):
        call_command("rebuild_bar_blocks", "--publisher-id", argument)


# --- cascades ---------------------------------------------------------------------------------


def test_deleting_instrument_deletes_its_blocks(demo_zip):
    ingest_paths([demo_zip])

    Instrument.objects.using(DB).filter(source_instrument_id=100).delete()

    assert set(block_counts()) == {(200, 33), (200, 32)}
    assert_blocks_equal_ohlcv()


def test_deleting_publisher_deletes_all_its_blocks(demo_zip):
    ingest_paths([demo_zip])

    Publisher.objects.using(DB).all().delete()

    assert stored_blocks() == []


# --- migrations -------------------------------------------------------------------------------


def test_trigger_migration_block_days_equal_code_block_days():
    from importlib import import_module

    migration = import_module("secmaster.migrations.0004_ohlcv_blocks_triggers")

    assert migration.BLOCK_DAYS == bar_blocks.BLOCK_DAYS == SPAN_DAYS


@pytest.mark.django_db(databases=["default", "secmaster"], transaction=True)
def test_upgrade_migration_builds_blocks_for_stored_bars(demo_zip):
    ingest_paths([demo_zip])
    expected = stored_blocks()
    connection = connections[DB]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("secmaster", "0002_admin_views")])  # before the blocks existed
        with connection.cursor() as cursor:
            assert "ohlcv_blocks" not in connection.introspection.table_names(cursor)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()

        executor.migrate([("secmaster", "0005_ohlcv_blocks_build")])

        assert stored_blocks() == expected
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("secmaster"))
