"""``manage.py rerun`` and ``/api/runs/{id}/rerun``: a run again from its config, its fills
compared one by one with the original's (tampered originals show the first difference)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from backtests.models import Fill, Run, RunStatus
from backtests.services.rerun import (
    FILL_MISSING,
    NEVER_RERUN,
    RERUN_NOT_COMPLETED,
    RERUN_NOT_RUNNABLE,
)
from backtests.services.runs import run_execute
from tests.backtests.run_rows import run_row

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


def rerun(run_id: str) -> str:
    out = io.StringIO()
    call_command("rerun", run_id, stdout=out)
    return out.getvalue()


def ordered_fills(run_id: str) -> list[Fill]:
    return list(Fill.objects.filter(run_id=run_id).order_by("ts_event_ns", "id"))


def test_rerun_of_an_untouched_run_is_identical(executed_run):
    text = rerun(executed_run.run_id)
    count = Fill.objects.filter(run_id=executed_run.run_id).count()
    assert f"Fills identical: {count:,} fills of {executed_run.run_id}" in text
    new = Run.objects.exclude(run_id=executed_run.run_id).get()
    assert new.config["rerun_of"] == executed_run.run_id
    assert new.config["record"] == "trades"
    assert new.name == f"Rerun of {executed_run.name}"


def test_rerun_reports_the_first_fill_that_differs_and_exits_1(executed_run, capsys):
    third = ordered_fills(executed_run.run_id)[2]
    Fill.objects.filter(pk=third.pk).update(fill_price=third.fill_price + 0.25)
    with pytest.raises(SystemExit) as exit_info:
        rerun(executed_run.run_id)
    assert exit_info.value.code == 1


def test_rerun_message_names_the_position_and_field(executed_run):
    from backtests.services.rerun import fills_compare, rerun_create

    third = ordered_fills(executed_run.run_id)[2]
    Fill.objects.filter(pk=third.pk).update(fill_price=third.fill_price + 0.25)
    _, new = rerun_create(run_id=executed_run.run_id)
    run_execute(run_id=new.run_id)
    result = fills_compare(original_id=executed_run.run_id, rerun_id=new.run_id)
    assert not result.identical
    assert result.first_difference["index"] == 3
    assert result.first_difference["fields"] == ["fill_price"]
    assert result.first_difference["original"]["fill_price"] == third.fill_price + 0.25
    assert result.first_difference["rerun"]["fill_price"] == third.fill_price
    assert result.message.startswith("fill #3 differs in fill_price")


def test_rerun_with_a_fill_missing_from_the_original(executed_run):
    from backtests.services.rerun import fills_compare, rerun_create

    fills = ordered_fills(executed_run.run_id)
    Fill.objects.filter(pk=fills[-1].pk).delete()
    _, new = rerun_create(run_id=executed_run.run_id)
    run_execute(run_id=new.run_id)
    result = fills_compare(original_id=executed_run.run_id, rerun_id=new.run_id)
    n = len(fills)
    assert (result.original_fills, result.rerun_fills) == (n - 1, n)
    assert result.message == FILL_MISSING.format(original=n - 1, rerun=n, index=n, side="rerun")


def test_rerun_cannot_tell_for_unknown_active_or_unrunnable_runs(executed_run):
    with pytest.raises(CommandError) as unknown:
        rerun("nope")
    assert unknown.value.returncode == 2
    run_row("busy", status=RunStatus.RUNNING)
    with pytest.raises(CommandError) as busy:
        rerun("busy")
    assert str(busy.value) == RERUN_NOT_COMPLETED.format(run_id="busy", status="running")
    assert busy.value.returncode == 2
    Run.objects.filter(pk=executed_run.pk).update(
        config={**executed_run.config, "strategy": "Vanished"}
    )
    with pytest.raises(CommandError) as gone:
        rerun(executed_run.run_id)
    assert str(gone.value).startswith(
        RERUN_NOT_RUNNABLE.format(run_id=executed_run.run_id, error="unknown strategy 'Vanished'")
    )
    assert gone.value.returncode == 2


def test_rerun_api_queues_then_answers_the_comparison(api_client, executed_run):
    run_id = executed_run.run_id
    assert api_client.get(f"/api/runs/{run_id}/rerun").json() == {
        "error": NEVER_RERUN.format(run_id=run_id)
    }
    response = api_client.post(f"/api/runs/{run_id}/rerun")
    assert response.status_code == 200
    body = response.json()
    assert body["rerun_of"] == run_id and body["status"] == "queued"
    pending = api_client.get(f"/api/runs/{run_id}/rerun").json()
    assert pending == {
        "run_id": run_id,
        "rerun_id": body["run_id"],
        "status": "queued",
        "identical": None,
    }
    run_execute(run_id=body["run_id"])  # what the worker does
    done = api_client.get(f"/api/runs/{run_id}/rerun").json()
    assert done["identical"] is True
    assert (
        done["original_fills"] == done["rerun_fills"] == Fill.objects.filter(run_id=run_id).count()
    )


def test_rerun_api_refusals(api_client):
    assert api_client.post("/api/runs/nope/rerun").status_code == 404
    run_row("busy", status=RunStatus.RUNNING)
    response = api_client.post("/api/runs/busy/rerun")
    assert response.status_code == 409
    assert response.json() == {"error": RERUN_NOT_COMPLETED.format(run_id="busy", status="running")}
