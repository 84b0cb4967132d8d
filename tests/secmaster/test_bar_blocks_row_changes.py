"""Every way a row of ``ohlcv`` can change leaves reads equal to ``ohlcv`` (issue 12 item 3).

After ingesting real DBN files, one bar is changed with plain SQL in each way SQLite and
PostgreSQL offer: UPDATE of any column (key columns too), DELETE, SQLite's INSERT OR REPLACE,
REPLACE INTO and UPDATE OR REPLACE, and the UPSERT ``ON CONFLICT DO UPDATE``. Then the bar
read (``bar_columns_read``) and the backtest's datafeed must show the new values, as
``SELECT ... FROM ohlcv`` does. The expected values are written out here by hand.
"""

from __future__ import annotations

import pytest

from backtests.engine.enums import BarPeriod
from backtests.feeds import SecmasterDatafeed
from secmaster.models import Publisher
from tests.dbn_files import P, ingest_paths, ns, write_batch_zip
from tests.secmaster.test_bar_blocks_ingest import (
    DAILY,
    HOURLY,
    MAPPINGS,
    MINUTE,
    SECOND,
    assert_blocks_equal_ohlcv,
    block_counts,
    execute,
    internal_id,
)
from tests.secmaster.test_bar_blocks_read import (
    END,
    I64_MIN,
    assert_reads_equal_ohlcv,
    ohlcv_rows,
    read,
)

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

DB = "secmaster"
COLUMNS = "instrument_id, rtype, ts_event, open, high, low, close, volume"
BAR_TS = ns("2024-01-03T00:01")  # AAPL's minute bar at 103: open 103, high 105, low 102, close 104
CORRECTED = (103 * P, 210 * P, 102 * P, 208 * P, 99)  # the close doubled, as a correction
ROW = "(%s, 33, %s, %s, %s, %s, %s, %s)"


@pytest.fixture
def stored(tmp_path):
    ingest_paths(
        [
            write_batch_zip(
                tmp_path / "XNAS.zip",
                files={32: SECOND, 33: MINUTE, 34: HOURLY, 35: DAILY},
                mappings=MAPPINGS,
            )
        ]
    )
    assert block_counts()[(100, 33)] == {19724: 2, 19725: 3}  # blocks in use before the change


def corrected_bar_read() -> list[tuple]:
    return read(internal_id(100), 33, BAR_TS, BAR_TS + 1)


def feed_closes() -> dict[int, float]:
    """AAPL's minute closes as a backtest's datafeed delivers them."""
    feed = SecmasterDatafeed(
        symbols=["AAPL"],
        bar_period=BarPeriod.MINUTE,
        publisher_id=Publisher.objects.using(DB).get().publisher_id,
    )
    return {bar.ts_event_ns: bar.close for batch in feed.batches() for bar in batch}


def assert_corrected() -> None:
    assert corrected_bar_read() == [(BAR_TS, *CORRECTED)]
    assert feed_closes()[BAR_TS] == 208.0
    assert_reads_equal_ohlcv()


@pytest.mark.backend("sqlite", database=DB)
@pytest.mark.parametrize("statement", ["INSERT OR REPLACE INTO", "REPLACE INTO"])
def test_replace_on_sqlite_reads_the_new_row(stored, statement):
    execute(f"{statement} ohlcv ({COLUMNS}) VALUES {ROW}", [internal_id(100), BAR_TS, *CORRECTED])

    assert 19725 not in block_counts()[(100, 33)]  # the replaced row's block was dropped
    assert_corrected()


@pytest.mark.backend("sqlite", database=DB)
def test_replace_with_identical_values_on_sqlite_keeps_the_block(stored):
    execute(
        f"INSERT OR REPLACE INTO ohlcv ({COLUMNS}) VALUES {ROW}",
        [internal_id(100), BAR_TS, 103 * P, 105 * P, 102 * P, 104 * P, 10],
    )

    assert block_counts()[(100, 33)] == {19724: 2, 19725: 3}
    assert feed_closes()[BAR_TS] == 104.0
    assert_reads_equal_ohlcv()


@pytest.mark.backend("sqlite", database=DB)
def test_insert_or_replace_of_several_rows_on_sqlite_reads_each_new_row(stored):
    instrument = internal_id(100)
    execute(
        f"INSERT OR REPLACE INTO ohlcv ({COLUMNS}) VALUES {ROW}, {ROW}",
        [instrument, ns("2024-01-02T23:58"), 1 * P, 2 * P, 1 * P, 2 * P, 1]
        + [instrument, ns("2024-01-03T14:30"), 3 * P, 4 * P, 3 * P, 4 * P, 1],
    )

    assert (100, 33) not in block_counts()  # both blocks dropped
    closes = feed_closes()
    assert closes[ns("2024-01-02T23:58")] == 2.0 and closes[ns("2024-01-03T14:30")] == 4.0
    assert_reads_equal_ohlcv()


