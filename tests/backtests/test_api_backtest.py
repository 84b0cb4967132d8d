"""POST /api/backtest/run, status, running and cancel; the task interface in-process."""

from __future__ import annotations

import pytest
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage

from backtests.models import Fill, Run, RunStatus
from backtests.services.jobs import RUN_TASK
from backtests.services.runs import RUN_ALREADY_FINISHED
from backtests.tasks import RUN_GONE, run_backtest_task
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.run_rows import run_row

DATABASES = ["default", "secmaster"]
pytestmark = pytest.mark.django_db(databases=DATABASES)


@pytest.fixture
def publisher_id(tmp_path) -> int:
    """300 one-minute AAPL bars on 2024-01-02 whose close zigzags every 7 bars."""
    return ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T14:30", 300),
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]},
    )


@pytest.fixture
def body(publisher_id) -> dict:
    return {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10, "quantity": 2},
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": publisher_id,
        "start_date": "2024-01-02",
        "end_date": "2024-01-02",
    }


def test_backtest_run_queues_run_and_enqueues_task_on_commit(
    api_client, body, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True, using="default") as callbacks:
        response = api_client.post("/api/backtest/run", {**body, "name": "my run"}, format="json")
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"run_id", "status"}
    assert answer["status"] == "queued"
    run = Run.objects.get(run_id=answer["run_id"])
    assert run.status == RunStatus.QUEUED
    assert run.name == "my run"
    assert run.config["strategy"] == "SMACrossover"
    assert run.config["symbols"] == ["AAPL"]
    assert run.config["strategy_params"]["fast_period"] == 5
    assert len(callbacks) == 1
    queued = [task for task in _dequeue_all() if task["args"] == (answer["run_id"],)]
    assert [task["func"] for task in queued] == [RUN_TASK]


def _dequeue_all() -> list[dict]:
    """Every task waiting in the configured queue (ORM or Redis), taken out of it."""
    broker = get_broker()
    tasks = []
    while batch := broker.dequeue():
        for ack_id, payload in batch:
            tasks.append(SignedPackage.loads(payload))
            broker.acknowledge(ack_id)
    return tasks


def test_backtest_run_without_commit_enqueues_nothing(api_client, body):
    # Inside the test transaction nothing commits, so nothing may reach the queue.
    response = api_client.post("/api/backtest/run", body, format="json")
    assert response.status_code == 200
    run_id = response.json()["run_id"]
    assert [task for task in _dequeue_all() if task["args"] == (run_id,)] == []


def test_task_executes_queued_run_to_completion_with_fills(api_client, body):
    run_id = api_client.post("/api/backtest/run", body, format="json").json()["run_id"]
    assert run_backtest_task(run_id) == "completed"
    run = Run.objects.get(run_id=run_id)
    assert run.status == RunStatus.COMPLETED
    assert run.progress == 100
    assert Fill.objects.filter(run_id=run_id).exists()
    assert run.metadata["bars"] == 300
    status = api_client.get(f"/api/backtest/status/{run_id}").json()
    assert status == {"run_id": run_id, "status": "completed", "progress": 100.0}


def test_task_for_deleted_run_returns_gone(api_client, body):
    run_id = api_client.post("/api/backtest/run", body, format="json").json()["run_id"]
    api_client.delete("/api/runs", {"run_ids": [run_id]}, format="json")
    assert run_backtest_task(run_id) == RUN_GONE


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.RUNNING])
def test_task_for_run_not_queued_is_not_executed(status):
    run_row("done", status=status)
    outcome = run_backtest_task("done")
    assert outcome.startswith("not executed:") and "done" in outcome
    assert Run.objects.get(run_id="done").status == status
    assert not Fill.objects.exists()


