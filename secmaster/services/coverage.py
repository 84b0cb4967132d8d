"""Symbol coverage: per (publisher, symbol, symbol type, rtype), the first and last bar that the
symbol reaches through its symbology mappings.

A bar counts for a symbol when its instrument is the mapping's instrument and its UTC date lies in
the mapping's [start_date, end_date). One set-based statement rebuilds the table: for each mapping
and rtype, two index seeks on the ohlcv primary key (instrument_id, rtype, ts_event) find the
first and last bar in the interval, so the cost grows with the number of mappings, not of bars.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections, transaction

from secmaster.dbn_reading import OHLCV_RTYPES

DB = "secmaster"
NS_PER_DAY = 86_400 * 1_000_000_000

# UTC midnight of a DATE column, in nanoseconds since the epoch, per database vendor.
_DATE_NS = {  # executed without parameters, so "%" needs no escaping
    "sqlite": "(CAST(strftime('%s', {col}) AS INTEGER) * 1000000000)",
    "postgresql": "(({col} - DATE '1970-01-01')::bigint * " + str(NS_PER_DAY) + ")",
}

_REBUILD_SQL = """
INSERT INTO symbol_coverage (publisher_id, symbol, symbol_type, rtype, min_ts, max_ts)
SELECT publisher_id, symbol, symbol_type, rtype, MIN(first_ts), MAX(last_ts)
FROM (
    SELECT m.publisher_id, m.symbol, m.symbol_type, r.rtype,
        (SELECT MIN(b.ts_event) FROM ohlcv b
         WHERE b.instrument_id = m.instrument_id AND b.rtype = r.rtype
           AND b.ts_event >= m.start_ns AND b.ts_event < m.end_ns) AS first_ts,
        (SELECT MAX(b.ts_event) FROM ohlcv b
         WHERE b.instrument_id = m.instrument_id AND b.rtype = r.rtype
           AND b.ts_event >= m.start_ns AND b.ts_event < m.end_ns) AS last_ts
    FROM (
        SELECT s.publisher_ref AS publisher_id, s.symbol, s.symbol_type, i.instrument_id,
            {start_ns} AS start_ns, {end_ns} AS end_ns
        FROM symbology s
        JOIN instruments i
          ON i.publisher_ref = s.publisher_ref
         AND i.source_instrument_id = s.source_instrument_id
        {where}
    ) m
    CROSS JOIN ({rtypes}) r
) per_mapping
WHERE first_ts IS NOT NULL
GROUP BY publisher_id, symbol, symbol_type, rtype
"""


def _rebuild_sql(vendor: str, publisher_ids: list[int] | None) -> str:
    date_ns = _DATE_NS.get(vendor, _DATE_NS["postgresql"])
    rtypes = " UNION ALL ".join(f"SELECT {r} AS rtype" for r in sorted(OHLCV_RTYPES))
    where = ""
    if publisher_ids is not None:  # integers, checked by the caller: safe to inline
        where = f"WHERE s.publisher_ref IN ({', '.join(str(p) for p in publisher_ids)})"
    return _REBUILD_SQL.format(
        start_ns=date_ns.format(col="s.start_date"),
        end_ns=date_ns.format(col="s.end_date"),
        rtypes=rtypes,
        where=where,
    )


def coverage_rebuild(*, publisher_ids: Iterable[int] | None = None) -> int:
    """Recompute symbol_coverage from symbology and bars (only the rows of ``publisher_ids``
    when given); returns the number of rows of the whole table.

    Runs in the caller's transaction when there is one: ingest rebuilds the coverage of a
    file's publisher in the file's own transaction, so the committed coverage always matches
    the committed bars, whenever the process stops.
    """
    ids = None if publisher_ids is None else sorted({int(p) for p in publisher_ids})
    connection = connections[DB]
    with transaction.atomic(using=DB), connection.cursor() as cursor:
        if ids is None:
            cursor.execute("DELETE FROM symbol_coverage")
        elif ids:
            cursor.execute(
                "DELETE FROM symbol_coverage WHERE publisher_id IN"
                f" ({', '.join(['%s'] * len(ids))})",
                ids,
            )
        if ids is None or ids:
            cursor.execute(_rebuild_sql(connection.vendor, ids))
        cursor.execute("SELECT COUNT(*) FROM symbol_coverage")
        return int(cursor.fetchone()[0])
