"""Running a study on this machine, in N processes, without the task queue (``run_study``).

Each process is a fork of the caller (imports and settings warm; database connections are
closed first so each child opens its own) that claims batches of the study's waiting trials
until the study is no longer active, exactly as a queue worker would. Workers of a
``qcluster`` may share the same study meanwhile. A child that dies is replaced once its
trials were put back to waiting. Ctrl-C cancels the study (``run_study --resume`` continues).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable

from django.db import connections

from backtests.studies.execution import study_batch_run
from backtests.studies.models import ACTIVE_STUDY_STATUSES, Study, Trial, TrialStatus
from backtests.studies.recovery import trials_recover
from backtests.studies.services import study_advance, study_cancel

POLL_SECONDS = 0.25
MAX_RESTARTS = 20


def _work(study_id: str) -> None:
    """Claim and run batches until the study stops (a child process's whole life)."""
    while True:
        done = study_batch_run(study_id=study_id, enqueue=False)
        if done:
            continue
        status = Study.objects.filter(study_id=study_id).values_list("status", flat=True).first()
        if status not in ACTIVE_STUDY_STATUSES:
            return
        if not Trial.objects.filter(study_id=study_id, status=TrialStatus.WAITING).exists():
            time.sleep(POLL_SECONDS)  # others run the rest (a generation ends); look again


def _child(study_id: str) -> None:
    connections.close_all()  # never share the parent's sockets or SQLite handles
    try:
        _work(study_id)
    finally:
        connections.close_all()


def study_run_locally(
    *, study_id: str, jobs: int, on_poll: Callable[[Study], None] | None = None
) -> Study:
    """Run the study in ``jobs`` processes (1: in this process) until it stops; returns it.

    ``on_poll`` is called with the study about four times a second (progress display).
    """
    if jobs <= 1:
        study_advance(study_id=study_id, enqueue=False)
        _work_with_polls(study_id, on_poll)
        return Study.objects.get(study_id=study_id)
    context = multiprocessing.get_context("fork")
    connections.close_all()
    children = [context.Process(target=_child, args=(study_id,)) for _ in range(jobs)]
    for child in children:
        child.start()
    restarts = 0
    try:
        while True:
            study = Study.objects.get(study_id=study_id)
            if on_poll is not None:
                on_poll(study)
            alive = [c for c in children if c.is_alive()]
            if not alive and study.status in ACTIVE_STUDY_STATUSES:
                study_advance(study_id=study_id, enqueue=False)
            dead = [c for c in children if not c.is_alive() and c.exitcode not in (0, None)]
            if dead and study.status in ACTIVE_STUDY_STATUSES and restarts < MAX_RESTARTS:
                trials_recover(enqueue=False)
                for child in dead:
                    children.remove(child)
                    replacement = context.Process(target=_child, args=(study_id,))
                    connections.close_all()
                    replacement.start()
                    children.append(replacement)
                    restarts += 1
                continue
            if not alive:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        study_cancel(study_id=study_id)
        for child in children:
            child.join()
        raise
    for child in children:
        child.join()
    study = Study.objects.get(study_id=study_id)
    if on_poll is not None:
        on_poll(study)
    return study


def _work_with_polls(study_id: str, on_poll: Callable[[Study], None] | None) -> None:
    try:
        while True:
            done = study_batch_run(study_id=study_id, enqueue=False)
            study = Study.objects.get(study_id=study_id)
            if on_poll is not None:
                on_poll(study)
            if study.status not in ACTIVE_STUDY_STATUSES:
                return
            if (
                not done
                and not Trial.objects.filter(study_id=study_id, status=TrialStatus.WAITING).exists()
            ):
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        study_cancel(study_id=study_id)
        raise


def default_jobs() -> int:
    """The machine's cores (what ``run_study --jobs`` defaults to)."""
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
