"""Lost out-of-sample tasks: a window whose study finished but whose task was lost, and one
whose worker died mid-run (a stale heartbeat), are queued again; a window queued a moment ago,
or still in its study, is left alone; walk-forwards run by ``run_walkforward`` too."""

from __future__ import annotations

import time

import pytest

from backtests.studies.local import study_run_locally
from backtests.walkforward.definition import walkforward_definition_build
from backtests.walkforward.execution import window_oos_run
from backtests.walkforward.models import WalkForwardStatus, WalkForwardWindow, WindowStatus
from backtests.walkforward.recovery import STALE_WINDOW_SECONDS, walkforwards_recover
from backtests.walkforward.services import walkforward_create

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])
LONG_AGO = int((STALE_WINDOW_SECONDS + 5) * 1e9)


def test_lost_and_dead_windows_are_queued_again_and_finish(walkforward_body):
    walkforward = walkforward_create(definition=walkforward_definition_build(**walkforward_body))
    first, second = walkforward.windows.order_by("index")
    assert walkforwards_recover() == []  # both studies are still to run
    for window in (first, second):
        study_run_locally(study_id=window.study_id, jobs=1)
    # The studies' finish queued both out-of-sample tasks just now: nothing is stale yet.
    assert all(w.heartbeat_ns for w in walkforward.windows.all())
    assert walkforwards_recover() == []
    now = time.time_ns()
    # The first window's task was lost in the queue; the second's worker died mid-run.
    WalkForwardWindow.objects.filter(pk=first.pk).update(heartbeat_ns=now - LONG_AGO)
    WalkForwardWindow.objects.filter(pk=second.pk).update(
        status=WindowStatus.OUT_OF_SAMPLE, heartbeat_ns=now - LONG_AGO
    )
    assert sorted(walkforwards_recover()) == [first.pk, second.pk]
    for window in walkforward.windows.all():
        assert window.status == WindowStatus.IN_SAMPLE
        assert window.heartbeat_ns >= now  # queued again just now
    assert walkforwards_recover() == []  # not twice
    for window in (first, second):
        assert window_oos_run(window_id=window.pk) == WindowStatus.COMPLETE
    walkforward.refresh_from_db()
    assert walkforward.status == WalkForwardStatus.COMPLETED


def test_walkforwards_run_by_the_command_are_left_alone(walkforward_body):
    walkforward = walkforward_create(
        definition=walkforward_definition_build(**walkforward_body), enqueue=False
    )
    for window in walkforward.windows.all():
        study_run_locally(study_id=window.study_id, jobs=1)
    assert walkforwards_recover() == []
