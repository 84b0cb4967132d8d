"""The ``ohlcv_blocks`` table: columnar copies of the bars, written by ingest, read by backtests.

``ohlcv`` is the source of truth; a block is a cache of the bars of one (instrument, rtype,
block index) and is only used while it agrees with ``ohlcv``:

- ingest (``secmaster.services.bars.BarWriter``) merges the rows it inserts into the blocks
  in the same transaction (``bar_blocks_store``). Before its first insert into a block it
  checks the block against ``ohlcv`` (``bar_blocks_out_of_step``); a block already out of step
  is rebuilt from ``ohlcv`` instead of merged, so a stale block cannot take on the new rows
  and look right;
- triggers on ``ohlcv`` delete the block of any row updated or deleted by other code
  (``secmaster.bar_block_triggers``);
- ``bar_columns_read`` compares every block's bar count in the range with a count of the
  ``ohlcv`` rows and reads ``ohlcv`` itself where they differ or the block is missing or
  unreadable: the answer is always the rows of ``ohlcv``, fast while the blocks are in step.

The functions that take a ``cursor`` work on a Django cursor or on the raw DB-API cursor of the
secmaster connection, inside the caller's transaction. The SQL is the same on SQLite and
PostgreSQL; the readers' ``vendor`` argument ("sqlite" or "postgresql") is checked, not needed.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from functools import cache

import numpy as np
from django.db import connections, transaction

from ostsite.errors import NotFound
from secmaster.bar_block_triggers import floor_div_sql
from secmaster.bar_blocks import (
    BLOCK_DAYS,
    INT64_MAX,
    INT64_MIN,
    BarColumns,
    block_decode,
    block_encode,
    block_merge,
    block_of,
    block_span_ns,
    blocks_decode,
    ts_bounds,
)

DB = "secmaster"
RTYPES = tuple(sorted(BLOCK_DAYS))
IN_CHUNK = 500  # block indices per IN (...) list
REBUILD_CHUNK_ROWS = 200_000  # ohlcv rows read per query while rebuilding
VENDORS = ("sqlite", "postgresql")

MSG_UNKNOWN_PUBLISHER = "no publisher with id {publisher_id}"
MSG_UNKNOWN_VENDOR = "bar blocks support SQLite and PostgreSQL, not {vendor!r}"

RebuildProgress = Callable[[int, int, int], None]
"""Called as progress(instruments_done, instruments_total, blocks_written)."""

logger = logging.getLogger(__name__)

_BAR_COLUMNS_SQL = "ts_event, open, high, low, close, volume"


def _sql(text: str, cursor) -> str:
    """``text`` (written with %s placeholders) in the placeholder style ``cursor`` takes.

    Django's cursors take %s on every database; a raw sqlite3 cursor (ingest writes through
    one) takes ?. No SQL here contains a literal %.
    """
    return _qmark(text) if type(cursor) is sqlite3.Cursor else text


@cache
def _qmark(text: str) -> str:
    return text.replace("%s", "?")


def _closed_range(start_ns: int, end_ns: int) -> tuple[int, int]:
    """[start_ns, end_ns) as int64 bounds [low, high] (SQL parameters must fit int64)."""
    return max(int(start_ns), INT64_MIN), min(int(end_ns) - 1, INT64_MAX)


def _block_range(block: int, rtype: int) -> tuple[int, int]:
    span = block_span_ns(rtype)
    return block * span, (block + 1) * span


def _columns_of_rows(rows: list) -> BarColumns:
    if not rows:
        return BarColumns.empty()
    return BarColumns.from_rows(np.array(rows, dtype=np.int64))


def _ohlcv_rows(cursor, instrument_id: int, rtype: int, start_ns: int, end_ns: int):
    low, high = _closed_range(start_ns, end_ns)
    cursor.execute(
        _sql(
            f"SELECT {_BAR_COLUMNS_SQL} FROM ohlcv WHERE instrument_id = %s AND rtype = %s"
            " AND ts_event >= %s AND ts_event <= %s ORDER BY ts_event",
            cursor,
        ),
        [instrument_id, rtype, low, high],
    )
    return _columns_of_rows(cursor.fetchall())


def _check_vendor(vendor: str) -> None:
    if vendor not in VENDORS:
        raise ValueError(MSG_UNKNOWN_VENDOR.format(vendor=vendor))


def _key_range_sql(column: str = "ts_event") -> str:
    return f"instrument_id = %s AND rtype = %s AND {column} >= %s AND {column} <= %s"


def bar_block_counts(
    *, cursor, vendor: str, instrument_id: int, rtype: int, start_ns: int, end_ns: int
) -> dict[int, int]:
    """How many ``ohlcv`` rows each block index holds within [start_ns, end_ns).

    One query along the primary key; blocks without rows are absent from the answer. On
    PostgreSQL a GROUP BY (hash aggregate). SQLite would sort every row for that GROUP BY (a
    temporary b-tree: 7x the cost of counting, measured), so there one statement walks the
    blocks from the first to the last bar of the range and counts each block's key range.
    """
    _check_vendor(vendor)
    if start_ns >= end_ns:
        return {}
    low, high = _closed_range(start_ns, end_ns)
    params = [instrument_id, rtype, low, high]
    span = block_span_ns(rtype)
    if vendor == "postgresql":
        block = floor_div_sql("ts_event", str(span))
        cursor.execute(
            _sql(
                f"SELECT {block}, COUNT(*) FROM ohlcv WHERE {_key_range_sql()} GROUP BY 1",
                cursor,
            ),
            params,
        )
        return {int(b): int(n) for b, n in cursor.fetchall()}
    # SQLite: k walks the blocks from the first bar's to the last bar's; each block's key range
    # is counted, clamped to [low, high] in the first and last block (in the others block * span
    # cannot overflow int64).
    cursor.execute(
        _sql(
            "WITH RECURSIVE ext(lo, hi) AS (SELECT"
            f" (SELECT MIN(ts_event) FROM ohlcv WHERE {_key_range_sql()}),"
            f" (SELECT MAX(ts_event) FROM ohlcv WHERE {_key_range_sql()})),"
            " k(block, first, last) AS ("
            f" SELECT {floor_div_sql('lo', str(span))}, {floor_div_sql('lo', str(span))},"
            f" {floor_div_sql('hi', str(span))} FROM ext WHERE lo IS NOT NULL"
            " UNION ALL SELECT block + 1, first, last FROM k WHERE block < last)"
            " SELECT block, (SELECT COUNT(*) FROM ohlcv WHERE instrument_id = %s AND rtype = %s"
            f" AND ts_event >= (CASE WHEN block = first THEN %s ELSE block * {span} END)"
            f" AND ts_event <= (CASE WHEN block = last THEN %s ELSE block * {span} + {span - 1}"
            " END)) FROM k",
            cursor,
        ),
        params * 3,
    )
    return {int(b): int(n) for b, n in cursor.fetchall() if n}


def _stored_blocks(
    cursor, instrument_id: int, rtype: int, first: int, last: int, column: str
) -> dict[int, object]:
    cursor.execute(
        _sql(
            f"SELECT block, {column} FROM ohlcv_blocks WHERE instrument_id = %s AND rtype = %s"
            " AND block >= %s AND block <= %s",
            cursor,
        ),
        [instrument_id, rtype, first, last],
    )
    return {int(b): value for b, value in cursor.fetchall()}


def _decoded_blocks(
    blobs: dict[int, object], instrument_id: int, rtype: int
) -> tuple[BarColumns, dict[int, tuple[int, int]]]:
    """All readable blocks decoded, in block order, and block -> its rows' [start, end)."""
    order = sorted(blobs)
    try:
        bars, offsets = blocks_decode([blobs[b] for b in order])
        filled = offsets[1:] > offsets[:-1]
        firsts, lasts = bars.ts[offsets[:-1][filled]], bars.ts[offsets[1:][filled] - 1]
        expected = np.array(order, dtype=np.int64)[filled]
        if np.array_equal(block_of(firsts, rtype), expected) and np.array_equal(
            block_of(lasts, rtype), expected
        ):
            bounds = zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
            return bars, dict(zip(order, bounds, strict=True))
    except ValueError:
        pass  # one of them is unreadable: find it below
    parts: list[BarColumns] = []
    where: dict[int, tuple[int, int]] = {}
    done = 0
    for block in order:
        try:
            one = block_decode(blobs[block])
            if len(one) and not block_of(int(one.ts[0]), rtype) == block == block_of(
                int(one.ts[-1]), rtype
            ):
                raise ValueError("bars outside the block's time span")
        except ValueError as exc:
            logger.warning(
                "ohlcv_blocks (%s, %s, %s) unreadable, reading ohlcv instead: %s",
                instrument_id,
                rtype,
                block,
                exc,
            )
            continue
        parts.append(one)
        where[block] = (done, done + len(one))
        done += len(one)
    return BarColumns.concat(parts), where


