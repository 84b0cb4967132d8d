"""django-q2 tasks: an interface only, the work lives in ``backtests.services.runs``.

``backtests.apps.BacktestsConfig.ready`` imports this module so the ``post_spawn`` receiver
below is connected in every process, including the worker processes of ``manage.py qcluster``
(connecting a receiver touches no database; the receiver itself runs later, in the worker).
"""

from __future__ import annotations

import logging

from django.db import connections
from django.dispatch import receiver
from django_q.signals import post_spawn

logger = logging.getLogger(__name__)

RUN_GONE = "deleted before it started"
RUN_NOT_QUEUED = "not executed: {message}"
RUN_FAILED_LOG = "run %s failed: %s\n%s"


def run_backtest_task(run_id: str) -> str:
    """Execute one queued run in this worker; returns its final status.

    First (at most every ``STALE_RECHECK_SECONDS``) fail runs of dead workers: one on another
    machine is only seen by its stale heartbeat, after this worker's start-up check.
    """
    from backtests.models import RunStatus
    from backtests.services.jobs import stale_runs_recover_throttled
    from backtests.services.runs import run_execute
    from ostsite.errors import Conflict, NotFound

    try:
        stale_runs_recover_throttled()
    except Exception:  # never keep a run from executing because the check failed
        logger.exception("stale-run check failed before run %s", run_id)
    try:
        run = run_execute(run_id=run_id)
    except NotFound:
        # The run was deleted while it waited in the queue: nothing to do.
        logger.info("run %s %s", run_id, RUN_GONE)
        return RUN_GONE
    except Conflict as exc:
        # Delivered again after it ran (or was failed as stale): never execute a run twice.
        logger.warning("run %s not executed: %s", run_id, exc.message)
        return RUN_NOT_QUEUED.format(message=exc.message)
    if run.status == RunStatus.FAILED:
        # django-q2 logs the task as "Processed" (the task itself did its job): say why the
        # run failed in the worker's terminal too, with the traceback tail that names the file.
        metadata = run.metadata or {}
        logger.error(
            RUN_FAILED_LOG,
            run_id,
            metadata.get("error", "unknown error"),
            metadata.get("traceback", "(no traceback)").rstrip(),
        )
    return str(run.status)


def sensitivity_task(run_id: str) -> str:
    """Compute the queued sensitivity report of a completed run; returns its final status."""
    from backtests.services.sensitivity import sensitivity_execute
    from ostsite.errors import Conflict, NotFound

    try:
        return str(sensitivity_execute(run_id=run_id)["status"])
    except NotFound:
        logger.info("sensitivity report of run %s: run deleted", run_id)
        return RUN_GONE
    except Conflict as exc:
        logger.warning("sensitivity report of run %s not computed: %s", run_id, exc.message)
        return RUN_NOT_QUEUED.format(message=exc.message)


@receiver(post_spawn, dispatch_uid="backtests.fail_stale_runs_on_worker_start")
def fail_stale_runs_on_worker_start(sender: object, proc_name: str = "", **kwargs: object) -> None:
    """A (re)started worker fails runs that a dead worker left ``running``."""
    from backtests.services.jobs import runs_recover

    try:
        count = runs_recover()
    except Exception:  # a worker must start even when the check cannot run
        logger.exception("stale-run check failed in %s", proc_name)
        return
    finally:
        # The worker opens its own connections per task; do not keep this one idle.
        connections.close_all()
    if count:
        logger.warning("%s marked %d stale run(s) as failed", proc_name, count)
