"""Cancelling and deleting runs on behalf of a user, under the one ownership rule.

``ostsite.permissions``: a user may cancel or delete their own runs; other users' runs, and
runs without an owner, need ``backtests.cancel_run`` / ``backtests.delete_run``. These
functions check it, then call the lifecycle services (``run_cancel``, ``runs_delete``). The
API, the pages (through the API) and the admin go through them or the same rule.
"""

from __future__ import annotations

from typing import Any

from backtests.models import Run
from backtests.services.runs import RUN_IDS_INVALID, RUN_NOT_FOUND, run_cancel, runs_delete
from ostsite.errors import InvalidInput, NotFound
from ostsite.permissions import user_may_check, user_may_check_all


def run_cancel_as(*, user: Any, run_id: str) -> Run:
    """``run_cancel`` if ``user`` may cancel the run (404 unknown, 403 not theirs)."""
    run = None if "\x00" in run_id else Run.objects.filter(run_id=run_id).first()
    if run is None:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id))
    user_may_check(user=user, obj=run, action="cancel", ident=run.run_id)
    return run_cancel(run_id=run_id)


def runs_delete_as(*, user: Any, run_ids: list[str]) -> int:
    """``runs_delete`` if ``user`` may delete every listed run that exists; otherwise a 403
    naming the runs that are not theirs, and nothing is deleted. Unknown ids are ignored,
    as ``runs_delete`` does."""
    if not isinstance(run_ids, list | tuple) or not all(isinstance(r, str) for r in run_ids):
        raise InvalidInput(RUN_IDS_INVALID, fields={"run_ids": RUN_IDS_INVALID})
    existing = Run.objects.filter(run_id__in=[r for r in run_ids if "\x00" not in r]).only(
        "run_id", "owner_id"
    )
    user_may_check_all(
        user=user, objects=existing.order_by("run_id"), action="delete", ident="run_id"
    )
    return runs_delete(run_ids=list(run_ids))