def bar_columns_read(
    *,
    cursor,
    vendor: str,
    instrument_id: int,
    rtype: int,
    start_ns: int,
    end_ns: int,
    counts: dict[int, int] | None = None,
) -> BarColumns:
    """The ``ohlcv`` bars of one instrument and rtype with start_ns <= ts < end_ns, ts order.

    Reads the blocks overlapping the range in one query and uses a block only when its bars
    in the range are as many as ``ohlcv`` holds there (``counts`` as ``bar_block_counts``
    answers, which is asked when not given); the other blocks' bars are read from ``ohlcv``
    (consecutive ones in one query). Never writes.
    """
    _check_vendor(vendor)
    if start_ns >= end_ns:
        return BarColumns.empty()
    if counts is None:
        counts = bar_block_counts(
            cursor=cursor,
            vendor=vendor,
            instrument_id=instrument_id,
            rtype=rtype,
            start_ns=start_ns,
            end_ns=end_ns,
        )
    low, high = _closed_range(start_ns, end_ns)
    first, last = block_of(low, rtype), block_of(high, rtype)
    blobs = _stored_blocks(cursor, instrument_id, rtype, first, last, "data")
    decoded, where = _decoded_blocks(blobs, instrument_id, rtype)
    parts: list[BarColumns] = []
    run: list[int] = []  # [start, end) rows of decoded blocks in use, not yet in parts
    fallback: list[int] = []  # consecutive blocks to read from ohlcv, read in one query

    def close_run() -> None:
        if run:
            parts.append(decoded.take(slice(run[0], run[1])))
            run.clear()

    def close_fallback() -> None:
        if fallback:
            low = max(start_ns, _block_range(fallback[0], rtype)[0])
            high = min(end_ns, _block_range(fallback[-1], rtype)[1])
            parts.append(_ohlcv_rows(cursor, instrument_id, rtype, low, high))
            fallback.clear()

    for block in sorted(counts.keys() | where.keys()):
        expected = counts.get(block, 0)
        rows = where.get(block)
        if rows is not None and block in (first, last):  # may reach beyond the range
            lo, hi = ts_bounds(decoded.ts[rows[0] : rows[1]], start_ns, end_ns)
            rows = (rows[0] + lo, rows[0] + hi)
        if rows is not None and rows[1] - rows[0] == expected:
            close_fallback()
            if run and run[1] != rows[0]:
                close_run()
            run[:] = [run[0] if run else rows[0], rows[1]]
        elif expected:
            close_run()
            if fallback and fallback[-1] != block - 1:
                close_fallback()
            fallback.append(block)
    close_run()
    close_fallback()
    return BarColumns.concat(parts)


