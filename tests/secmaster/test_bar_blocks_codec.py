"""The bar block codec and merge rules (secmaster.bar_blocks): no database involved."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import zstandard

from secmaster import bar_blocks
from secmaster.bar_blocks import (
    BLOCK_DAYS,
    NS_PER_DAY,
    BarColumns,
    block_decode,
    block_encode,
    block_merge,
    block_of,
    block_span_ns,
)
from tests.dbn_files import ns

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def _bars(rows) -> BarColumns:
    """BarColumns from (ts, open, high, low, close, volume) tuples, via plain Python lists."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    return BarColumns(*(np.array(c, dtype=np.int64) for c in columns))


def _rows(bars: BarColumns) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in row) for row in zip(*bars.columns(), strict=True)]


def _random_bars(rng: np.random.Generator, n: int, *, full_range: bool = False) -> BarColumns:
    ts = np.sort(rng.choice(10**12, size=n, replace=False)).astype(np.int64) + ns("2024-01-02")
    if full_range:  # any int64 in every column: deltas overflow and must wrap back
        ts[0] = I64_MIN
        ts[-1] = I64_MAX
        values = (rng.integers(I64_MIN, I64_MAX, n, dtype=np.int64, endpoint=True) for _ in "ohlcv")
        return BarColumns(ts, *values)
    close = 100_000_000_000 + rng.integers(-(10**9), 10**9, n).cumsum()
    return BarColumns(ts, close - 7, close + 9, close - 11, close, rng.integers(0, 10**6, n))


# --- block_of ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "rtype", "expected"),
    [
        (0, 33, 0),
        (NS_PER_DAY - 1, 33, 0),
        (NS_PER_DAY, 33, 1),
        (-1, 33, -1),  # truncation toward zero would say 0
        (-NS_PER_DAY, 32, -1),
        (-NS_PER_DAY - 1, 32, -2),
        (I64_MIN, 33, -106752),  # -2**63 ns is 106,751.99... days before the epoch
        (I64_MAX, 33, 106751),
        (ns("2024-01-02T14:30"), 33, 19724),  # 2024-01-02 is day 19,724 since 1970-01-01
        (ns("2024-01-21T23:00"), 34, 616),  # 32-day blocks: 617 * 32 = 19,744 = 2024-01-22
        (ns("2024-01-22T00:00"), 34, 617),
        (ns("2026-01-26T00:00"), 35, 19),  # 1024-day blocks: 20 * 1024 = 20,480 = 2026-01-27
        (ns("2026-01-27T00:00"), 36, 20),
    ],
)
def test_block_of_hand_values_floor_division(ts, rtype, expected):
    assert block_of(ts, rtype) == expected


def test_block_of_hand_boundaries_are_the_dates_named_above():
    epoch = dt.date(1970, 1, 1)
    assert epoch + dt.timedelta(days=617 * 32) == dt.date(2024, 1, 22)
    assert epoch + dt.timedelta(days=20 * 1024) == dt.date(2026, 1, 27)


def test_block_of_array_matches_python_floor_per_element():
    ts = np.array([I64_MIN, -NS_PER_DAY - 1, -1, 0, 5, NS_PER_DAY * 40, I64_MAX], dtype=np.int64)
    for rtype, days in BLOCK_DAYS.items():
        span = days * 86_400 * 10**9
        assert block_of(ts, rtype).tolist() == [int(t) // span for t in ts.tolist()]


def test_block_span_unknown_rtype_raises_value_error():
    with pytest.raises(ValueError, match="no bar blocks for rtype 37"):
        block_span_ns(37)


# --- codec ------------------------------------------------------------------------------------


def test_codec_one_bar_round_trips():
    bars = _bars([(ns("2024-01-02T14:30"), 5, 9, 1, 7, 100)])

    assert _rows(block_decode(block_encode(bars))) == [(ns("2024-01-02T14:30"), 5, 9, 1, 7, 100)]


def test_codec_int64_extremes_round_trip():
    rows = [
        (I64_MIN, I64_MAX, I64_MAX, I64_MIN, 0, 0),
        (-1, I64_MIN, I64_MAX, -1, I64_MAX, I64_MAX),
        (0, 0, 0, 0, 0, 0),
        (1, I64_MAX, I64_MIN, I64_MAX, I64_MIN, 1),
        (I64_MAX, -1, 1, I64_MIN, I64_MAX, I64_MIN),
    ]

    assert _rows(block_decode(block_encode(_bars(rows)))) == rows


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [2, 390, 23_400])
@pytest.mark.parametrize("full_range", [False, True])
def test_codec_random_bars_round_trip(seed, n, full_range):
    bars = _random_bars(np.random.default_rng(seed), n, full_range=full_range)

    decoded = block_decode(block_encode(bars))

    assert _rows(decoded) == _rows(bars)
    assert all(c.dtype == np.int64 for c in decoded.columns())


