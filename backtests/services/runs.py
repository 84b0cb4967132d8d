"""The lifecycle of a run: create, execute, cancel, delete, and reap runs of dead workers.

A run moves queued -> running -> completed | failed | cancelled; a cancel of a running run
makes it ``cancelling`` until its worker has really stopped, then ``cancelled``.
``run_execute`` does the work in the calling process; while it runs it writes progress and a
heartbeat to the run row at most every ``MONITOR_INTERVAL_SECONDS`` and, with the same
statement, notices a cancellation (the status changed) or a deletion (the row is gone) so it
stops within a second.

A run belongs to the execution that claimed it (``_claim`` writes a fresh token to
``Run.claim``). Every write of that execution (heartbeats, row batches, the final state)
checks the token and the status in the same statement or transaction: a worker that was
paused past the heartbeat limit, whose run was meanwhile failed as stale, writes nothing more.

User code cannot take the process down with it: an exception from a strategy (its file's
import, ``__init__``/``setup``, ``on_bar`` or a response hook), and a plain ``SystemExit``
(``sys.exit()`` in user code), end the run ``failed`` with the error and the traceback tail in
its metadata; the worker goes on with its next task. When a run starts, the strategy files are
brought up to date (an edited file is imported again); if that import fails, the run fails
with the import traceback (``UserCodeError``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from backtests.engine.orchestrator import Orchestrator
from backtests.models import ACTIVE_STATUSES, EXECUTING_STATUSES, Run, RunStatus
from backtests.recording import OrmRecorder
from backtests.results.services import run_report_store, run_summary_metadata
from backtests.services.backtest_spec import (
    BacktestSpec,
    UserCodeError,
    backtest_spec_from_mapping,
)
from backtests.services.evaluation import orchestrator_build, report_build, strategy_build
from backtests.services.run_purge import runs_purge
from ostsite.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)

MONITOR_INTERVAL_SECONDS = 0.25
TRACEBACK_TAIL_CHARS = 4000

RUN_NOT_FOUND = "run {run_id!r} does not exist"
RUN_NOT_QUEUED = "run {run_id!r} is {status}; only a queued run can be executed"
RUN_ALREADY_FINISHED = "run {run_id!r} already finished ({status}); it cannot be cancelled"
RUN_IDS_INVALID = "run_ids must be a list of run id strings"
STALE_RUN_ERROR = "the worker stopped responding (no heartbeat for more than {seconds:g} s)"
INTERRUPTED_ERROR = "interrupted"


def _new_run_id() -> str:
    return secrets.token_hex(6)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _get_run(run_id: str) -> Run:
    if not isinstance(run_id, str) or "\x00" in run_id:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id))
    try:
        return Run.objects.get(run_id=run_id)
    except Run.DoesNotExist:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id)) from None


def run_create(*, spec: BacktestSpec, name: str | None = None, owner: Any = None) -> Run:
    """A new queued run of ``spec`` owned by ``owner`` (a user, or None); the caller enqueues
    or executes it."""
    return Run.objects.create(
        run_id=_new_run_id(),
        name=(name or "").strip() or spec.default_name(),
        ts_start=time.time_ns(),
        status=RunStatus.QUEUED,
        config=spec.to_config(),
        metadata={},
        owner=owner,
    )


class _RunMonitor:
    """Progress + heartbeat writes that double as the cancellation check.

    At most every ``MONITOR_INTERVAL_SECONDS`` one UPDATE writes the progress and a heartbeat
    to the run row, only while it is still running under this execution's claim; no row
    updated means the run is being cancelled, was deleted, or is no longer this execution's
    (failed as stale), and ``should_cancel`` turns True. While a run is ``cancelling`` its
    heartbeat goes on until the run is over, so a worker finishing its last batch is not
    taken for a dead one. The UPDATE runs on a thread of its own, so the backtest never waits
    for the database's write lock (held by its recorder's writer now and then on SQLite);
    ``should_cancel`` just reads a flag. When the caller has a transaction open, its run row
    is only visible to its own connection: then the checks run inline, on the caller's
    connection, as the run goes.
    """

    def __init__(
        self, run_id: str, claim: str, on_progress: Callable[[float], None] | None
    ) -> None:
        self.run_id = run_id
        self.claim = claim
        self.on_progress = on_progress
        self.fraction = 0.0
        self.stop = False
        self.deleted = False
        self.lost = False  # the row is there but no longer this execution's
        self._last = time.monotonic()
        self._inline = connection.in_atomic_block
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        if not self._inline:
            self._thread = threading.Thread(target=self._beat, name="ost-heartbeat", daemon=True)
            self._thread.start()

    def progress(self, fraction: float) -> None:
        self.fraction = fraction
        if self.on_progress is not None:
            self.on_progress(fraction)
        if self._inline:
            self._tick()

    def should_cancel(self) -> bool:
        if self._inline:
            self._tick()
        return self.stop

    def close(self) -> None:
        """Stop the heartbeat thread (the run is over)."""
        if self._thread is not None:
            self._closing.set()
            self._thread.join()
            self._thread = None

    def _beat(self) -> None:
        try:
            while not self._closing.wait(MONITOR_INTERVAL_SECONDS) and not self._over:
                try:
                    self._write()
                except DatabaseError as exc:  # e.g. locked for longer than the busy timeout
                    logger.warning("run %s: heartbeat not written: %s", self.run_id, exc)
        finally:
            connection.close()  # this thread's own connection

    @property
    def _over(self) -> bool:
        return self.deleted or self.lost

    def _tick(self) -> None:
        now = time.monotonic()
        if self.stop or now - self._last < MONITOR_INTERVAL_SECONDS:
            return
        self._last = now
        self._write()

    def percent(self) -> float:
        """Progress as the run row stores it: 0-100, two decimals."""
        return round(min(max(self.fraction * 100.0, 0.0), 100.0), 2)

    def _write(self) -> None:
        mine = Run.objects.filter(run_id=self.run_id, claim=self.claim)
        now = time.time_ns()
        if not self.stop:
            percent = self.percent()
            if mine.filter(status=RunStatus.RUNNING).update(progress=percent, heartbeat_ns=now):
                return
        if mine.filter(status=RunStatus.CANCELLING).update(heartbeat_ns=now):
            self.stop = True  # being cancelled: stop, and keep beating until the end
            return
        row = Run.objects.filter(run_id=self.run_id).values_list("claim", flat=True).first()
        self.deleted = row is None
        self.lost = row is not None
        self.stop = True


def _claim(run: Run) -> str | None:
    """queued -> running, atomically, under a new claim token; None if someone else changed
    the status first."""
    token = secrets.token_hex(8)
    claimed = Run.objects.filter(run_id=run.run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING,
        worker=_worker_name(),
        heartbeat_ns=time.time_ns(),
        started_ns=time.time_ns(),
        progress=0.0,
        claim=token,
        taken_by="",
    )
    return token if claimed else None


def _finish(
    run_id: str,
    claim: str,
    status: str,
    metadata: dict[str, Any],
    *,
    progress: float | None = None,
) -> Run | None:
    """Write the final state if the run is still this execution's (``claim``): ``status``
    from running, ``cancelled`` from cancelling (a cancel always wins). The row as it is now
    (None if gone)."""
    fields: dict[str, Any] = {"status": status, "ts_end": time.time_ns(), "metadata": metadata}
    if progress is not None:
        fields["progress"] = progress
    mine = Run.objects.filter(run_id=run_id, claim=claim)
    if not mine.filter(status=RunStatus.RUNNING).update(**fields):
        fields["status"] = RunStatus.CANCELLED
        mine.filter(status=RunStatus.CANCELLING).update(**fields)
    return Run.objects.filter(run_id=run_id).first()


def _error_metadata(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, UserCodeError):  # the import's traceback, not this module's
        return {"error": exc.message, "traceback": exc.traceback_text[-TRACEBACK_TAIL_CHARS:]}
    tail = "".join(traceback.format_exception(exc))[-TRACEBACK_TAIL_CHARS:]
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": tail}


def _indicator_metadata(strategy: Any) -> list[dict[str, str]]:
    return [
        {
            "name": ind.name,
            "placement": ind.plot.placement,
            "color": ind.plot.color,
            "style": ind.plot.style,
        }
        for ind in strategy.indicators
    ]


def run_execute(*, run_id: str, on_progress: Callable[[float], None] | None = None) -> Run:
    """Execute a queued run here and now; returns the run in its final state.

    A cancelled run is returned untouched; a run in any other non-queued state is a Conflict.
    If the row is deleted while executing, the work stops, nothing more is written, and the
    last known Run object is returned with status ``cancelled`` (not saved).
    """
    run = _get_run(run_id)
    if run.status == RunStatus.CANCELLED:
        return run
    claim = _claim(run) if run.status == RunStatus.QUEUED else None
    if claim is None:
        run = _get_run(run_id)
        if run.status == RunStatus.CANCELLED:
            return run
        raise Conflict(RUN_NOT_QUEUED.format(run_id=run_id, status=run.status))

    monitor = _RunMonitor(run_id, claim, on_progress)
    recorder: OrmRecorder | None = None
    strategy = None
    orchestrator: Orchestrator | None = None
    spec: BacktestSpec | None = None
    try:
        spec = backtest_spec_from_mapping(run.config or {})
        strategy = strategy_build(spec)
        recorder = OrmRecorder(run_id=run_id, record=spec.record, claim=claim)
        recorder.open()
        orchestrator = orchestrator_build(
            spec,
            strategy=strategy,
            recorder=recorder,
            on_progress=monitor.progress,
            should_cancel=monitor.should_cancel,
        )
        started = time.perf_counter()
        outcome = orchestrator.run()
        recorder.flush()
        elapsed = time.perf_counter() - started
    except KeyboardInterrupt:
        monitor.close()
        _flush_quietly(recorder)
        _finish(run_id, claim, RunStatus.CANCELLED, {"error": INTERRUPTED_ERROR})
        raise
    except (Exception, SystemExit) as exc:
        monitor.close()
        if isinstance(exc, SystemExit) and type(exc) is not SystemExit:
            raise  # e.g. django-q2's TimeoutException: the worker's own stop, not user code
        metadata = _error_metadata(exc)
        flush_error = _flush_quietly(recorder)
        if flush_error:
            metadata["flush_error"] = flush_error
        if strategy is not None:
            metadata["indicators"] = _safe_indicators(strategy)
            metadata.update(_failed_bar(strategy))
        if orchestrator is not None and spec is not None and _still_mine(run_id, claim):
            metadata.update(_store_report_quietly(run_id, orchestrator, spec, strategy))
        # How far it got: the progress up to the failing bar, not the last heartbeat's.
        return _finish(
            run_id, claim, RunStatus.FAILED, metadata, progress=monitor.percent()
        ) or _gone(run)

    monitor.close()
    if recorder.run_deleted or monitor.deleted or monitor.lost or not _still_mine(run_id, claim):
        # Deleted, or no longer this execution's: nothing more is written.
        return Run.objects.filter(run_id=run_id).first() or _gone(run)
    reporting = time.perf_counter()
    report = report_build(outcome.account, spec, strategy)
    run_report_store(run_id=run_id, report=report)
    metadata = {
        "indicators": _indicator_metadata(strategy),
        "bars": outcome.bars,
        "orders": outcome.orders,
        "fills": outcome.fills,
        **run_summary_metadata(report),
        "bars_per_second": round(outcome.bars / elapsed, 1) if elapsed > 0 else 0.0,
        "duration_seconds": round(elapsed, 3),
        "results_seconds": round(time.perf_counter() - reporting, 3),
        "rows_recorded": recorder.rows_written,
        # ambiguous/resolved/unresolved bars under the strict and intrabar fill models
        **(orchestrator.broker.fill_stats() or {}),
    }
    if outcome.status == "cancelled":
        # Cancelled meanwhile: end it cancelled, with what the run did until it stopped.
        return _finish(run_id, claim, RunStatus.CANCELLED, metadata) or _gone(run)
    return _finish(run_id, claim, RunStatus.COMPLETED, metadata, progress=100.0) or _gone(run)


def _still_mine(run_id: str, claim: str) -> bool:
    """Whether the run is still executing under this claim (its results may be written)."""
    return Run.objects.filter(run_id=run_id, claim=claim, status__in=EXECUTING_STATUSES).exists()


def _store_report_quietly(
    run_id: str, orchestrator: Orchestrator, spec: BacktestSpec, strategy: Any
) -> dict[str, Any]:
    """Store what a failed run did until it failed; its summary for the metadata."""
    try:
        report = report_build(orchestrator.account(), spec, strategy)
        run_report_store(run_id=run_id, report=report)
    except Exception:  # the run failed already; its results are a bonus, never a new error
        logger.exception("run %s: results of the failed run not stored", run_id)
        return {}
    return run_summary_metadata(report)


def _flush_quietly(recorder: OrmRecorder | None) -> str | None:
    """Write what is buffered after a failure; the error text if that fails too."""
    if recorder is None:
        return None
    try:
        recorder.flush()
    except Exception as exc:  # the run is failing anyway; report, do not mask the first error
        return f"{type(exc).__name__}: {exc}"
    return None


def _failed_bar(strategy: Any) -> dict[str, Any]:
    """``{"failed_bar": {"symbol", "ts_event_ns"}}`` of the bar the strategy was handling."""
    bar = getattr(strategy, "_current", None)
    if bar is None:
        return {}
    return {"failed_bar": {"symbol": str(bar.symbol), "ts_event_ns": int(bar.ts_event_ns)}}


def _safe_indicators(strategy: Any) -> list[dict[str, str]]:
    try:
        return _indicator_metadata(strategy)
    except Exception:  # a half-built strategy may have no indicators to describe
        return []


def _gone(run: Run) -> Run:
    run.status = RunStatus.CANCELLED
    return run


def run_cancel(*, run_id: str) -> Run:
    """queued -> cancelled at once; running -> cancelling, which its worker notices within a
    second and turns into cancelled once it has stopped. Cancelling a cancelling or cancelled
    run changes nothing; a finished one is a Conflict."""
    with transaction.atomic():
        run = _get_run(run_id)
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            raise Conflict(RUN_ALREADY_FINISHED.format(run_id=run_id, status=run.status))
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.CANCELLED
            run.ts_end = time.time_ns()
            run.save(update_fields=["status", "ts_end"])
        elif run.status == RunStatus.RUNNING:
            run.status = RunStatus.CANCELLING
            run.save(update_fields=["status"])
    return run


def runs_delete(*, run_ids: list[str]) -> int:
    """Delete these runs and all their rows; running ones are cancelled first. Unknown ids
    are ignored. Returns how many runs were deleted.

    The runs are marked deleted in one short transaction (``runs_mark_deleted``: hidden
    everywhere from then on), then their rows are purged in bounded chunks
    (``backtests.services.run_purge``), so the write lock is never held for long. (Inside a
    caller's transaction the chunks are savepoints of it: call ``runs_mark_deleted`` there
    and ``runs_purge`` after it commits, as ``studies_delete`` does.)
    """
    marked = runs_mark_deleted(run_ids=run_ids)
    runs_purge(run_ids=marked)
    return len(marked)


def runs_mark_deleted(*, run_ids: list[str]) -> list[str]:
    """Mark these runs deleted (active ones cancelled) in one transaction; the ids marked."""
    if not isinstance(run_ids, list | tuple) or not all(isinstance(r, str) for r in run_ids):
        raise InvalidInput(RUN_IDS_INVALID, fields={"run_ids": RUN_IDS_INVALID})
    ids = [r for r in run_ids if "\x00" not in r]
    if not ids:
        return []
    with transaction.atomic():
        marked = list(Run.objects.filter(run_id__in=ids).values_list("run_id", flat=True))
        # Cancelled and hidden in one write: a worker's next batch or heartbeat finds the
        # run no longer its claim's (or gone) and stops writing.
        Run.objects.filter(run_id__in=marked, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.CANCELLED, ts_end=time.time_ns()
        )
        Run.objects.filter(run_id__in=marked).update(deleted=True)
    return marked


def run_end_abandoned(run: Run, error: str) -> None:
    """End a run whose worker is gone (the caller holds its row locked): ``failed`` with
    ``error``, or ``cancelled`` if it was being cancelled (the user's wish came true; the
    reason is kept under ``metadata["stopped"]``)."""
    if run.status == RunStatus.CANCELLING:
        run.status = RunStatus.CANCELLED
        run.metadata = {**(run.metadata or {}), "stopped": error}
    else:
        run.status = RunStatus.FAILED
        run.metadata = {**(run.metadata or {}), "error": error}
    run.ts_end = time.time_ns()
    run.save(update_fields=["metadata", "status", "ts_end"])


def runs_fail_stale(*, older_than_seconds: float = 30) -> int:
    """Mark runs left ``running`` without a heartbeat for that long as failed (dead worker);
    ``cancelling`` ones end ``cancelled``. Takes the write lock only when some run is stale."""
    cutoff = time.time_ns() - int(older_than_seconds * 1_000_000_000)
    stale = Run.objects.filter(status__in=EXECUTING_STATUSES).filter(
        Q(heartbeat_ns__lt=cutoff) | Q(heartbeat_ns__isnull=True)
    )
    if not stale.exists():  # a read: the write lock is only taken when there is work
        return 0
    count = 0
    with transaction.atomic():
        for run in stale.select_for_update():
            run_end_abandoned(run, STALE_RUN_ERROR.format(seconds=older_than_seconds))
            count += 1
    return count
