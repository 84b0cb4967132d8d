"""bar_columns_read returns exactly the ohlcv rows, from blocks while they are in step.

After ingesting real DBN files, ohlcv is changed behind the blocks' back with plain SQL
(UPDATE and DELETE fire the triggers, INSERT does not), and blocks are deleted or damaged by
hand: every read must still equal ``SELECT ... FROM ohlcv ... ORDER BY ts_event``.
"""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from secmaster.services.bar_blocks import bar_block_counts, bar_blocks_rebuild, bar_columns_read
from tests.dbn_files import P, ingest_paths, ns, write_batch_zip
from tests.secmaster.test_bar_blocks_ingest import (
    DAILY,
    HOURLY,
    MAPPINGS,
    MINUTE,
    SECOND,
    block_counts,
    execute,
    internal_id,
    stored_blocks,
)

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

DB = "secmaster"
I64_MIN, END = -(2**63), 2**63
DAY_DATES = ["2026-01-25", "2026-01-26", "2026-01-27", "2026-01-28"]
RANGES = [
    (I64_MIN, END),  # everything
    (ns("2024-01-02T23:59"), ns("2024-01-03T00:01")),  # across a minute-block boundary
    (ns("2024-01-02T23:58"), ns("2024-01-02T23:58") + 1),  # one bar
    (ns("2024-01-03T00:00"), ns("2024-01-04T00:00")),  # exactly one block
    (ns("2024-01-02T00:00"), ns("2024-01-05T00:00")),  # three blocks, one of them empty
    (ns("2024-01-03T00:00"), ns("2024-01-03T00:00")),  # empty range
    (ns("2024-01-04T00:00"), ns("2024-01-03T00:00")),  # reversed range
    (ns("2023-01-01T00:00"), ns("2023-12-31T00:00")),  # before the data
    (ns("2024-01-21T23:00"), ns("2026-01-27T00:00")),  # hourly and daily block boundaries
    (ns("2026-01-26T00:00"), END),
]


@pytest.fixture
def stored(tmp_path):
    path = write_batch_zip(
        tmp_path / "XNAS.zip",
        files={32: SECOND, 33: MINUTE, 34: HOURLY, 35: DAILY},
        mappings=MAPPINGS,
    )
    ingest_paths([path])


def ohlcv_rows(instrument_id: int, rtype: int, start_ns: int, end_ns: int) -> list[tuple]:
    """The source of truth, read the plain way ([start, end) as int64 bounds)."""
    with connections[DB].cursor() as cursor:
        cursor.execute(
            "SELECT ts_event, open, high, low, close, volume FROM ohlcv"
            " WHERE instrument_id = %s AND rtype = %s AND ts_event >= %s AND ts_event <= %s"
            " ORDER BY ts_event",
            [instrument_id, rtype, max(start_ns, I64_MIN), min(end_ns - 1, 2**63 - 1)],
        )
        return [tuple(r) for r in cursor.fetchall()]


def read(instrument_id: int, rtype: int, start_ns: int, end_ns: int, **options) -> list[tuple]:
    connection = connections[DB]
    with connection.cursor() as cursor:
        bars = bar_columns_read(
            cursor=cursor,
            vendor=connection.vendor,
            instrument_id=instrument_id,
            rtype=rtype,
            start_ns=start_ns,
            end_ns=end_ns,
            **options,
        )
    assert all(c.dtype.kind == "i" and c.dtype.itemsize == 8 for c in bars.columns())
    return [tuple(int(v) for v in row) for row in zip(*bars.columns(), strict=True)]


KEYS = [(100, 33), (200, 33), (100, 34), (100, 35), (200, 32), (100, 32)]


def reads_of_all_ranges() -> tuple[dict, list[str]]:
    """bar_columns_read of every key and range, and the queries it made that read ohlcv rows
    (rather than blocks or counts)."""
    ranges = [(internal_id(s), rtype, start, end) for s, rtype in KEYS for start, end in RANGES]
    with CaptureQueriesContext(connections[DB]) as queries:
        reads = {key: read(*key) for key in ranges}
    return reads, [q["sql"] for q in queries.captured_queries if "ORDER BY ts_event" in q["sql"]]


def assert_reads_equal_ohlcv() -> None:
    reads, _ = reads_of_all_ranges()
    assert reads == {key: ohlcv_rows(*key) for key in reads}


