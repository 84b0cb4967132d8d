"""Instruments of a publisher, found or created by their source (Databento) instrument id."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections

DB = "secmaster"
IN_CHUNK = 500


def instruments_ensure(*, publisher_id: int, source_ids: Sequence[int]) -> dict[int, int]:
    """Map each source instrument id to its instrument_id, creating missing instruments."""
    ids = sorted(set(int(s) for s in source_ids))
    found: dict[int, int] = {}
    with connections[DB].cursor() as cursor:
        cursor.executemany(
            "INSERT INTO instruments (publisher_ref, source_instrument_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            [(publisher_id, sid) for sid in ids],
        )
        for i in range(0, len(ids), IN_CHUNK):
            chunk = ids[i : i + IN_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                "SELECT source_instrument_id, instrument_id FROM instruments"
                f" WHERE publisher_ref = %s AND source_instrument_id IN ({marks})",
                [publisher_id, *chunk],
            )
            found.update(cursor.fetchall())
    return found
