"""Reading a run's results: metrics, round trips and equity series.

A run that has stopped has its results stored (``services.run_report_store``). One without
them (a run from before they existed, or stored with older definitions) is rebuilt from its
fills and bars (``replay``) on first read and stored. A queued or running run has none yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import QuerySet

from backtests.analysis.metrics import trade_statistics
from backtests.analysis.report import RunReport, report_from_account
from backtests.analysis.roundtrips import empty_trades
from backtests.models import ACTIVE_STATUSES, Run
from backtests.results.codec import arrays_decode
from backtests.results.models import ROUNDTRIP_SORTS, RoundTrip, RunResult
from backtests.results.replay import run_account_replay
from backtests.results.services import (
    ANALYSIS_VERSION,
    report_series_blobs,
    run_report_store,
    run_summary_update,
)
from ostsite.errors import Conflict, NotFound

RUN_NOT_FINISHED = (
    "run {run_id} is {status}: its results are computed when it stops; try again then"
)

_MONEY = (
    "high_watermark",
    "low_watermark",
    "max_drawdown",
    "pnl_before_commission",
    "pnl_after_commission",
    "commission",
)


@dataclass(frozen=True)
class StoredResult:
    """A complete stored result, decoded where needed."""

    metrics: dict[str, Any]
    series_blob: bytes
    daily_blob: bytes


def _stored(run: Run) -> StoredResult | None:
    row = (
        RunResult.objects.filter(run_id=run.run_id, complete=True, version=ANALYSIS_VERSION)
        .values_list("metrics", "series", "daily")
        .first()
    )
    return None if row is None else StoredResult(row[0], bytes(row[1]), bytes(row[2]))


def run_report_rebuild(run: Run) -> RunReport:
    """The run's report from its fills and bars (``replay``), stored when nobody else is
    writing it; returned either way."""
    config = run.config or {}
    risk_free = config.get("risk_free_rate", 0.0)
    report = report_from_account(
        run_account_replay(run),
        risk_free_rate=float(risk_free) if isinstance(risk_free, int | float) else 0.0,
    )
    if run_report_store(run_id=run.run_id, report=report):
        run_summary_update(run_id=run.run_id, report=report)
    return report


def run_result_get(run: Run) -> StoredResult:
    """The run's stored result, rebuilt first when missing; Conflict for an active run."""
    if run.status in ACTIVE_STATUSES:
        raise Conflict(RUN_NOT_FINISHED.format(run_id=run.run_id, status=run.status))
    stored = _stored(run)
    if stored is None:
        run_report_rebuild(run)
        stored = _stored(run)
    if stored is None:  # another process is writing it right now: read what it will store
        report = run_report_rebuild(run)
        series_blob, daily_blob = report_series_blobs(report)
        stored = StoredResult(report.metrics, series_blob, daily_blob)
    return stored


def run_metrics_get(run: Run, *, symbol: str | None = None) -> dict[str, Any]:
    """The run's metrics; with ``symbol``, that symbol's (also for a symbol never traded)."""
    metrics = run_result_get(run).metrics
    if symbol is None:
        return metrics
    block = metrics.get("per_symbol", {}).get(symbol)
    if block is None:
        block = {
            "net_pnl": 0.0,
            "realised_pnl": 0.0,
            "open_pnl": 0.0,
            "gross_pnl": 0.0,
            "commission": 0.0,
            "max_drawdown": 0.0,
            "exposure_pct": 0.0,
            **trade_statistics(empty_trades()),
        }
    return {**block, "symbol": symbol}


def roundtrips_queryset(
    run: Run,
    *,
    symbol: str | None = None,
    sort: str | None = None,
    descending: bool = False,
) -> QuerySet[RoundTrip]:
    """The run's round trips (ensured stored), in the original's order (symbol, then entry
    time) unless ``sort`` names a column (ties by trade number)."""
    run_result_get(run)
    qs = RoundTrip.objects.filter(run_id=run.run_id)
    if symbol is not None:
        qs = qs.filter(symbol=symbol)
    if sort is None:
        return qs.order_by("symbol", "entry_ts", "number")
    prefix = "-" if descending else ""
    return qs.order_by(f"{prefix}{sort}", f"{prefix}number")


def roundtrip_record(row: RoundTrip | dict) -> dict[str, Any]:
    """One round trip as the API shows it: money to cents, positions to 4 decimals."""
    get = row.get if isinstance(row, dict) else lambda key: getattr(row, key)
    record = {
        "number": int(get("number")),
        "symbol": str(get("symbol")),
        "direction": str(get("direction")),
        "duration_bars": int(get("duration_bars")),
        "max_position": round(float(get("max_position")), 4),
        "entry_ts": int(get("entry_ts")),
        "exit_ts": int(get("exit_ts")),
        "quantity": round(float(get("quantity")), 4),
        "entry_price": round(float(get("entry_price")), 6),
        "exit_price": round(float(get("exit_price")), 6),
        "n_fills": int(get("n_fills")),
    }
    for key in _MONEY:
        record[key] = round(float(get(key)), 2) + 0.0
    return record


def roundtrip_records(qs: QuerySet[RoundTrip], *, chunk: int = 5_000) -> Iterator[dict]:
    """Records of ``qs`` read in chunks (a run may have hundreds of thousands)."""
    fields = ROUNDTRIP_SORTS  # the number and every stored field
    for row in qs.values(*fields).iterator(chunk_size=chunk):
        yield roundtrip_record(row)


def roundtrip_columns(
    qs: QuerySet[RoundTrip], *fields: str, chunk: int = 20_000
) -> dict[str, np.ndarray]:
    """Numeric columns of ``qs`` as float arrays, filled chunk by chunk (no row objects)."""
    total = qs.count()
    columns = {name: np.empty(total) for name in fields}
    filled = 0
    rows: list[tuple] = []

    def flush() -> None:
        nonlocal filled
        block = np.array(rows, dtype=float).reshape(len(rows), len(fields))
        for i, name in enumerate(fields):
            columns[name][filled : filled + len(rows)] = block[:, i]
        filled += len(rows)
        rows.clear()

    for row in qs.values_list(*fields).iterator(chunk_size=chunk):
        if filled + len(rows) >= total:
            break  # rows added since the count: keep the counted ones
        rows.append(row)
        if len(rows) >= chunk:
            flush()
    if rows:
        flush()
    return {name: values[:filled] for name, values in columns.items()}


def equity_series_get(run: Run) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The run's stored equity series (downsampled) and its attributes."""
    return arrays_decode(run_result_get(run).series_blob)


def daily_series_get(run: Run) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Equity and benchmark at the end of each trading day, and attributes."""
    return arrays_decode(run_result_get(run).daily_blob)


RUN_NOT_FOUND = "Run not found: {run_id}"


def run_for_results(run_id: str) -> Run:
    """The run named ``run_id``; NotFound otherwise (NUL never names a run)."""
    run = None if "\x00" in run_id else Run.objects.filter(run_id=run_id).first()
    if run is None:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id.replace("\x00", "\\x00")))
    return run


def roundtrips_for_run(run_id: str, *, symbol: str | None = None) -> list[dict[str, Any]]:
    """The run's closed round trips as the API lists them (original order)."""
    run = run_for_results(run_id)
    return list(roundtrip_records(roundtrips_queryset(run, symbol=symbol)))


def metrics_for_run(run_id: str, *, symbol: str | None = None) -> dict[str, Any]:
    """The run's metrics (of one symbol when given)."""
    return run_metrics_get(run_for_results(run_id), symbol=symbol)
