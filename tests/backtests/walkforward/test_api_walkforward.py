# ruff: noqa: E501  (expected messages are asserted verbatim)
"""The walk-forward API: create (validated up front with the dates, owner recorded, nothing
written on a 400), list, detail (windows table, stitched equity, efficiency, parameters per
window, verdict), cancel, resume, delete with the owner rule, the charts, and the page."""

from __future__ import annotations

import pytest

from backtests.studies.models import Study
from backtests.walkforward.definition import walkforward_definition_build
from backtests.walkforward.local import walkforward_run_locally
from backtests.walkforward.models import WalkForward, WalkForwardWindow
from backtests.walkforward.services import walkforward_create
from tests.backtests.studies.study_data import session_days

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])
DAYS = session_days()


@pytest.fixture
def finished(walkforward_body, user) -> WalkForward:
    walkforward = walkforward_create(
        definition=walkforward_definition_build(**walkforward_body), owner=user, enqueue=False
    )
    return walkforward_run_locally(walkforward_id=walkforward.walkforward_id, jobs=1)


def test_create_lays_windows_and_queues_one_study_each_owned_by_the_user(
    api_client, user, walkforward_body
):
    response = api_client.post("/api/walkforwards", walkforward_body, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    walkforward = WalkForward.objects.get(walkforward_id=body["walkforward_id"])
    assert body == {"walkforward_id": walkforward.walkforward_id, "status": "running", "windows": 2}
    assert walkforward.owner == user
    studies = Study.objects.filter(walkforward_windows__walkforward=walkforward)
    assert {(s.owner, s.status, s.n_trials) for s in studies} == {(user, "queued", 3)}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"out_of_sample_days": 0},
            "out_of_sample_days",
            "out_of_sample_days must be at least 1: each window's parameters are judged on the trading days after its in-sample part",
        ),
        (
            {"in_sample_days": 30},
            "windows",
            f"only 1 window fits: two need 50 trading days (30 in-sample + 10 out-of-sample + a step of 10), the data has 40 ({DAYS[0]} to {DAYS[-1]}); shorten the parts or the step, or choose more dates",
        ),
        (
            {"step_days": 5},
            "step_days",
            f"step_days 5 is shorter than out_of_sample_days 10: the out-of-sample parts of windows 1 ({DAYS[20]} to {DAYS[29]}) and 2 ({DAYS[25]} to {DAYS[34]}) would share 5 trading days, counted twice in the stitched curve; use a step of at least 10",
        ),
        ({"mode": "expanding"}, "mode", "mode must be rolling or anchored"),
        (
            {"in_sample_days": "many"},
            "in_sample_days",
            "in_sample_days must be a whole number of trading days from 1 to 100,000",
        ),
    ],
)
def test_create_refuses_bad_windows_with_the_reason_and_writes_nothing(
    api_client, walkforward_body, change, field, message
):
    response = api_client.post("/api/walkforwards", {**walkforward_body, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"][field] == message
    assert not WalkForward.objects.exists() and not Study.objects.exists()


def test_create_refuses_a_body_that_is_not_an_object(api_client):
    response = api_client.post("/api/walkforwards", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "The request body must be a JSON object"


def test_detail_shows_windows_stitched_equity_efficiency_parameters_and_verdict(
    api_client, finished
):
    response = api_client.get(f"/api/walkforwards/{finished.walkforward_id}")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "completed"
    assert [(w["oos_start"], w["oos_end"]) for w in data["windows"]] == [
        (DAYS[20].isoformat(), DAYS[29].isoformat()),
        (DAYS[30].isoformat(), DAYS[39].isoformat()),
    ]
    assert data["stitched"]["dates"] == [d.isoformat() for d in DAYS[20:40]]
    assert data["parameters"]["slow_period"] == [
        w["params"]["slow_period"] for w in data["windows"]
    ]
    assert data["progress"] == {
        "windows_done": 2,
        "windows_total": 2,
        "windows_by_status": {"complete": 2},
        "trials_done": 6,
        "trials_total": 6,
        "percent": 100.0,
    }
    assert data["verdict"].startswith(
        "Out of sample, the stitched walk-forward over 20 trading days"
    )
    for window in data["windows"]:
        is_annual, oos_annual = window["is_annual_return"], window["oos_annual_return"]
        if is_annual is not None and is_annual > 0:
            assert window["efficiency"] == pytest.approx(oos_annual / is_annual)
        else:
            assert window["efficiency"] is None
    listed = api_client.get("/api/walkforwards").json()["walkforwards"]
    assert [w["walkforward_id"] for w in listed] == [finished.walkforward_id]


def test_unknown_walkforward_is_404(api_client):
    response = api_client.get("/api/walkforwards/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "walk-forward 'nope' does not exist"


def test_cancel_resume_and_delete_follow_the_owner_rule(
    api_client, walkforward_body, django_user_model
):
    from rest_framework.test import APIClient

    created = api_client.post("/api/walkforwards", walkforward_body, format="json").json()
    wid = created["walkforward_id"]
    other = APIClient()
    other.force_login(django_user_model.objects.create_user(username="bob", password="x-y-z-123"))
    refused = other.post(f"/api/walkforwards/{wid}/cancel")
    assert refused.status_code == 403
    assert "backtests.cancel_walkforward" in refused.json()["error"]
    cancelled = api_client.post(f"/api/walkforwards/{wid}/cancel")
    assert cancelled.json() == {"walkforward_id": wid, "status": "cancelled"}
    assert set(Study.objects.values_list("status", flat=True)) == {"cancelled"}
    again = api_client.post(f"/api/walkforwards/{wid}/resume")
    assert again.json() == {"walkforward_id": wid, "status": "running"}
    twice = api_client.post(f"/api/walkforwards/{wid}/resume")
    assert twice.status_code == 409
    assert other.delete(f"/api/walkforwards/{wid}").status_code == 403
    bad = api_client.delete("/api/walkforwards", {"walkforward_ids": "all"}, format="json")
    assert bad.status_code == 400
    deleted = api_client.delete("/api/walkforwards", {"walkforward_ids": [wid]}, format="json")
    assert deleted.json() == {"deleted": 1}
    assert not Study.objects.exists() and not WalkForwardWindow.objects.exists()


def test_charts_are_pngs(api_client, finished):
    for chart in ("equity", "parameters"):
        response = api_client.get(f"/api/walkforwards/{finished.walkforward_id}/{chart}.png")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_shows_the_windows_and_the_verdict(api_client, finished):
    page = api_client.get(f"/walkforward/{finished.walkforward_id}")
    assert page.status_code == 200
    text = page.content.decode()
    assert finished.analysis["verdict"].split(":")[0] in text
    assert DAYS[30].isoformat() in text
    assert api_client.get("/walkforward/nope").status_code == 404


def test_page_form_errors_are_shown_next_to_their_fields(api_client, walkforward_body):
    form = {
        "strategy": "SMACrossover",
        "symbols": "AAPL",
        "rtype": "33",
        "publisher_id": "",  # the only one
        "space": "{not json",
        "constraints": "",
        "objective": "net_pnl",
        "mode": "rolling",
        "in_sample_days": "20",
        "out_of_sample_days": "10",
    }
    response = api_client.post("/walkforward", form)
    assert response.status_code == 400
    assert "space must be a JSON object" in response.content.decode()
    form["space"] = '{"fast_period": {"values": [5, 10]}, "slow_period": {"values": [10, 20]}}'
    form["constraints"] = "fast_period < slow_period"
    created = api_client.post("/walkforward", form)
    assert created.status_code == 302
    assert created["Location"] == f"/walkforward/{WalkForward.objects.get().walkforward_id}"


def test_pages_and_api_need_a_login(anon_client, finished):
    for path in ("/walkforward", f"/walkforward/{finished.walkforward_id}"):
        response = anon_client.get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={path}"
    assert anon_client.get("/api/walkforwards").status_code in (401, 403)
