"""The studies admin: list with progress, a study with its best trials and verdict, the
cancel and resume actions, delete through the service (opened runs go too)."""

from __future__ import annotations

import re

import pytest

from backtests.models import Run
from backtests.studies.admin import CANCELLED, NOTHING_TO_CANCEL, RESUMED
from backtests.studies.definition import study_definition_build
from backtests.studies.execution import study_batch_run
from backtests.studies.models import Study, StudyStatus, Trial
from backtests.studies.services import study_create, trial_open_as_run

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])
CHANGELIST = "/admin/backtests/study/"


def finished(body) -> Study:
    study = study_create(definition=study_definition_build(**body), enqueue=False)
    while study.status in (StudyStatus.QUEUED, StudyStatus.RUNNING):
        study_batch_run(study_id=study.study_id, enqueue=False)
        study.refresh_from_db()
    return study


def test_list_and_detail_show_progress_best_trials_and_verdict(admin_client, study_body):
    study = finished(study_body)
    queued = study_create(definition=study_definition_build(**study_body), enqueue=False)
    html = admin_client.get(CHANGELIST).content.decode()
    assert f">{study.study_id}</a>" in html and f">{queued.study_id}</a>" in html
    assert '<td class="field-trials_text">10 / 10</td>' in html
    assert '<td class="field-trials_text">0 / 10</td>' in html
    assert '<td class="field-objective_text">net_pnl (max)</td>' in html
    page = admin_client.get(f"{CHANGELIST}{study.study_id}/change/").content.decode()
    assert study.analysis["verdict"].split(":")[0] in page
    shown = [int(n) for n in re.findall(r'field-number">\s*<p>(\d+)</p>', page)]
    expected = Trial.objects.filter(study=study).order_by("-value", "number")
    assert shown == list(expected.values_list("number", flat=True))  # best first


def test_cancel_and_resume_actions(admin_client, study_body):
    study = study_create(definition=study_definition_build(**study_body), enqueue=False)
    response = admin_client.post(
        CHANGELIST, {"action": "cancel_selected", "_selected_action": [study.study_id]}, follow=True
    )
    assert CANCELLED.format(count=1) in response.content.decode()
    assert Study.objects.get(pk=study.pk).status == StudyStatus.CANCELLED
    response = admin_client.post(
        CHANGELIST, {"action": "cancel_selected", "_selected_action": [study.study_id]}, follow=True
    )
    assert NOTHING_TO_CANCEL in response.content.decode()
    response = admin_client.post(
        CHANGELIST, {"action": "resume_selected", "_selected_action": [study.study_id]}, follow=True
    )
    assert RESUMED.format(count=1) in response.content.decode()
    assert Study.objects.get(pk=study.pk).status == StudyStatus.QUEUED


def test_delete_takes_trials_and_opened_runs(admin_client, study_body):
    study = finished(study_body)
    run = trial_open_as_run(study_id=study.study_id, number=0, enqueue=False)
    response = admin_client.post(f"{CHANGELIST}{study.study_id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Study.objects.exists() and not Trial.objects.exists()
    assert not Run.objects.filter(run_id=run.run_id).exists()


def test_trials_are_read_only(admin_client, study_body):
    study = finished(study_body)
    trial = Trial.objects.filter(study=study).first()
    page = admin_client.get(f"/admin/backtests/trial/{trial.pk}/change/")
    assert page.status_code == 200
    assert (
        admin_client.post(f"/admin/backtests/trial/{trial.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_staff_may_not_delete_a_study_that_is_not_theirs(client, study_body, django_user_model):
    from django.contrib.auth.models import Permission

    owner = django_user_model.objects.create_user(username="olga", password="pw-olga-123")
    study = study_create(definition=study_definition_build(**study_body), enqueue=False)
    Study.objects.filter(pk=study.pk).update(owner=owner)
    staff = django_user_model.objects.create_user(
        username="sam", password="pw-sam-12345", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_study"))
    client.force_login(staff)
    page = client.get(f"{CHANGELIST}{study.study_id}/delete/")
    assert page.status_code == 403  # not theirs, and no backtests.delete_study
    assert client.post(f"{CHANGELIST}{study.study_id}/delete/", {"post": "yes"}).status_code == 403
    assert Study.objects.filter(pk=study.pk).exists()
    # The changelist's delete action lists it as what the user may not delete.
    response = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [study.study_id]}
    )
    assert f"study {study.study_id} (not yours)" in response.content.decode()
    assert Study.objects.filter(pk=study.pk).exists()