def test_codec_empty_round_trips():
    assert len(block_decode(block_encode(BarColumns.empty()))) == 0


def test_codec_format_is_version_byte_then_zstd_of_deltas():
    rows = [(10, 100, 110, 90, 105, 3), (25, 105, 130, 100, 101, 0), (26, I64_MIN, 0, 0, 0, 0)]

    blob = block_encode(_bars(rows))

    assert blob[0] == 1
    raw = zstandard.ZstdDecompressor().decompress(blob[1:])
    words = [int.from_bytes(raw[i : i + 8], "little", signed=True) for i in range(0, len(raw), 8)]
    expected = []
    for column in zip(*rows, strict=True):  # column-major; deltas wrap modulo 2**64
        previous = 0
        for value in column:
            delta = (value - previous) % 2**64
            expected.append(delta - 2**64 if delta >= 2**63 else delta)
            previous = value
    assert words == expected


def _frame(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(raw)


def _deltas(*rows: tuple[int, ...]) -> bytes:
    return np.array(rows, dtype="<i8").T.tobytes()


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", bar_blocks.MSG_EMPTY_BLOB),
        (bytes([2]) + _frame(_deltas((1, 1, 1, 1, 1, 1))), "unknown format version 2"),
        (bytes([0]) + _frame(_deltas((1, 1, 1, 1, 1, 1))), "unknown format version 0"),
        (bytes([1]) + b"not a zstd frame at all", "corrupt data"),
        (bytes([1]), "corrupt data"),
        (bytes([1]) + _frame(b"\x00" * 47), "corrupt data"),  # not whole bars
        (bytes([1]) + _frame(_deltas((5, 1, 1, 1, 1, 1), (0, 0, 0, 0, 0, 0))), "do not increase"),
    ],
)
def test_decode_bad_blob_raises_value_error(blob, message):
    with pytest.raises(ValueError, match=message):
        block_decode(blob)


