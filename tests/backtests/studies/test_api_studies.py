# ruff: noqa: E501  (expected messages are asserted verbatim)
"""The studies API: create (validated up front, owner recorded, nothing written on a 400),
list, get, trials (sorted pages), cancel, resume, extend, delete, open a trial as a run, the
overfitting statistics and the PNG charts."""

from __future__ import annotations

import pytest

from backtests.models import Run
from backtests.studies.definition import study_definition_build
from backtests.studies.execution import study_batch_run
from backtests.studies.models import Study, StudyStatus, Trial

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


@pytest.fixture
def finished(study_body, user) -> Study:
    from backtests.studies.services import study_create

    study = study_create(definition=study_definition_build(**study_body), enqueue=False, owner=user)
    while study.status in (StudyStatus.QUEUED, StudyStatus.RUNNING):
        study_batch_run(study_id=study.study_id, enqueue=False)
        study.refresh_from_db()
    return study


def test_create_queues_a_study_owned_by_the_user(api_client, user, study_body):
    response = api_client.post("/api/studies", {**study_body, "name": "mine"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    study = Study.objects.get(study_id=body["study_id"])
    assert body == {"study_id": study.study_id, "status": "queued"}
    assert (study.owner, study.name, study.n_trials) == (user, "mine", 10)
    assert Trial.objects.filter(study=study, status="waiting").count() == 10


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"space": {"fast_period": {"min": 5, "max": 50, "step": 0}}}, "space.fast_period"),
        ({"space": {"fast_period": {"min": "x"}}}, "space.fast_period"),
        ({"objective": {"a": 1}}, "objective"),
        ({"sampler": ["grid"]}, "sampler"),
        ({"n_trials": 0}, "n_trials"),
        ({"constraints": [1]}, "constraints"),
        ({"space": "fast_period=5:50"}, "space"),
    ],
)
def test_bad_study_requests_are_400_naming_the_field(api_client, study_body, change, field):
    response = api_client.post("/api/studies", {**study_body, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not Study.objects.exists()


def test_a_body_that_is_not_an_object_is_400(api_client):
    response = api_client.post("/api/studies", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "The request body must be a JSON object"}


def test_get_and_list_show_progress_best_and_verdict(api_client, finished):
    detail = api_client.get(f"/api/studies/{finished.study_id}").json()
    best = Trial.objects.filter(study=finished).order_by("-value", "number").first()
    assert detail["progress"]["done"] == 10 and detail["progress"]["percent"] == 100.0
    assert detail["best"]["number"] == best.number and detail["best"]["value"] == best.value
    assert detail["searched"] == ["fast_period", "slow_period"]
    assert detail["verdict"].startswith("The best of 10 trials has a deflated Sharpe of ")
    listed = api_client.get("/api/studies").json()["studies"]
    assert [s["study_id"] for s in listed] == [finished.study_id]
    assert api_client.get("/api/studies?status=running").json() == {"studies": []}
    assert api_client.get("/api/studies/nope").status_code == 404


def test_trials_are_sorted_pages(api_client, finished):
    url = f"/api/studies/{finished.study_id}/trials"
    values = sorted(
        Trial.objects.filter(study=finished).values_list("value", flat=True), reverse=True
    )
    page = api_client.get(url, {"sort": "value", "order": "desc", "limit": 3, "offset": 1}).json()
    assert [t["value"] for t in page["trials"]] == values[1:4]
    assert page["count"] == 10
    by_slow = api_client.get(url, {"sort": "param.slow_period", "limit": 10}).json()["trials"]
    assert [t["params"]["slow_period"] for t in by_slow] == [10, 20, 20, 20, 30, 30, 30, 40, 40, 40]
    sharpe = api_client.get(url, {"sort": "metric.sharpe", "order": "desc"}).json()["trials"]
    numbers = [
        t.number
        for t in sorted(
            Trial.objects.filter(study=finished), key=lambda t: (-t.metrics["sharpe"], t.number)
        )
    ]
    assert [t["number"] for t in sharpe] == numbers
    bad = api_client.get(url, {"sort": "params.x"})
    assert bad.status_code == 400 and "sort" in bad.json()["fields"]
    one = api_client.get(f"{url}/3").json()
    assert one["number"] == 3 and one["params"] == {"fast_period": 5, "slow_period": 40}
    assert api_client.get(f"{url}/99").status_code == 404


def test_cancel_resume_extend_answers(api_client, finished, study_body):
    base = f"/api/studies/{finished.study_id}"
    assert api_client.post(f"{base}/cancel").status_code == 409
    assert api_client.post(f"{base}/resume").status_code == 409
    assert api_client.post(f"{base}/extend", {"n_trials": 0}, format="json").status_code == 400
    full = api_client.post(f"{base}/extend", {"n_trials": 1}, format="json")
    assert full.status_code == 409 and "at most 0" in full.json()["error"]
    assert api_client.post("/api/studies/nope/cancel").status_code == 404
    created = api_client.post("/api/studies", study_body, format="json").json()["study_id"]
    cancelled = api_client.post(f"/api/studies/{created}/cancel").json()
    assert cancelled == {"study_id": created, "status": "cancelled", "n_trials": 10}
    resumed = api_client.post(f"/api/studies/{created}/resume").json()
    assert resumed["status"] == "queued"


def test_overfitting_statistics_and_charts(api_client, finished):
    base = f"/api/studies/{finished.study_id}"
    stats = api_client.get(f"{base}/overfitting").json()
    assert stats["n_trials"] == 10 and stats["pbo"]["n_splits"] == 16
    other = api_client.get(f"{base}/overfitting", {"pbo_splits": 4}).json()
    assert other["pbo"]["n_splits"] == 4 and other["pbo"]["n_combinations"] == 6  # C(4, 2)
    assert api_client.get(f"{base}/overfitting", {"pbo_splits": 5}).status_code == 400
    for path, query in [
        ("heatmap.png", {"x": "fast_period", "y": "slow_period"}),
        (
            "heatmap.png",
            {"x": "fast_period", "y": "slow_period", "metric": "sharpe", "aggregate": "mean"},
        ),
        ("objective.png", {}),
        ("importance.png", {}),
        ("sensitivity.png", {"param": "slow_period", "metric": "win_rate"}),
        ("pbo.png", {}),
    ]:
        response = api_client.get(f"{base}/{path}", query)
        assert response.status_code == 200, (path, response.content[:200])
        assert response["Content-Type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")
    bad = api_client.get(f"{base}/heatmap.png", {"x": "quantity", "y": "slow_period"})
    assert bad.status_code == 400
    assert (
        bad.json()["fields"]["x"]
        == "'quantity' is not a searched parameter of this study; searched: fast_period, slow_period"
    )
    same = api_client.get(f"{base}/heatmap.png", {"x": "fast_period", "y": "fast_period"})
    assert same.status_code == 400


def test_open_trial_as_run_then_delete_the_study_with_it(api_client, finished):
    base = f"/api/studies/{finished.study_id}"
    opened = api_client.post(f"{base}/trials/2/run").json()
    assert opened["status"] == "queued"
    run = Run.objects.get(run_id=opened["run_id"])
    assert run.config["strategy_params"]["fast_period"] == 5
    assert run.config["strategy_params"]["slow_period"] == 30
    assert api_client.get(f"{base}/trials/2").json()["run_id"] == run.run_id
    assert api_client.delete(base).json() == {"deleted": 1}
    assert not Run.objects.filter(run_id=run.run_id).exists()
    assert api_client.get(base).status_code == 404
    bulk = api_client.delete("/api/studies", {"study_ids": ["x"]}, format="json")
    assert bulk.json() == {"deleted": 0}


def test_a_study_that_is_not_yours_needs_the_permission(finished, django_user_model, study_body):
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    bob = django_user_model.objects.create_user(username="bob", password="correct-horse-42")
    client = APIClient()
    client.force_login(bob)
    base = f"/api/studies/{finished.study_id}"
    assert client.get(base).json()["can_cancel"] is False  # everybody sees everything
    for path, body in (("/cancel", None), ("/resume", None), ("/extend", {"n_trials": 1})):
        refused = client.post(base + path, body, format="json")
        assert refused.status_code == 403, path
        assert refused.json()["error"] == (
            f"study {finished.study_id} is not yours: to cancel it you need the permission "
            "backtests.cancel_study"
        )
    assert client.delete(base).status_code == 403
    many = client.delete("/api/studies", {"study_ids": [finished.study_id]}, format="json")
    assert many.status_code == 403
    assert Study.objects.filter(study_id=finished.study_id).exists()

    bob.user_permissions.add(Permission.objects.get(codename="delete_study"))
    bob = django_user_model.objects.get(pk=bob.pk)  # permissions are cached per object
    client.force_login(bob)
    assert client.delete(base).json() == {"deleted": 1}
