"""A table's chunks as CSV bytes or Parquet row groups; neither holds a whole table.

CSV: a header line, then rows; numbers as Python writes them (the shortest text that reads
back to the same float), None as an empty field, dates as YYYY-MM-DD, UTF-8, ``\\r\\n``
line ends (RFC 4180). Parquet: one row group per chunk through pyarrow's ``ParquetWriter``
(snappy), typed by the table's schema.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from backtests.export.tables import ExportTable, Rows
from backtests.models import Run

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"


def _csv_text(rows: Rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def csv_chunks(table: ExportTable, run: Run) -> Iterator[bytes]:
    """The table as CSV, one piece of bytes per chunk of rows (the header first)."""
    yield _csv_text([tuple(table.column_names)])
    for rows in table.read(run):
        yield _csv_text(rows)


def csv_write(table: ExportTable, run: Run, sink: BinaryIO) -> int:
    """Write the table as CSV to ``sink``; returns the number of rows."""
    sink.write(_csv_text([tuple(table.column_names)]))
    count = 0
    for rows in table.read(run):
        sink.write(_csv_text(rows))
        count += len(rows)
    return count


def _batch(table: ExportTable, rows: Rows) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in table.columns]
    arrays = [
        pa.array(list(values), type=kind)
        for values, (_, kind) in zip(columns, table.columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=table.schema)


def parquet_write(table: ExportTable, run: Run, sink: BinaryIO) -> int:
    """Write the table as Parquet to ``sink`` (one row group per chunk); returns the rows."""
    count = 0
    with pq.ParquetWriter(sink, table.schema, compression="snappy") as writer:
        for rows in table.read(run):
            writer.write_table(_batch(table, rows))
            count += len(rows)
        if count == 0:
            writer.write_table(_batch(table, []))
    return count