# --- writing --------------------------------------------------------------------------------

_UPSERT_SQL = (
    "INSERT INTO ohlcv_blocks"
    " (instrument_id, rtype, block, bar_count, first_ts, last_ts, data)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (instrument_id, rtype, block) DO UPDATE SET bar_count = excluded.bar_count,"
    " first_ts = excluded.first_ts, last_ts = excluded.last_ts, data = excluded.data"
)


def _block_row(instrument_id: int, rtype: int, block: int, bars: BarColumns) -> tuple:
    return (
        instrument_id,
        rtype,
        block,
        len(bars),
        int(bars.ts[0]),
        int(bars.ts[-1]),
        block_encode(bars),
    )


def _groups_by_block(bars: BarColumns, rtype: int) -> Iterable[tuple[int, BarColumns]]:
    """(block index, rows of that block in their given order), block by block."""
    if not len(bars):
        return
    blocks = block_of(bars.ts, rtype)
    if len(blocks) > 1 and not bool(np.all(blocks[1:] >= blocks[:-1])):
        order = np.argsort(blocks, kind="stable")  # keeps the insertion order within a block
        bars, blocks = bars.take(order), blocks[order]
    cuts = np.flatnonzero(blocks[1:] != blocks[:-1]) + 1
    starts = [0, *cuts.tolist()]
    ends = [*cuts.tolist(), len(blocks)]
    for start, end in zip(starts, ends, strict=True):
        yield int(blocks[start]), bars.take(slice(start, end))


