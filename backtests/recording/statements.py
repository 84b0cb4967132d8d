"""The runs tables' columns and how a batch of rows is inserted: standard library only.

Shared by the writers in this process and by the SQLite writer process
(``writer_process.py``), which imports this file on its own, without Django or numpy.

A batch's rows go in multi-row ``INSERT ... VALUES`` statements, hundreds of rows each. A bar
block becomes its ``bars_processed`` rows that way; its ``bars`` rows are then copied from
those in SQL (one ``INSERT ... SELECT`` over the batch's id range), so each bar's values are
bound once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain

_BAR = ("symbol", "bar_period", "open", "high", "low", "close", "volume")
_ACCEPTED = ("ts_broker_ns", "associated_order_id", "broker_order_id")
_REJECTED = ("ts_broker_ns", "associated_order_id", "rejection_reason", "rejection_message")

# table -> its columns after run_id, ts_event_ns, ts_created_ns (row builders follow this order)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bars": _BAR,
    "bars_processed": (*_BAR, "indicators"),
    "order_submissions": (
        "system_order_id",
        "symbol",
        "order_type",
        "side",
        "quantity",
        "limit_price",
        "stop_price",
        "action",
        "signal",
    ),
    "order_modifications": ("system_order_id", "symbol", "quantity", "limit_price", "stop_price"),
    "order_cancellations": ("system_order_id", "symbol"),
    "orders_accepted": _ACCEPTED,
    "orders_rejected": _REJECTED,
    "cancellations_accepted": _ACCEPTED,
    "cancellations_rejected": _REJECTED,
    "modifications_accepted": _ACCEPTED,
    "modifications_rejected": _REJECTED,
    "fills": (
        "ts_broker_ns",
        "associated_order_id",
        "broker_order_id",
        "symbol",
        "fill_id",
        "broker_fill_id",
        "side",
        "quantity_filled",
        "fill_price",
        "commission",
        "exchange",
    ),
    "expirations": ("ts_broker_ns", "associated_order_id", "broker_order_id", "symbol"),
}
BAR_TABLES = ("bars", "bars_processed")
# A bar block's columns, as lists: ts (also ts_created_ns), then the bars_processed columns.
BAR_LIST_COLUMNS = ("ts", "symbol", "bar_period", "open", "high", "low", "close", "volume")

# Rows per INSERT: 64, then the rest in halves (32, 16, ..., 1), so a connection compiles
# at most seven statements per table. SQLite compiles numbered parameters (?NNN) in time
# quadratic in their number: a 500-row statement took ~30 ms to prepare, once per writer
# process and again for every other tail size; 64 rows insert as fast per row.
ROWS_PER_STATEMENT = 64  # fewer where SQLite allows fewer parameters
SQLITE_LIMIT_VARIABLE_NUMBER = 9
RUN_EXISTS_SQL = "SELECT 1 FROM runs WHERE run_id = ?"
# backtests.models.EXECUTING_STATUSES (this file may not import Django; a test compares them)
EXECUTING_STATUSES = ("running", "cancelling")
RUN_CLAIMED_SQL = (
    "SELECT 1 FROM runs WHERE run_id = ? AND claim = ? AND status IN ('running', 'cancelling')"
)
_BAR_TARGET = (
    "run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume"
)
_LAST_PROCESSED_SQL = "SELECT coalesce(max(id), 0) FROM bars_processed"
_BARS_FROM_PROCESSED_SQL = (
    f"INSERT INTO bars ({_BAR_TARGET}) SELECT {_BAR_TARGET}"
    " FROM bars_processed WHERE id > ? ORDER BY id"
)

# --- inserting a batch ------------------------------------------------------------------------


def _columns(table: str) -> tuple[str, ...]:
    return ("run_id", "ts_event_ns", "ts_created_ns", *TABLE_COLUMNS[table])


_insert_sql_cache: dict[tuple[str, int], str] = {}


def _insert_sql(table: str, rows: int) -> str:
    """INSERT of ``rows`` rows of ``table`` (all its columns, ``?`` placeholders)."""
    sql = _insert_sql_cache.get((table, rows))
    if sql is None:
        columns = _columns(table)
        one = "(" + ", ".join(["?"] * len(columns)) + ")"
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * rows)
        _insert_sql_cache[(table, rows)] = sql
    return sql


def _rows_per_statement(connection, width: int) -> int:
    """Rows per full statement: ``ROWS_PER_STATEMENT``, or fewer if SQLite allows fewer
    parameters than that many rows of ``width`` parameters."""
    limit = connection.getlimit(SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(ROWS_PER_STATEMENT, limit // width))


def statement_slices(count: int, step: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of each statement's rows: ``step`` rows at a time, then the rest in
    powers of two, largest first (a few distinct statement sizes, each compiled once)."""
    start = 0
    while count - start >= step:
        yield start, start + step
        start += step
    size = 1 << (step.bit_length() - 1)
    while start < count:
        while size > count - start:
            size >>= 1
        yield start, start + size
        start += size