def test_read_assorted_ranges_equal_ohlcv_and_use_only_blocks(stored):
    reads, ohlcv_reads = reads_of_all_ranges()

    assert reads == {key: ohlcv_rows(*key) for key in reads}
    assert ohlcv_reads == []
    assert read(internal_id(100), 33, *RANGES[1]) == [
        (ns("2024-01-02T23:59"), 101 * P, 103 * P, 100 * P, 102 * P, 10),
        (ns("2024-01-03T00:00"), 102 * P, 104 * P, 101 * P, 103 * P, 10),
    ]


def test_read_with_counts_given_equals_ohlcv(stored):
    connection = connections[DB]
    instrument = internal_id(100)
    with connection.cursor() as cursor:
        counts = bar_block_counts(
            cursor=cursor,
            vendor=connection.vendor,
            instrument_id=instrument,
            rtype=33,
            start_ns=ns("2024-01-02T23:59"),
            end_ns=END,
        )

    assert counts == {19724: 1, 19725: 3}
    assert read(instrument, 33, ns("2024-01-02T23:59"), END, counts=counts) == ohlcv_rows(
        instrument, 33, ns("2024-01-02T23:59"), END
    )


def test_read_after_price_update_by_sql_returns_new_price(stored):
    instrument = internal_id(100)
    execute(
        "UPDATE ohlcv SET high = high + 5000000000, close = close + 5000000000"
        " WHERE instrument_id = %s"
        " AND rtype = 33 AND ts_event = %s",
        [instrument, ns("2024-01-03T00:01")],
    )

    assert 19725 not in block_counts()[(100, 33)]  # dropped by the trigger
    assert read(instrument, 33, ns("2024-01-03T00:01"), ns("2024-01-03T00:02")) == [
        (ns("2024-01-03T00:01"), 103 * P, 110 * P, 102 * P, 109 * P, 10)
    ]
    assert_reads_equal_ohlcv()


def test_update_moving_bar_to_another_block_drops_both_blocks(stored):
    execute(
        "UPDATE ohlcv SET ts_event = %s WHERE instrument_id = %s AND rtype = 34 AND ts_event = %s",
        [ns("2024-01-23T05:00"), internal_id(100), ns("2024-01-21T22:00")],
    )

    assert (100, 34) not in block_counts()  # old block 616 and new block 617
    assert [r[0] for r in read(internal_id(100), 34, I64_MIN, END)] == [
        ns("2024-01-21T23:00"),
        ns("2024-01-22T00:00"),
        ns("2024-01-23T05:00"),
    ]
    assert_reads_equal_ohlcv()


def test_read_after_delete_by_sql_omits_the_bar(stored):
    execute(
        "DELETE FROM ohlcv WHERE instrument_id = %s AND rtype = 35 AND ts_event = %s",
        [internal_id(100), ns("2026-01-27")],
    )

    assert block_counts()[(100, 35)] == {19: 2}
    assert [r[0] for r in read(internal_id(100), 35, I64_MIN, END)] == [
        ns("2026-01-25"),
        ns("2026-01-26"),
        ns("2026-01-28"),
    ]
    assert_reads_equal_ohlcv()


def test_read_after_insert_by_sql_includes_the_bar_despite_stale_block(stored):
    instrument = internal_id(100)
    execute(
        "INSERT INTO ohlcv (instrument_id, rtype, ts_event, open, high, low, close, volume)"
        " VALUES (%s, 33, %s, %s, %s, %s, %s, 7)",
        [instrument, ns("2024-01-03T00:02"), 5 * P, 6 * P, 4 * P, 5 * P],
    )
    assert block_counts()[(100, 33)] == {19724: 2, 19725: 3}  # no INSERT trigger: now stale

    with CaptureQueriesContext(connections[DB]) as queries:
        rows = read(instrument, 33, ns("2024-01-02T23:59"), END)
    ohlcv_reads = [q["sql"] for q in queries.captured_queries if "ORDER BY ts_event" in q["sql"]]

    assert rows[-2:] == [
        (ns("2024-01-03T00:02"), 5 * P, 6 * P, 4 * P, 5 * P, 7),
        (ns("2024-01-03T14:30"), 104 * P, 106 * P, 103 * P, 105 * P, 10),
    ]
    assert len(ohlcv_reads) == 1  # only the stale block came from ohlcv
    assert_reads_equal_ohlcv()