def bar_blocks_store(
    *,
    cursor,
    instrument_id: int,
    rtype: int,
    bars: BarColumns,
    rebuild: set[int] | frozenset[int] = frozenset(),
    expected: set[int] | frozenset[int] = frozenset(),
) -> int:
    """Merge rows just inserted into ``ohlcv`` into their blocks; returns blocks written.

    ``bars`` are the rows of one instrument and rtype in the order they were inserted with
    ``ON CONFLICT DO NOTHING`` (unsorted, repeats allowed: the first of a ts is the one
    stored). Each block is read once (one query per batch of blocks), merged with
    ``block_merge`` and written back. Merging is right for a block that was in step before
    these rows went in; the caller asks ``bar_blocks_out_of_step`` before inserting and passes
    the blocks it named as ``rebuild``: those, and stored blocks that cannot be decoded, are
    built from their ``ohlcv`` rows instead. ``expected`` names blocks that were stored and in
    step before the insert: one of them missing now was dropped by the REPLACE trigger (an
    inserted row met a stored one with other values) and is built from ``ohlcv`` too.
    """
    groups = list(_groups_by_block(bars, rtype))
    if not groups:
        return 0
    merge_blocks = [block for block, _ in groups if block not in rebuild]
    existing: dict[int, bytes] = {}
    for i in range(0, len(merge_blocks), IN_CHUNK):
        chunk = merge_blocks[i : i + IN_CHUNK]
        marks = ", ".join(["%s"] * len(chunk))
        cursor.execute(
            _sql(
                "SELECT block, data FROM ohlcv_blocks WHERE instrument_id = %s AND rtype = %s"
                f" AND block IN ({marks})",
                cursor,
            ),
            [instrument_id, rtype, *chunk],
        )
        existing.update((int(b), data) for b, data in cursor.fetchall())
    rows = []
    for block, new in groups:
        merged = None
        stored = existing.get(block)
        if block not in rebuild and not (stored is None and block in expected):
            try:
                merged = block_merge(None if stored is None else block_decode(stored), new)
            except ValueError as exc:
                logger.warning(
                    "ohlcv_blocks (%s, %s, %s) unreadable, rebuilt from ohlcv: %s",
                    instrument_id,
                    rtype,
                    block,
                    exc,
                )
        if merged is None:
            merged = _ohlcv_rows(cursor, instrument_id, rtype, *_block_range(block, rtype))
        if len(merged):
            rows.append(_block_row(instrument_id, rtype, block, merged))
    cursor.executemany(_sql(_UPSERT_SQL, cursor), rows)
    return len(rows)


def bar_blocks_out_of_step(
    *, cursor, vendor: str, instrument_id: int, rtype: int, blocks: Iterable[int]
) -> set[int]:
    """Those of ``blocks`` whose stored bar count differs from their ``ohlcv`` row count.

    A missing block counts as 0 bars. Ingest asks this before its first insert into a block:
    a block found in step then stays in step by merging what ingest inserts.
    """
    return bar_blocks_check(
        cursor=cursor, vendor=vendor, instrument_id=instrument_id, rtype=rtype, blocks=blocks
    )[0]