def _insert_rows(cursor, table: str, rows: Sequence[Iterable]) -> None:
    step = _rows_per_statement(cursor.connection, len(_columns(table)))
    for start, stop in statement_slices(len(rows), step):
        part = rows[start:stop]
        cursor.execute(_insert_sql(table, len(part)), tuple(chain.from_iterable(part)))


_BAR_VALUES = ("ts", "symbol", "open", "high", "low", "close", "volume", "indicators")
_bar_sql_cache: dict[int, str] = {}


def _bar_insert_sql(rows: int) -> str:
    """INSERT of ``rows`` bars_processed rows with numbered parameters: ?1 the run id and ?2
    the bar period for every row, then each row's ``_BAR_VALUES`` (its ts used twice)."""
    sql = _bar_sql_cache.get(rows)
    if sql is None:
        width = len(_BAR_VALUES)
        values = []
        for row in range(rows):
            ts, symbol, o, h, lo, c, v, ind = (f"?{3 + row * width + i}" for i in range(width))
            values.append(f"(?1, {ts}, {ts}, {symbol}, ?2, {o}, {h}, {lo}, {c}, {v}, {ind})")
        columns = ", ".join(_columns("bars_processed"))
        sql = f"INSERT INTO bars_processed ({columns}) VALUES " + ", ".join(values)
        _bar_sql_cache[rows] = sql
    return sql


def _insert_bars(cursor, run_id: str, bars: dict[str, list]) -> None:
    """A bar block's bars_processed rows, then its bars rows copied from those in SQL."""
    (last,) = cursor.execute(_LAST_PROCESSED_SQL).fetchone()
    columns = [bars[name] for name in _BAR_VALUES]
    step = _rows_per_statement(cursor.connection, len(_BAR_VALUES) + 2)
    head = (run_id, bars["bar_period"][0])
    for start, stop in statement_slices(len(bars["ts"]), step):
        part = zip(*(column[start:stop] for column in columns), strict=True)
        params = (*head, *chain.from_iterable(part))
        cursor.execute(_bar_insert_sql(stop - start), params)
    cursor.execute(_BARS_FROM_PROCESSED_SQL, (last,))


def insert_batch(
    cursor,
    run_id: str,
    tables: dict[str, list[tuple]],
    bars: dict[str, list] | None,
    claim: str | None = None,
) -> bool:
    """Insert a batch with a sqlite3 ``cursor`` if the run still exists and, given a
    ``claim``, is still claimed by it and executing (in a transaction that holds the write
    lock, so no status change slips in between); True if inserted.

    ``tables``: rows per event table; ``bars``: a bar block as lists (``BAR_LIST_COLUMNS``
    plus "indicators", each bar's JSON text), or None.
    """
    check = (RUN_EXISTS_SQL, (run_id,)) if claim is None else (RUN_CLAIMED_SQL, (run_id, claim))
    if cursor.execute(*check).fetchone() is None:
        return False
    for table, rows in tables.items():
        _insert_rows(cursor, table, rows)
    if bars is not None and bars["ts"]:
        _insert_bars(cursor, run_id, bars)
    return True