def test_read_after_block_deleted_by_hand_equals_ohlcv(stored):
    execute("DELETE FROM ohlcv_blocks WHERE block IN (19724, 616, 19)")

    assert_reads_equal_ohlcv()


def test_read_with_corrupt_or_foreign_blocks_equals_ohlcv(stored):
    execute("UPDATE ohlcv_blocks SET data = %s WHERE block = 19725", [b"\x01not zstd"])
    execute("UPDATE ohlcv_blocks SET data = %s WHERE block = 617", [b"\x07future format"])

    assert_reads_equal_ohlcv()


def test_read_block_without_ohlcv_rows_is_ignored(stored):
    instrument = internal_id(200)
    execute("DROP TRIGGER ohlcv_blocks_forget_deleted" + _on_ohlcv())
    execute("DELETE FROM ohlcv WHERE instrument_id = %s AND rtype = 32", [instrument])

    assert (200, 32) in block_counts()  # no trigger any more: the blocks outlive their rows
    assert read(instrument, 32, I64_MIN, END) == []


def _on_ohlcv() -> str:
    return " ON ohlcv" if connections[DB].vendor == "postgresql" else ""


def test_read_never_writes(stored):
    execute("DELETE FROM ohlcv_blocks WHERE block = 19724")
    before = stored_blocks()

    assert_reads_equal_ohlcv()

    assert stored_blocks() == before


def test_negative_timestamps_use_floor_blocks_in_triggers_and_reads(stored):
    instrument = internal_id(100)
    execute(
        "INSERT INTO ohlcv (instrument_id, rtype, ts_event, open, high, low, close, volume)"
        " VALUES (%s, 33, -1, 1, 3, 1, 2, 1), (%s, 33, -86400000000001, 4, 6, 4, 5, 1)",
        [instrument, instrument],
    )
    bar_blocks_rebuild()
    assert block_counts()[(100, 33)] == {-2: 1, -1: 1, 19724: 2, 19725: 3}
    assert read(instrument, 33, -(10**15), 0) == [
        (-86400000000001, 4, 6, 4, 5, 1),
        (-1, 1, 3, 1, 2, 1),
    ]

    execute(  # block -1 (floor), not 0 (truncation)
        "UPDATE ohlcv SET close = 3 WHERE instrument_id = %s AND ts_event = -1", [instrument]
    )

    assert block_counts()[(100, 33)] == {-2: 1, 19724: 2, 19725: 3}
    assert read(instrument, 33, -(10**15), 0)[-1] == (-1, 1, 3, 1, 3, 1)
    assert_reads_equal_ohlcv()


def test_int64_extreme_timestamps_are_counted_and_read(stored):
    instrument = internal_id(100)
    execute(
        "INSERT INTO ohlcv (instrument_id, rtype, ts_event, open, high, low, close, volume)"
        " VALUES (%s, 35, %s, 1, 3, 1, 2, 1), (%s, 35, %s, 4, 6, 4, 5, 1)",
        [instrument, I64_MIN, instrument, 2**63 - 1],
    )
    bar_blocks_rebuild()
    connection = connections[DB]

    with connection.cursor() as cursor:
        counts = bar_block_counts(
            cursor=cursor,
            vendor=connection.vendor,
            instrument_id=instrument,
            rtype=35,
            start_ns=-(2**70),
            end_ns=2**70,
        )

    # 1024-day blocks: -2**63 ns is day -106,751.99 -> block -105; 2**63 - 1 -> block 104.
    assert counts == {-105: 1, 19: 2, 20: 2, 104: 1}
    assert block_counts()[(100, 35)] == counts
    rows = read(instrument, 35, -(2**70), 2**70)
    assert [r[0] for r in rows] == [I64_MIN, *[ns(d) for d in DAY_DATES], 2**63 - 1]
    assert rows == ohlcv_rows(instrument, 35, I64_MIN, END)


@pytest.mark.backend("postgresql", database=DB)  # SQLite deletes row by row (tested above)
def test_truncate_on_postgresql_empties_blocks(stored):
    execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending deferred FK checks
    execute("TRUNCATE ohlcv")

    assert stored_blocks() == []