def test_task_for_cancelled_run_does_nothing(api_client, body):
    run_id = api_client.post("/api/backtest/run", body, format="json").json()["run_id"]
    api_client.post(f"/api/backtest/{run_id}/cancel")
    assert run_backtest_task(run_id) == "cancelled"
    assert not Fill.objects.filter(run_id=run_id).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "Nope"}, "strategy"),
        ({"strategy": 5}, "strategy"),
        ({"strategy": None}, "strategy"),
        ({"strategy_params": {"fast_period": 1}}, "strategy_params"),
        ({"strategy_params": {"fast_period": "fast"}}, "strategy_params"),
        ({"strategy_params": {"unknown": 1}}, "strategy_params"),
        ({"strategy_params": [1, 2]}, "strategy_params"),
        ({"symbols": []}, "symbols"),
        ({"symbols": "AAPL"}, "symbols"),
        ({"symbols": [1]}, "symbols"),
        ({"symbols": ["TSLA"]}, "symbols"),
        ({"rtype": 99}, "rtype"),
        ({"rtype": "minute"}, "rtype"),
        ({"publisher_id": 9999}, "publisher_id"),
        ({"publisher_id": "x"}, "publisher_id"),
        ({"start_date": "2024-13-01"}, "start_date"),
        ({"end_date": "yesterday"}, "end_date"),
        ({"start_date": "2024-01-03", "end_date": "2024-01-02"}, "end_date"),
        ({"record": "everything"}, "record"),
        ({"commission_per_unit": -1}, "commission_per_unit"),
        ({"minimum_commission": "free"}, "minimum_commission"),
        ({"name": 5}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"symbols": ["AA\x00PL"]}, "symbols"),
        ({"strategy": "SMA\x00"}, "strategy"),
        ({"start_date": "2024-01-02\x00"}, "start_date"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_backtest_run_invalid_field_is_400_naming_it(api_client, body, change, field):
    response = api_client.post("/api/backtest/run", {**body, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not Run.objects.exists()


@pytest.mark.parametrize("missing", ["strategy", "symbols", "rtype", "publisher_id"])
def test_backtest_run_missing_required_field_is_400(api_client, body, missing):
    del body[missing]
    response = api_client.post("/api/backtest/run", body, format="json")
    assert response.status_code == 400
    assert missing in response.json()["fields"]


def test_backtest_run_body_not_object_is_400(api_client):
    assert api_client.post("/api/backtest/run", [1, 2], format="json").status_code == 400
    response = api_client.post("/api/backtest/run", "{oops", content_type="application/json")
    assert response.status_code == 400
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_backtest_run_broker_unreachable_is_503_and_run_failed(api_client, body, monkeypatch):
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")  # nothing listens there
    response = api_client.post("/api/backtest/run", body, format="json")
    assert response.status_code == 503
    assert "task queue cannot be reached" in response.json()["error"]
    (run,) = Run.objects.all()
    assert run.status == RunStatus.FAILED
    assert "task queue cannot be reached" in run.metadata["error"]


# --- status ------------------------------------------------------------------------------


def test_status_of_queued_run(api_client):
    run_row("q1", status=RunStatus.QUEUED)
    assert api_client.get("/api/backtest/status/q1").json() == {
        "run_id": "q1",
        "status": "queued",
        "progress": 0.0,
    }


def test_status_of_running_run_has_progress(api_client):
    run_row("r1", status=RunStatus.RUNNING, progress=37.5)
    body = api_client.get("/api/backtest/status/r1").json()
    assert body == {"run_id": "r1", "status": "running", "progress": 37.5}


def test_status_of_failed_run_has_error(api_client):
    run_row("f1", status=RunStatus.FAILED, metadata={"error": "ZeroDivisionError: oops"})
    body = api_client.get("/api/backtest/status/f1").json()
    assert body["status"] == "failed"
    assert body["error"] == "ZeroDivisionError: oops"


def test_status_unknown_run_is_404(api_client):
    response = api_client.get("/api/backtest/status/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


# --- running -----------------------------------------------------------------------------


def test_running_lists_queued_and_running_only(api_client):
    run_row("q", status=RunStatus.QUEUED, ts_start=3)
    run_row("r", status=RunStatus.RUNNING, ts_start=2, progress=12.0)
    for status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
        run_row(str(status), status=status)
    body = api_client.get("/api/backtest/running").json()
    assert [run["run_id"] for run in body["runs"]] == ["q", "r"]
    assert set(body["runs"][1]) == {
        "run_id",
        "name",
        "status",
        "progress",
        "ts_start",
        "started_ns",
        "config",
        *("owner", "can_cancel", "can_delete"),
    }
    assert body["runs"][1]["progress"] == 12.0
    assert body["runs"][1]["config"]["symbols"] == ["AAPL", "MSFT"]


def test_running_none_answers_empty_list(api_client):
    assert api_client.get("/api/backtest/running").json() == {"runs": []}


# --- cancel ------------------------------------------------------------------------------


def test_cancel_queued_run_is_cancelled_at_once(api_client, user):
    run_row("a", status=RunStatus.QUEUED, owner=user)
    response = api_client.post("/api/backtest/a/cancel")
    assert response.status_code == 200
    assert response.json() == {"run_id": "a", "status": "cancelled"}
    run = Run.objects.get(run_id="a")
    assert run.status == RunStatus.CANCELLED
    assert run.ts_end is not None
    assert api_client.get("/api/backtest/running").json() == {"runs": []}


def test_cancel_running_run_is_cancelling_until_its_worker_stops(api_client, user):
    run_row("a", status=RunStatus.RUNNING, progress=40.0, owner=user)
    for _ in range(2):  # asking twice changes nothing
        response = api_client.post("/api/backtest/a/cancel")
        assert response.status_code == 200
        assert response.json() == {"run_id": "a", "status": "cancelling"}
    run = Run.objects.get(run_id="a")
    assert (run.status, run.ts_end) == (RunStatus.CANCELLING, None)
    # Its worker slot is still busy: the run is listed as running, saying so.
    running = api_client.get("/api/backtest/running").json()["runs"]
    assert [(r["run_id"], r["status"], r["progress"]) for r in running] == [
        ("a", "cancelling", 40.0)
    ]
    status = api_client.get("/api/backtest/status/a").json()
    assert status == {"run_id": "a", "status": "cancelling", "progress": 40.0}


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.FAILED])
def test_cancel_finished_run_is_409(api_client, user, status):
    run_row("done", status=status, owner=user)
    response = api_client.post("/api/backtest/done/cancel")
    assert response.status_code == 409
    assert response.json()["error"] == RUN_ALREADY_FINISHED.format(run_id="done", status=status)
    assert Run.objects.get(run_id="done").status == status


def test_cancel_unknown_run_is_404(api_client):
    assert api_client.post("/api/backtest/nope/cancel").status_code == 404


def test_cancel_get_is_405(api_client):
    run_row("a", status=RunStatus.QUEUED)
    assert api_client.get("/api/backtest/a/cancel").status_code == 405
    assert Run.objects.get(run_id="a").status == RunStatus.QUEUED
