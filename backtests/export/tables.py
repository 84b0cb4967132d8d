"""The tables an export holds, each with fixed columns and its rows read in chunks.

Every table has the same columns in CSV and Parquet. Timestamps are UTC nanoseconds as
integers, exactly as stored (lossless; ``pd.to_datetime(col, unit="ns", utc=True)``), days
are dates. Numbers are the stored values at full precision (the API rounds money to cents
for display; an export does not). Rows come from the run's stored results
(``backtests.results.selectors``: round trips, equity series, metrics) and its recorded
event tables, ordered, ``CHUNK_ROWS`` at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from django.db import models

from backtests import models as m
from backtests.comparison.metric_table import NOT_FIGURES
from backtests.results.models import ROUNDTRIP_SORTS, RoundTrip
from backtests.results.selectors import (
    daily_series_get,
    equity_series_get,
    roundtrips_queryset,
    run_metrics_get,
)

CHUNK_ROWS = 50_000  # rows per read and per Parquet row group

Rows = list[tuple]


@dataclass(frozen=True)
class ExportTable:
    """One exportable table: its name (file stem), columns with Arrow types, what it is,
    and a reader of its rows (lists of tuples, in column order) for a run."""

    name: str
    columns: tuple[tuple[str, pa.DataType], ...]
    description: str
    read: Callable[[m.Run], Iterator[Rows]]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, kind) for name, kind in self.columns])


def _arrow_type(field: models.Field) -> pa.DataType:
    if isinstance(field, models.FloatField):
        return pa.float64()
    if isinstance(field, models.IntegerField | models.BigIntegerField):
        return pa.int64()
    return pa.string()


def _chunks(rows: Iterator[tuple]) -> Iterator[Rows]:
    chunk: Rows = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _event_table(model: type[m.RunEvent], description: str) -> ExportTable:
    fields = [f for f in model._meta.concrete_fields if f.name not in ("id", "run")]
    names = tuple(f.attname for f in fields)

    def read(run: m.Run) -> Iterator[Rows]:
        rows = (
            model.objects.filter(run_id=run.run_id)
            .order_by("ts_event_ns", "id")
            .values_list(*names)
            .iterator(chunk_size=CHUNK_ROWS)
        )
        yield from _chunks(rows)

    return ExportTable(
        model._meta.db_table,
        tuple((f.attname, _arrow_type(f)) for f in fields),
        description,
        read,
    )


def _roundtrips_read(run: m.Run) -> Iterator[Rows]:
    rows = (
        roundtrips_queryset(run, sort="number")
        .values_list(*ROUNDTRIP_SORTS)
        .iterator(chunk_size=CHUNK_ROWS)
    )
    yield from _chunks(rows)


ROUNDTRIPS = ExportTable(
    "roundtrips",
    tuple((name, _arrow_type(RoundTrip._meta.get_field(name))) for name in ROUNDTRIP_SORTS),
    "Closed round trips, numbered by entry time (README: Round trips)",
    _roundtrips_read,
)

EQUITY_COLUMNS = (
    ("ts", "ts"),
    ("equity", "last"),
    ("equity_low", "low"),
    ("equity_high", "high"),
    ("benchmark", "benchmark"),
    ("gross_exposure", "gross"),
)


def _equity_read(run: m.Run) -> Iterator[Rows]:
    series, _ = equity_series_get(run)
    columns = [series[stored].tolist() for _, stored in EQUITY_COLUMNS]
    rows = list(zip(*columns, strict=True))
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]


EQUITY = ExportTable(
    "equity",
    (("ts", pa.int64()), *((name, pa.float64()) for name, _ in EQUITY_COLUMNS[1:])),
    "Equity marked at every timestamp as stored (downsampled to buckets: last, lowest and "
    "highest equity of each), buy-and-hold benchmark, gross exposure",
    _equity_read,
)


def _daily_read(run: m.Run) -> Iterator[Rows]:
    daily, _ = daily_series_get(run)
    days = np.asarray(daily["day"], dtype=np.int64).astype("datetime64[D]").tolist()
    rows = list(zip(days, daily["equity"].tolist(), daily["benchmark"].tolist(), strict=True))
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]


EQUITY_DAILY = ExportTable(
    "equity_daily",
    (("day", pa.date32()), ("equity", pa.float64()), ("benchmark", pa.float64())),
    "Equity and benchmark at the end of each trading day (UTC)",
    _daily_read,
)


def _figure(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _metrics_read(run: m.Run) -> Iterator[Rows]:
    metrics = run_metrics_get(run)
    rows: Rows = [
        ("run", key, _figure(value)) for key, value in metrics.items() if key not in NOT_FIGURES
    ]
    for symbol, block in sorted((metrics.get("per_symbol") or {}).items()):
        rows.extend((symbol, key, _figure(value)) for key, value in block.items())
    yield rows


METRICS = ExportTable(
    "metrics",
    (("scope", pa.string()), ("metric", pa.string()), ("value", pa.float64())),
    "Every metric of the run (scope 'run') and of each symbol (README: Definitions); "
    "empty value = undefined",
    _metrics_read,
)

EXPORT_TABLES: dict[str, ExportTable] = {
    table.name: table
    for table in (
        ROUNDTRIPS,
        _event_table(m.Fill, "Fills, in execution order"),
        _event_table(m.OrderSubmission, "Orders the strategy submitted"),
        _event_table(m.OrderModification, "Modification requests"),
        _event_table(m.OrderCancellation, "Cancellation requests"),
        _event_table(m.OrderAccepted, "Broker: orders accepted"),
        _event_table(m.OrderRejected, "Broker: orders rejected, with the reason"),
        _event_table(m.ModificationAccepted, "Broker: modifications accepted"),
        _event_table(m.ModificationRejected, "Broker: modifications rejected"),
        _event_table(m.CancellationAccepted, "Broker: cancellations accepted"),
        _event_table(m.CancellationRejected, "Broker: cancellations rejected"),
        _event_table(m.Expiration, "Broker: orders expired"),
        EQUITY,
        EQUITY_DAILY,
        METRICS,
    )
}
EXPORT_FORMATS = ("csv", "parquet")