def test_upsert_do_update_reads_the_new_row(stored):
    execute(
        f"INSERT INTO ohlcv ({COLUMNS}) VALUES {ROW} ON CONFLICT (instrument_id, rtype, ts_event)"
        " DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,"
        " close = excluded.close, volume = excluded.volume",
        [internal_id(100), BAR_TS, *CORRECTED],
    )

    assert_corrected()


def test_upsert_do_nothing_with_other_values_changes_nothing(stored):
    execute(
        f"INSERT INTO ohlcv ({COLUMNS}) VALUES {ROW} ON CONFLICT DO NOTHING",
        [internal_id(100), BAR_TS, *CORRECTED],
    )

    assert feed_closes()[BAR_TS] == 104.0
    assert_reads_equal_ohlcv()


def test_update_of_all_value_columns_reads_the_new_row(stored):
    execute(
        "UPDATE ohlcv SET open = %s, high = %s, low = %s, close = %s, volume = %s"
        " WHERE instrument_id = %s AND rtype = 33 AND ts_event = %s",
        [*CORRECTED, internal_id(100), BAR_TS],
    )

    assert_corrected()


@pytest.mark.parametrize(
    ("column", "value", "moved_to"),
    [
        ("ts_event", ns("2024-01-05T10:00"), (100, 33, ns("2024-01-05T10:00"))),
        ("instrument_id", "msft", (200, 33, BAR_TS)),
        ("rtype", 34, (100, 34, BAR_TS)),
    ],
)
def test_update_of_a_key_column_moves_the_bar_in_reads(stored, column, value, moved_to):
    target = internal_id(200) if value == "msft" else value
    execute(
        f"UPDATE ohlcv SET {column} = %s WHERE instrument_id = %s AND rtype = 33 AND ts_event = %s",
        [target, internal_id(100), BAR_TS],
    )

    source, rtype, ts = moved_to
    assert corrected_bar_read() == []
    assert BAR_TS not in feed_closes()
    assert read(internal_id(source), rtype, ts, ts + 1) == [
        (ts, 103 * P, 105 * P, 102 * P, 104 * P, 10)
    ]
    assert_reads_equal_ohlcv()


@pytest.mark.backend("sqlite", database=DB)
def test_update_or_replace_onto_another_rows_key_on_sqlite_reads_ohlcv(stored):
    instrument = internal_id(100)
    execute(  # 00:00's bar takes 00:01's key: 00:01's old row is deleted without a trigger
        "UPDATE OR REPLACE ohlcv SET ts_event = %s"
        " WHERE instrument_id = %s AND rtype = 33 AND ts_event = %s",
        [BAR_TS, instrument, ns("2024-01-03T00:00")],
    )

    assert corrected_bar_read() == [(BAR_TS, 102 * P, 104 * P, 101 * P, 103 * P, 10)]
    closes = feed_closes()
    assert closes[BAR_TS] == 103.0 and ns("2024-01-03T00:00") not in closes
    assert_reads_equal_ohlcv()


def test_delete_then_insert_of_other_values_reads_the_new_row(stored):
    instrument = internal_id(100)
    execute(
        "DELETE FROM ohlcv WHERE instrument_id = %s AND rtype = 33 AND ts_event = %s",
        [instrument, BAR_TS],
    )
    execute(f"INSERT INTO ohlcv ({COLUMNS}) VALUES {ROW}", [instrument, BAR_TS, *CORRECTED])

    assert_corrected()


@pytest.mark.backend("sqlite", database=DB)
def test_ingest_after_replace_rebuilds_the_dropped_block(stored, tmp_path):
    execute(f"REPLACE INTO ohlcv ({COLUMNS}) VALUES {ROW}", [internal_id(100), BAR_TS, *CORRECTED])
    later = [(100, ns("2024-01-03T15:00"), 106 * P, 107 * P, 105 * P, 106 * P, 5)]
    ingest_paths([write_batch_zip(tmp_path / "later.zip", files={33: later}, mappings=MAPPINGS)])

    assert block_counts()[(100, 33)] == {19724: 2, 19725: 4}
    assert_blocks_equal_ohlcv()
    assert_corrected()


def test_reingest_of_a_file_with_other_prices_keeps_stored_bars_and_blocks_in_step(
    stored, tmp_path
):
    # The same key with other values: ON CONFLICT DO NOTHING keeps the stored bar; on SQLite
    # the REPLACE trigger drops its block on the way, and ingest must write it again in full.
    other = [
        (100, BAR_TS, *CORRECTED),
        (100, ns("2024-01-03T15:00"), 106 * P, 107 * P, 105 * P, 106 * P, 5),
    ]
    ingest_paths([write_batch_zip(tmp_path / "other.zip", files={33: other}, mappings=MAPPINGS)])

    assert block_counts()[(100, 33)] == {19724: 2, 19725: 4}
    assert_blocks_equal_ohlcv()
    assert feed_closes()[BAR_TS] == 104.0
    assert ohlcv_rows(internal_id(100), 33, I64_MIN, END)[-2:] == [
        (ns("2024-01-03T14:30"), 104 * P, 106 * P, 103 * P, 105 * P, 10),
        (ns("2024-01-03T15:00"), 106 * P, 107 * P, 105 * P, 106 * P, 5),
    ]
