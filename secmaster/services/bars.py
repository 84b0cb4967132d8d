"""Bulk-write decoded OHLCV records into the ohlcv table.

Rows go through ``executemany`` on the raw DB-API cursor of the secmaster connection (inside the
caller's transaction), in blocks of a few hundred thousand, with ``ON CONFLICT DO NOTHING`` so a
bar that is already stored is left unchanged and re-ingesting a file adds nothing.
"""

from __future__ import annotations

import numpy as np
from django.db import connections

from secmaster.services.instruments import instruments_ensure

DB = "secmaster"
COLUMNS = ("instrument_id", "rtype", "ts_event", "open", "high", "low", "close", "volume")


def insert_bars_sql(vendor: str) -> str:
    """The INSERT for one bar, in the placeholder style of the raw driver."""
    marks = ", ".join(["?" if vendor == "sqlite" else "%s"] * len(COLUMNS))
    return f"INSERT INTO ohlcv ({', '.join(COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING"


class BarWriter:
    """Writes record blocks of one publisher; counts records seen and bars newly stored."""

    def __init__(self, publisher_id: int) -> None:
        self.publisher_id = publisher_id
        self.records = 0
        self.new_bars = 0
        self._instruments: dict[int, int] = {}
        connection = connections[DB]
        connection.ensure_connection()
        self._raw_cursor = connection.connection.cursor()
        self._sql = insert_bars_sql(connection.vendor)

    def write(self, records: np.ndarray) -> None:
        """Store one block of records (fields as in ``dbn_reading.ohlcv_record_dtype``)."""
        if not len(records):
            return
        source_ids, inverse = np.unique(records["instrument_id"], return_inverse=True)
        source_list = source_ids.tolist()
        missing = [s for s in source_list if s not in self._instruments]
        if missing:
            self._instruments.update(
                instruments_ensure(publisher_id=self.publisher_id, source_ids=missing)
            )
        internal = np.array([self._instruments[s] for s in source_list], dtype=np.int64)[inverse]
        rows = list(
            zip(
                internal.tolist(),
                records["rtype"].tolist(),
                records["ts_event"].tolist(),
                records["open"].tolist(),
                records["high"].tolist(),
                records["low"].tolist(),
                records["close"].tolist(),
                records["volume"].tolist(),
                strict=True,
            )
        )
        self._raw_cursor.executemany(self._sql, rows)
        self.records += len(rows)
        self.new_bars += max(self._raw_cursor.rowcount, 0)

    def close(self) -> None:
        self._raw_cursor.close()
