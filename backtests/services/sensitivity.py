"""Sensitivity report: how much of a completed run's result survives realistic costs.

The run's backtest is evaluated again (``evaluation.spec_evaluate``: in this process, nothing
recorded) under slippage 0 / 1 / 2 ticks x volume participation caps 100 % / 10 % / 1 %, with
the run's own fill model, latency and tick size (each symbol's own, from its prices, unless
the run set one); the run's slippage in basis points is replaced by the grid's ticks. The nine
results (net P&L, Sharpe, return, trades, fills) are kept on the parent run, in
``metadata["sensitivity"]``, with the status of the report:

- ``sensitivity_request`` (page button, API): a completed run's report is marked ``queued``
  and a django-q2 task computes it (``sensitivity_execute``) once that is committed;
- ``run_backtest --sensitivity`` computes it in its own process, right after the run.

While it is computed the report is ``running`` with the cells done so far; it ends
``completed``, or ``failed`` with the error. A report left queued or running for longer than a
run may take (``OST_RUN_TIMEOUT_SECONDS``, plus 10 minutes) counts as failed (its worker died).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task

from backtests.engine.fill_model import FillConfig
from backtests.models import Run, RunStatus
from backtests.services.backtest_spec import BacktestSpec, backtest_spec_from_mapping
from ostsite.errors import Conflict, NotFound, ServiceError

logger = logging.getLogger(__name__)

SLIPPAGE_TICKS = (0.0, 1.0, 2.0)
PARTICIPATION_CAPS = (1.0, 0.1, 0.01)
KEY = "sensitivity"
TASK = "backtests.tasks.sensitivity_task"
QUEUED, RUNNING, COMPLETED, FAILED = "queued", "running", "completed", "failed"
STALE_AFTER_EXTRA_SECONDS = 600
CELL_METRICS = ("net_pnl", "sharpe", "total_return_pct", "max_drawdown", "trades")

RUN_NOT_FOUND = "run {run_id!r} does not exist"
RUN_NOT_COMPLETED = "run {run_id!r} is {status}; a sensitivity report needs a completed run"
ALREADY_BUSY = "the sensitivity report of run {run_id!r} is {status} already"
NO_REPORT = "run {run_id!r} has no sensitivity report yet; POST to this address to start one"
STALE_ERROR = "the worker computing it stopped (no result after {seconds:g} s)"
QUEUE_UNAVAILABLE = "The task queue cannot be reached, the report was not started: {error}"
RUN_DELETED = "the run was deleted while its sensitivity report was computed"


class QueueUnavailable(ServiceError):
    status = 503


def _run(run_id: str) -> Run:
    run = None if "\x00" in run_id else Run.objects.filter(run_id=run_id).first()
    if run is None:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id))
    return run


def sensitivity_specs(spec: BacktestSpec) -> list[tuple[float, float, BacktestSpec]]:
    """The grid: (slippage ticks, participation cap, spec) for each of the nine cells, by
    participation cap (rows), then slippage (columns)."""
    cells = []
    for cap in PARTICIPATION_CAPS:
        for ticks in SLIPPAGE_TICKS:
            fills = FillConfig(
                model=spec.fills.model,
                slippage_ticks=ticks,
                tick_size=spec.fills.tick_size,
                participation_cap=cap,
                latency_ms=spec.fills.latency_ms,
            )
            cells.append((ticks, cap, dataclasses.replace(spec, fills=fills, record="trades")))
    return cells


def _stale_seconds() -> float:
    return settings.OST_RUN_TIMEOUT_SECONDS + STALE_AFTER_EXTRA_SECONDS


def _current(run: Run) -> dict[str, Any] | None:
    """The run's report as stored; a queued or running one past its time as failed."""
    report = (run.metadata or {}).get(KEY)
    if not isinstance(report, dict):
        return None
    if report.get("status") in (QUEUED, RUNNING):
        age = (time.time_ns() - int(report.get("updated_ns") or 0)) / 1e9
        if age > _stale_seconds():
            return {**report, "status": FAILED, "error": STALE_ERROR.format(seconds=age)}
    return report


def sensitivity_get(*, run_id: str) -> dict[str, Any]:
    """The run's sensitivity report (NotFound when none was ever asked for)."""
    run = _run(run_id)
    report = _current(run)
    if report is None:
        raise NotFound(NO_REPORT.format(run_id=run_id))
    return {"run_id": run.run_id, **report}


