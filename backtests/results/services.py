"""Storing a run's report: metrics, equity series and round trips, once per run.

Writing takes short transactions only (the SQLite write lock is never held for long): a
``RunResult`` row is created first with ``complete`` False (it also tells other processes
that somebody is writing), the round trips follow in batches, and the row is completed last
with the metrics and series. Readers only use complete rows; a row left incomplete by a dead
process for longer than ``STALE_WRITE_SECONDS`` is written again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from django.db import IntegrityError, connection, transaction

from backtests.analysis.metrics import metrics_summary
from backtests.analysis.report import RunReport
from backtests.models import Run
from backtests.results.codec import arrays_encode
from backtests.results.models import ROUNDTRIP_FIELDS, RoundTrip, RunResult

logger = logging.getLogger(__name__)

# Raise when a definition in backtests.analysis changes: stored results of an older version
# are computed again when read.
ANALYSIS_VERSION = 1
ROUNDTRIP_BATCH = 2_000
STALE_WRITE_SECONDS = 600


def _claim_writing(run_id: str) -> bool:
    """Create the run's incomplete result row; False if another process is writing it."""
    now = time.time_ns()
    with transaction.atomic():
        existing = RunResult.objects.filter(run_id=run_id).values_list(
            "complete", "computed_ns", "version"
        )
        row = next(iter(existing), None)
        if row is not None:
            complete, started, version = row
            stale = now - started > STALE_WRITE_SECONDS * 1_000_000_000
            if not complete and not stale:
                return False
            RunResult.objects.filter(run_id=run_id).delete()
        RoundTrip.objects.filter(run_id=run_id).delete()
        try:
            RunResult.objects.create(
                run_id=run_id, version=ANALYSIS_VERSION, complete=False, computed_ns=now
            )
        except IntegrityError:  # the run is gone
            return False
    return True


def _roundtrip_rows(run_id: str, report: RunReport) -> list[tuple[Any, ...]]:
    """The run's round trips as rows of ``_ROUNDTRIP_COLUMNS``, numbered in time order."""
    trips = report.roundtrips
    if trips.empty:
        return []
    numbered = trips.sort_values(["entry_ts", "symbol"], kind="stable").reset_index(drop=True)
    numbered["number"] = np.arange(1, len(numbered) + 1)
    columns = [numbered[name].tolist() for name in (*ROUNDTRIP_FIELDS, "number")]
    return list(zip([run_id] * len(numbered), *columns, strict=True))


def _roundtrips_insert(rows: list[tuple[Any, ...]]) -> None:
    """Insert round-trip rows with one prepared statement (the ORM's per-object work would
    cost ten times the database's on runs of hundreds of thousands of trips)."""
    meta = RoundTrip._meta
    quote = connection.ops.quote_name
    names = ("run", *ROUNDTRIP_FIELDS, "number")
    columns = ", ".join(quote(meta.get_field(name).column) for name in names)
    marks = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def report_series_blobs(report: RunReport) -> tuple[bytes, bytes]:
    account = report.account
    series = account.series
    series_blob = arrays_encode(
        {
            "ts": series.ts,
            "last": series.last,
            "low": series.low,
            "high": series.high,
            "benchmark": series.benchmark,
            "gross": series.gross,
        },
        capital=account.capital,
        points_per_bucket=series.points_per_bucket,
    )
    daily_blob = arrays_encode(
        {
            "day": account.days,
            "equity": account.daily_equity,
            "benchmark": account.daily_benchmark,
        },
        capital=account.capital,
    )
    return series_blob, daily_blob


def run_report_store(*, run_id: str, report: RunReport) -> bool:
    """Store ``report`` as the run's results (replacing older ones); False when the run is
    gone or another process is writing its results right now."""
    if not _claim_writing(run_id):
        return False
    rows = _roundtrip_rows(run_id, report)
    try:
        for start in range(0, len(rows), ROUNDTRIP_BATCH):
            with transaction.atomic():
                _roundtrips_insert(rows[start : start + ROUNDTRIP_BATCH])
    except IntegrityError:  # deleted while we wrote
        return False
    series_blob, daily_blob = report_series_blobs(report)
    updated = RunResult.objects.filter(run_id=run_id, complete=False).update(
        complete=True,
        metrics=report.metrics,
        series=series_blob,
        daily=daily_blob,
        computed_ns=time.time_ns(),
    )
    return bool(updated)


def run_summary_metadata(report: RunReport) -> dict[str, Any]:
    """What a run's metadata carries of its report, for lists that show many runs."""
    return {
        "net_pnl": report.metrics["net_pnl"],
        "summary": metrics_summary(report.metrics),
        "warnings": report.metrics["warnings"],
    }


def run_summary_update(*, run_id: str, report: RunReport) -> None:
    """Merge the report's summary into the run's metadata (legacy runs read again)."""
    with transaction.atomic():  # the row locked: a concurrent metadata write is not lost
        run = Run.objects.select_for_update().filter(run_id=run_id).first()
        if run is None:
            return
        metadata = dict(run.metadata or {})
        metadata.update(run_summary_metadata(report))
        Run.objects.filter(run_id=run_id).update(metadata=metadata)
