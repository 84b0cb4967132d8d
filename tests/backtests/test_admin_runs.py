"""The runs admin: list columns, filters, search, detail, cancel action, delete."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext

from backtests.admin import CANCELLED_MESSAGE, NOTHING_TO_CANCEL
from backtests.models import Fill, RecordedBar, Run, RunStatus
from tests.backtests.run_rows import run_row, run_with_one_trade, t

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

CHANGELIST = "/admin/backtests/run/"


def listed_ids(html: str) -> list[str]:
    return re.findall(r'<th class="field-run_id"><a href="[^"]*">([^<]+)</a>', html)


def test_changelist_shows_columns_and_fill_count(admin_client):
    run_with_one_trade("trade1")
    html = admin_client.get(CHANGELIST).content.decode()
    assert listed_ids(html) == ["trade1"]
    assert '<td class="field-fills_count">2</td>' in html
    assert '<td class="field-strategy">SMACrossover</td>' in html
    assert '<td class="field-symbols">AAPL, MSFT</td>' in html
    assert '<td class="field-date_range">2024-01-02 – 2024-01-03</td>' in html
    assert '<td class="field-status_progress">completed</td>' in html


def test_changelist_query_count_does_not_grow_with_runs(admin_client):
    run_with_one_trade("first")
    with CaptureQueriesContext(connections["default"]) as one:
        admin_client.get(CHANGELIST)
    for index in range(5):
        run_with_one_trade(f"more{index}", ts_start=t(index + 10))
    with CaptureQueriesContext(connections["default"]) as six:
        html = admin_client.get(CHANGELIST).content.decode()
    assert len(listed_ids(html)) == 6
    assert len(six) == len(one)


def test_changelist_newest_first(admin_client):
    run_row("old", ts_start=t(0))
    run_row("new", ts_start=t(5))
    assert listed_ids(admin_client.get(CHANGELIST).content.decode()) == ["new", "old"]


def test_changelist_filters_by_status(admin_client):
    run_row("busy", status=RunStatus.RUNNING)
    run_row("done", status=RunStatus.COMPLETED)
    html = admin_client.get(CHANGELIST, {"status__exact": "running"}).content.decode()
    assert listed_ids(html) == ["busy"]


def test_changelist_filters_by_strategy(admin_client):
    run_row("sma", strategy="SMACrossover")
    run_row("rsi", strategy="RSITrailingStop")
    page = admin_client.get(CHANGELIST).content.decode()
    assert "?strategy=RSITrailingStop" in page and "?strategy=SMACrossover" in page
    html = admin_client.get(CHANGELIST, {"strategy": "RSITrailingStop"}).content.decode()
    assert listed_ids(html) == ["rsi"]


def test_changelist_searches_run_id_and_name(admin_client):
    run_row("abc123")
    run_row("zzz999")
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "abc"}).content.decode()) == ["abc123"]
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "run zzz"}).content.decode()) == ["zzz999"]


def test_detail_page_counts_round_trips(admin_client):
    run_with_one_trade("trade1")
    html = admin_client.get(f"{CHANGELIST}trade1/change/").content.decode()
    match = re.search(
        r'field-roundtrips_count.*?<div class="readonly">([^<]*)</div>', html, re.DOTALL
    )
    assert match is not None and match.group(1) == "1"


def test_add_is_forbidden(admin_client):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_cancel_action_cancels_only_active_runs(admin_client):
    run_row("busy", status=RunStatus.RUNNING)
    run_row("waiting", status=RunStatus.QUEUED)
    run_row("done", status=RunStatus.COMPLETED)
    response = admin_client.post(
        CHANGELIST,
        {"action": "cancel_selected_runs", "_selected_action": ["busy", "waiting", "done"]},
        follow=True,
    )
    assert CANCELLED_MESSAGE.format(count=2) in response.content.decode()
    statuses = dict(Run.objects.values_list("run_id", "status"))
    # The running one is cancelling until its worker stops; the queued one had none.
    assert statuses == {"busy": "cancelling", "waiting": "cancelled", "done": "completed"}


def test_cancel_action_without_active_runs_warns(admin_client):
    run_row("done", status=RunStatus.COMPLETED)
    response = admin_client.post(
        CHANGELIST, {"action": "cancel_selected_runs", "_selected_action": ["done"]}, follow=True
    )
    assert NOTHING_TO_CANCEL in response.content.decode()


def test_delete_action_confirmation_does_not_list_events(admin_client):
    run_with_one_trade("trade1")
    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": ["trade1"]}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "trade1" in html
    assert "with all their recorded events" in html
    assert "F000001" not in html


def test_delete_action_deletes_runs_and_events(admin_client):
    run_with_one_trade("trade1")
    run_row("busy", status=RunStatus.RUNNING)
    run_row("keep")
    admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": ["trade1", "busy"], "post": "yes"},
    )
    assert list(Run.objects.values_list("run_id", flat=True)) == ["keep"]
    assert not Fill.objects.exists()
    assert not RecordedBar.objects.exists()


def test_delete_view_deletes_one_run(admin_client):
    run_with_one_trade("trade1")
    admin_client.post(f"{CHANGELIST}trade1/delete/", {"post": "yes"})
    assert not Run.objects.exists()
    assert not Fill.objects.exists()


def test_django_q_task_models_are_in_the_admin(admin_client):
    html = admin_client.get("/admin/").content.decode()
    for model in ("success", "failure", "schedule"):
        assert f'href="/admin/django_q/{model}/"' in html
    # The queued tasks themselves are a table only with the ORM broker (not with Redis).
    assert ('href="/admin/django_q/ormq/"' in html) == (not settings.REDIS_URL)
    assert admin_client.get("/admin/django_q/success/").status_code == 200


def test_admin_anonymous_redirects_to_login(client):
    run_row("a")
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "login" in response["Location"]