def bar_blocks_check(
    *, cursor, vendor: str, instrument_id: int, rtype: int, blocks: Iterable[int]
) -> tuple[set[int], set[int]]:
    """(out of step, stored) among ``blocks``: those whose stored bar count differs from their
    ``ohlcv`` row count (a missing block counts as 0 bars), and those that have a row."""
    wanted = sorted(set(int(b) for b in blocks))
    if not wanted:
        return set(), set()
    start = _block_range(wanted[0], rtype)[0]
    end = _block_range(wanted[-1], rtype)[1]
    counts = bar_block_counts(
        cursor=cursor,
        vendor=vendor,
        instrument_id=instrument_id,
        rtype=rtype,
        start_ns=start,
        end_ns=end,
    )
    stored = _stored_blocks(cursor, instrument_id, rtype, wanted[0], wanted[-1], "bar_count")
    stale = {b for b in wanted if int(stored.get(b, 0)) != counts.get(b, 0)}
    return stale, {b for b in wanted if b in stored}


# --- rebuilding -----------------------------------------------------------------------------


def _rebuild_one(cursor, instrument_id: int, rtype: int) -> int:
    """Delete and rewrite the blocks of one instrument and rtype from ``ohlcv``."""
    cursor.execute(
        _sql("DELETE FROM ohlcv_blocks WHERE instrument_id = %s AND rtype = %s", cursor),
        [instrument_id, rtype],
    )
    insert = _sql(
        "INSERT INTO ohlcv_blocks (instrument_id, rtype, block, bar_count, first_ts, last_ts,"
        " data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        cursor,
    )
    written = 0
    carry = BarColumns.empty()
    op, bound = ">=", INT64_MIN
    while True:  # keyset paging along the primary key: bounded memory on either database
        cursor.execute(
            _sql(
                f"SELECT {_BAR_COLUMNS_SQL} FROM ohlcv WHERE instrument_id = %s AND rtype = %s"
                f" AND ts_event {op} %s ORDER BY ts_event LIMIT %s",
                cursor,
            ),
            [instrument_id, rtype, bound, REBUILD_CHUNK_ROWS],
        )
        rows = cursor.fetchall()
        done = len(rows) < REBUILD_CHUNK_ROWS
        bars = BarColumns.concat([carry, _columns_of_rows(rows)])
        if not len(bars):
            break
        op, bound = ">", int(bars.ts[-1])
        groups = list(_groups_by_block(bars, rtype))
        carry = BarColumns.empty() if done else groups.pop()[1]  # may go on in the next chunk
        cursor.executemany(
            insert, [_block_row(instrument_id, rtype, block, part) for block, part in groups]
        )
        written += len(groups)
        if done:
            break
    return written


def bar_blocks_rebuild(
    *,
    publisher_id: int | None = None,
    progress: RebuildProgress | None = None,
    using: str = DB,
) -> int:
    """Rebuild ``ohlcv_blocks`` from ``ohlcv`` (all publishers, or one); returns blocks written.

    Each instrument and rtype is deleted and rewritten in a transaction of its own, reading
    ``ohlcv`` in primary-key order a chunk at a time, so memory stays bounded. Raises NotFound
    for an unknown publisher.
    """
    with connections[using].cursor() as cursor:
        if publisher_id is None:
            cursor.execute("SELECT instrument_id FROM instruments ORDER BY instrument_id")
        else:
            cursor.execute(
                "SELECT COUNT(*) FROM publishers WHERE publisher_id = %s", [publisher_id]
            )
            if not cursor.fetchone()[0]:
                raise NotFound(MSG_UNKNOWN_PUBLISHER.format(publisher_id=publisher_id))
            cursor.execute(
                "SELECT instrument_id FROM instruments WHERE publisher_ref = %s"
                " ORDER BY instrument_id",
                [publisher_id],
            )
        instruments = [int(row[0]) for row in cursor.fetchall()]
        written = 0
        if progress is not None:
            progress(0, len(instruments), 0)
        for done, instrument_id in enumerate(instruments, start=1):
            for rtype in RTYPES:
                with transaction.atomic(using=using):
                    written += _rebuild_one(cursor, instrument_id, rtype)
            if progress is not None:
                progress(done, len(instruments), written)
    return written
