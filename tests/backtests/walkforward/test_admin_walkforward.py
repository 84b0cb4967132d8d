"""The walk-forward admin: the list with windows done and efficiency, a walk-forward with its
windows and verdict, the cancel action, delete through the service (studies go too)."""

from __future__ import annotations

import pytest

from backtests.studies.models import Study, StudyStatus
from backtests.walkforward.admin import CANCELLED, NOTHING_TO_CANCEL
from backtests.walkforward.definition import walkforward_definition_build
from backtests.walkforward.local import walkforward_run_locally
from backtests.walkforward.models import WalkForward, WalkForwardStatus, WalkForwardWindow
from backtests.walkforward.services import walkforward_create

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])
CHANGELIST = "/admin/backtests/walkforward/"


def created(body) -> WalkForward:
    return walkforward_create(definition=walkforward_definition_build(**body), enqueue=False)


def test_list_and_detail_show_windows_efficiency_and_verdict(admin_client, walkforward_body):
    done = walkforward_run_locally(walkforward_id=created(walkforward_body).walkforward_id, jobs=1)
    waiting = created(walkforward_body)
    html = admin_client.get(CHANGELIST).content.decode()
    assert f">{done.walkforward_id}</a>" in html and f">{waiting.walkforward_id}</a>" in html
    assert '<td class="field-windows_text">2 / 2</td>' in html
    assert '<td class="field-windows_text">0 / 2</td>' in html
    efficiency = done.analysis["efficiency"]
    shown = "—" if efficiency is None else f"{efficiency:.2f}"
    assert f'<td class="field-efficiency">{shown}</td>' in html
    page = admin_client.get(f"{CHANGELIST}{done.walkforward_id}/change/").content.decode()
    assert done.analysis["verdict"].split(":")[0] in page
    for window in done.windows.all():
        assert f"/admin/backtests/study/{window.study_id}/change/" in page


def test_cancel_action_and_delete(admin_client, walkforward_body):
    walkforward = created(walkforward_body)
    selected = {"action": "cancel_selected", "_selected_action": [walkforward.walkforward_id]}
    response = admin_client.post(CHANGELIST, selected, follow=True)
    assert CANCELLED.format(count=1) in response.content.decode()
    assert WalkForward.objects.get(pk=walkforward.pk).status == WalkForwardStatus.CANCELLED
    assert set(Study.objects.values_list("status", flat=True)) == {StudyStatus.CANCELLED}
    response = admin_client.post(CHANGELIST, selected, follow=True)
    assert NOTHING_TO_CANCEL in response.content.decode()
    response = admin_client.post(
        f"{CHANGELIST}{walkforward.walkforward_id}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert not WalkForward.objects.exists()
    assert not WalkForwardWindow.objects.exists() and not Study.objects.exists()
