"""django-q2 brokers that note which cluster took a backtest's task from the queue.

A cluster takes tasks ahead of its free workers: they leave the broker (popped from Redis,
locked in the ORM queue) and wait in the cluster's own memory. While the cluster lives they
will run; if it dies they are lost. ``runs_requeue_lost`` must tell the two apart, so the
cluster's task fetcher (django-q2's "pusher" process, a child of the cluster's sentinel)
writes ``Run.taken_by = "host:sentinel-pid"`` for each backtest task it takes, before the
task enters the cluster's queue. Everything else is django-q2's own ORM or Redis broker.

``Q_CLUSTER["broker_class"]`` names ``tracking_broker``, which picks the ORM broker or Redis
as django-q2 would (``Conf.ORM`` set: ORM; otherwise Redis).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from django.core.signing import BadSignature
from django_q.brokers import Broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf
from django_q.signing import SignedPackage

logger = logging.getLogger(__name__)

RUN_TASK = "backtests.tasks.run_backtest_task"


def cluster_identity() -> str:
    """``host:pid`` of the cluster this task fetcher belongs to (its parent, the sentinel,
    which holds the cluster's task queue)."""
    return f"{socket.gethostname()}:{os.getppid()}"


def run_ids_of(payloads: list[Any]) -> list[str]:
    """The run ids of the backtest tasks among signed task ``payloads``."""
    run_ids = []
    for payload in payloads:
        try:
            task = SignedPackage.loads(payload)
        except (BadSignature, ValueError, TypeError):
            continue  # another site's or a damaged task: not ours to judge
        if task.get("func") == RUN_TASK and task.get("args"):
            run_ids.append(str(task["args"][0]))
    return run_ids


def note_taken(tasks: list[tuple[Any, Any]] | None) -> None:
    """Write ``taken_by`` of the queued runs whose tasks were just taken; never raises (a
    failed note only risks the run being enqueued again, which runs it once anyway)."""
    if not tasks:
        return
    try:
        from backtests.models import Run, RunStatus

        run_ids = run_ids_of([payload for _, payload in tasks])
        if run_ids:
            Run.objects.filter(run_id__in=run_ids, status=RunStatus.QUEUED).update(
                taken_by=cluster_identity()
            )
    except Exception:
        logger.exception("could not note which cluster took backtest tasks")


class TrackingORM(ORM):
    def dequeue(self):
        tasks = super().dequeue()
        note_taken(tasks)
        return tasks


class TrackingRedis(Redis):
    def dequeue(self):
        tasks = super().dequeue()
        note_taken(tasks)
        return tasks


def tracking_broker(list_key: str | None = None) -> Broker:
    """The broker django-q2 would use (ORM when ``Conf.ORM`` is set, else Redis), noting
    the cluster that takes each backtest task."""
    if Conf.ORM:
        return TrackingORM(list_key=list_key)
    return TrackingRedis(list_key=list_key)