def _store(run_id: str, report: dict[str, Any]) -> bool:
    """Write the report into the run's metadata (other keys kept); False if the run is gone."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(run_id=run_id).first()
        if run is None:
            return False
        metadata = dict(run.metadata or {})
        metadata[KEY] = {**report, "updated_ns": time.time_ns()}
        Run.objects.filter(run_id=run_id).update(metadata=metadata)
    return True


def _new_report(spec: BacktestSpec, status: str) -> dict[str, Any]:
    return {
        "status": status,
        "fill_model": spec.fills.model.value,
        "latency_ms": spec.fills.latency_ms,
        "tick_size": spec.fills.tick_size,
        "slippage_ticks": list(SLIPPAGE_TICKS),
        "participation_caps": list(PARTICIPATION_CAPS),
        "cells": [],
        "requested_ns": time.time_ns(),
    }


def _checked(run: Run) -> BacktestSpec:
    """The spec of a completed run with no report in progress (Conflict otherwise)."""
    if run.status != RunStatus.COMPLETED:
        raise Conflict(RUN_NOT_COMPLETED.format(run_id=run.run_id, status=run.status))
    current = _current(run)
    if current is not None and current.get("status") in (QUEUED, RUNNING):
        raise Conflict(ALREADY_BUSY.format(run_id=run.run_id, status=current["status"]))
    return backtest_spec_from_mapping(run.config or {})


def sensitivity_request(*, run_id: str) -> dict[str, Any]:
    """Queue the report of a completed run (a finished one is computed afresh)."""
    with transaction.atomic():
        run = _run(run_id)
        run = Run.objects.select_for_update().get(pk=run.pk)
        spec = _checked(run)
        report = _new_report(spec, QUEUED)
        _store(run.run_id, report)
        transaction.on_commit(lambda: _enqueue_or_fail(run.run_id))
    return {"run_id": run.run_id, **report}


def _enqueue_or_fail(run_id: str) -> None:
    try:
        async_task(TASK, run_id, task_name=f"sensitivity-{run_id}", group="sensitivity")
    except Exception as exc:  # any broker error: the report must not stay queued forever
        message = QUEUE_UNAVAILABLE.format(error=exc)
        logger.exception("enqueue of the sensitivity report of run %s failed", run_id)
        run = Run.objects.filter(run_id=run_id).first()
        if run is not None:
            report = dict((run.metadata or {}).get(KEY) or {})
            _store(run_id, {**report, "status": FAILED, "error": message})
        raise QueueUnavailable(message) from exc


def sensitivity_execute(
    *, run_id: str, on_cell: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Compute the run's report here and now, storing each cell as it is done; returns it.

    Queued by ``sensitivity_request``, or straight away for a completed run without a
    report in progress (``run_backtest --sensitivity``). ``on_cell(done, total)`` reports
    progress. A failing cell fails the report (its error is kept); a deleted run stops it.
    """
    from backtests.services.evaluation import spec_evaluate

    run = _run(run_id)
    current = _current(run)
    if current is None or current.get("status") != QUEUED:
        spec = _checked(run)
        report = _new_report(spec, RUNNING)
    else:
        spec = backtest_spec_from_mapping(run.config or {})
        report = {**current, "status": RUNNING}
    if not _store(run_id, report):
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id))
    grid = sensitivity_specs(spec)
    try:
        for ticks, cap, cell_spec in grid:
            evaluation = spec_evaluate(cell_spec)
            metrics = evaluation.metrics
            report["cells"].append(
                {
                    "slippage_ticks": ticks,
                    "participation_cap": cap,
                    **{name: metrics.get(name) for name in CELL_METRICS},
                    "fills": evaluation.fills,
                }
            )
            if not _store(run_id, report):
                raise NotFound(RUN_DELETED)
            if on_cell is not None:
                on_cell(len(report["cells"]), len(grid))
    except NotFound:
        raise
    except (Exception, SystemExit) as exc:  # a strategy error, bad data: the report fails
        if isinstance(exc, SystemExit) and type(exc) is not SystemExit:
            raise  # e.g. django-q2's TimeoutException: the worker's own stop, not user code
        report.update(
            status=FAILED,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc))[-4000:],
        )
        _store(run_id, report)
        return {"run_id": run_id, **report}
    report["status"] = COMPLETED
    report["finished_ns"] = time.time_ns()
    _store(run_id, report)
    return {"run_id": run_id, **report}