def test_decode_truncated_or_flipped_blob_raises_value_error():
    blob = block_encode(_random_bars(np.random.default_rng(3), 500))

    for bad in (blob[:-1], blob[: len(blob) // 2], blob[:-4] + bytes(b ^ 0xFF for b in blob[-4:])):
        with pytest.raises(ValueError, match="corrupt data"):
            block_decode(bad)
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x01
    with pytest.raises(ValueError, match="corrupt data"):
        block_decode(bytes(flipped))


@pytest.mark.parametrize(
    ("bars", "message"),
    [
        (_bars([(5, 1, 1, 1, 1, 1), (5, 2, 2, 2, 2, 2)]), "strictly increasing"),
        (_bars([(6, 1, 1, 1, 1, 1), (5, 2, 2, 2, 2, 2)]), "strictly increasing"),
        (BarColumns(*(np.arange(3),) * 5, np.arange(2)), "differ in length"),
    ],
)
def test_encode_bad_columns_raises_value_error(bars, message):
    with pytest.raises(ValueError, match=message):
        block_encode(bars)


# --- columns ----------------------------------------------------------------------------------


def test_slice_ts_keeps_rows_in_half_open_range():
    bars = _bars([(t, t, t, t, t, 1) for t in (10, 20, 30, 40)])

    assert [r[0] for r in _rows(bars.slice_ts(20, 40))] == [20, 30]
    assert [r[0] for r in _rows(bars.slice_ts(11, 41))] == [20, 30, 40]
    assert [r[0] for r in _rows(bars.slice_ts(I64_MIN, 2**63))] == [10, 20, 30, 40]
    assert len(bars.slice_ts(41, 100)) == 0
    assert len(bars.slice_ts(30, 30)) == 0
    assert len(bars.slice_ts(30, 20)) == 0


def test_slice_ts_open_end_beyond_int64_keeps_int64_max():
    bars = _bars([(t, 1, 1, 1, 1, 1) for t in (I64_MIN, -1, I64_MAX - 1, I64_MAX)])

    assert [r[0] for r in _rows(bars.slice_ts(I64_MAX, 2**63))] == [I64_MAX]
    assert [r[0] for r in _rows(bars.slice_ts(-(2**70), I64_MIN + 1))] == [I64_MIN]
    assert [r[0] for r in _rows(bars.slice_ts(-(2**70), 2**70))] == [I64_MIN, -1, I64_MAX - 1,
                                                                      I64_MAX]  # fmt: skip
    assert len(bars.slice_ts(2**63, 2**64)) == 0


@pytest.mark.parametrize("seed", range(8))
def test_blocks_decode_equals_concatenated_block_decode(seed):
    rng = np.random.default_rng(seed)
    blocks, start = [], I64_MIN if seed % 2 else ns("2024-01-02")
    for _ in range(int(rng.integers(1, 7))):
        n = int(rng.integers(1, 300))
        ts = start + np.cumsum(rng.integers(1, 10**9, n))
        start = int(ts[-1])
        values = (rng.integers(I64_MIN, I64_MAX, n, endpoint=True) for _ in range(5))
        blocks.append(BarColumns(ts.astype(np.int64), *(v.astype(np.int64) for v in values)))

    bars, offsets = bar_blocks.blocks_decode([block_encode(b) for b in blocks])

    assert _rows(bars) == [row for b in blocks for row in _rows(b)]
    assert offsets.tolist() == np.cumsum([0] + [len(b) for b in blocks]).tolist()


def test_blocks_decode_refuses_bad_blob_and_blocks_out_of_order():
    early = block_encode(_bars([(1, 1, 1, 1, 1, 1)]))
    late = block_encode(_bars([(2, 2, 2, 2, 2, 2)]))

    with pytest.raises(ValueError, match="corrupt data"):
        bar_blocks.blocks_decode([early, late[:-2]])
    with pytest.raises(ValueError, match="do not increase"):
        bar_blocks.blocks_decode([late, early])
    bars, offsets = bar_blocks.blocks_decode([])
    assert (len(bars), offsets.tolist()) == (0, [0])


def test_concat_keeps_order_and_skips_empty_parts():
    a = _bars([(1, 1, 1, 1, 1, 1)])
    b = _bars([(2, 2, 2, 2, 2, 2), (3, 3, 3, 3, 3, 3)])

    assert [r[0] for r in _rows(BarColumns.concat([a, BarColumns.empty(), b]))] == [1, 2, 3]
    assert len(BarColumns.concat([])) == 0


def test_from_rows_six_bars_are_rows_not_columns():
    matrix = np.arange(36, dtype=np.int64).reshape(6, 6)

    assert _rows(BarColumns.from_rows(matrix)) == [tuple(r) for r in matrix.tolist()]


# --- block_merge ------------------------------------------------------------------------------


def _merge_model(existing: list[tuple] | None, new: list[tuple]) -> list[tuple]:
    """What ON CONFLICT DO NOTHING leaves: stored rows, then each new ts the first time seen."""
    kept = {row[0]: row for row in existing or []}
    for row in new:
        kept.setdefault(row[0], row)
    return [kept[ts] for ts in sorted(kept)]


def test_block_merge_hand_case_first_new_row_of_a_ts_wins():
    existing = [(10, 1, 1, 1, 1, 1), (30, 3, 3, 3, 3, 3)]
    new = [(20, 7, 7, 7, 7, 7), (10, 9, 9, 9, 9, 9), (20, 8, 8, 8, 8, 8), (5, 4, 4, 4, 4, 4)]

    merged = block_merge(_bars(existing), _bars(new))

    assert _rows(merged) == [
        (5, 4, 4, 4, 4, 4),
        (10, 1, 1, 1, 1, 1),
        (20, 7, 7, 7, 7, 7),
        (30, 3, 3, 3, 3, 3),
    ]


@pytest.mark.parametrize("seed", range(60))
def test_block_merge_random_cases_equal_dict_model(seed):
    rng = np.random.default_rng(seed)
    pool = int(rng.integers(1, 40))  # few distinct ts, so repeats and overlaps are common

    def rows(count: int, *, unique: bool) -> list[tuple]:
        ts = rng.choice(
            pool * 3, size=min(count, pool * 3) if unique else count, replace=not unique
        )
        if unique:
            ts = np.sort(ts)
        return [(int(t) - pool, *(int(v) for v in rng.integers(-9, 9, 5))) for t in ts]

    existing = None if seed % 5 == 0 else rows(int(rng.integers(0, pool + 1)), unique=True)
    new = rows(int(rng.integers(0, pool * 2)), unique=seed % 7 == 0)

    merged = block_merge(None if existing is None else _bars(existing), _bars(new))

    assert _rows(merged) == _merge_model(existing, new)
    assert bool(np.all(np.diff(merged.ts) > 0))


def test_block_merge_nothing_new_returns_existing_rows():
    existing = [(10, 1, 1, 1, 1, 1), (20, 2, 2, 2, 2, 2)]

    merged = block_merge(_bars(existing), _bars([(20, 5, 5, 5, 5, 5), (10, 6, 6, 6, 6, 6)]))

    assert _rows(merged) == existing
    assert _rows(block_merge(_bars(existing), BarColumns.empty())) == existing
    assert _rows(block_merge(None, BarColumns.empty())) == []
