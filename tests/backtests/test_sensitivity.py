"""The sensitivity report: nine backtests of a completed run under slippage 0/1/2 ticks x
participation caps 100/10/1 %, through the service, the API (queued for a worker, computed by
its task), the chart and ``run_backtest --sensitivity``."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from backtests.engine.matching import MSG_NO_TICK_SIZE
from backtests.models import Run, RunStatus
from backtests.services import sensitivity
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from backtests.tasks import sensitivity_task
from tests.backtests.fill_runs import MAPPINGS, bracket_strategy_dir
from tests.backtests.market_data import P, ingest_bars, minute_bars, ns

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

SMA = {
    "strategy": "SMACrossover",
    "strategy_params": {"fast_period": 5, "slow_period": 10, "quantity": 10},
    "symbols": ["AAPL", "MSFT"],
    "rtype": 33,
    "record": "trades",
    "commission_per_unit": 0.01,
    "minimum_commission": 1.0,
}


@pytest.fixture
def publisher_id(tmp_path) -> int:
    """300 minutes of two symbols; volumes 100..399 a bar, so 10 % and 1 % caps bind on
    orders of 10 (prices move in steps of 0.25: their tick size)."""
    bars = minute_bars(38, "2024-01-02T14:30", 300) + minute_bars(
        39, "2024-01-02T14:30", 300, base=60
    )
    mappings = {
        "AAPL": [("2024-01-02", "2024-01-03", 38)],
        "MSFT": [("2024-01-02", "2024-01-03", 39)],
    }
    return ingest_bars(tmp_path, bars=bars, mappings=mappings)


def _completed(publisher_id: int, **fields) -> Run:
    spec = backtest_spec_build(**{**SMA, **fields}, publisher_id=publisher_id)
    run = run_execute(run_id=run_create(spec=spec).run_id)
    assert run.status == RunStatus.COMPLETED, run.metadata
    return run


def _dequeue_all() -> list[dict]:
    broker = get_broker()
    tasks = []
    while batch := broker.dequeue():
        for ack_id, payload in batch:
            tasks.append(SignedPackage.loads(payload))
            broker.acknowledge(ack_id)
    return tasks


def test_cells_equal_runs_made_with_those_costs(publisher_id):
    run = _completed(publisher_id, fill_model="strict")
    report = sensitivity.sensitivity_execute(run_id=run.run_id)

    assert report["status"] == "completed"
    grid = [(c["participation_cap"], c["slippage_ticks"]) for c in report["cells"]]
    assert grid == [(cap, t) for cap in (1.0, 0.1, 0.01) for t in (0.0, 1.0, 2.0)]
    # Independently: each cell's costs as an ordinary recorded run.
    for cell in report["cells"]:
        other = _completed(
            publisher_id,
            fill_model="strict",
            slippage_ticks=cell["slippage_ticks"],
            participation_cap=cell["participation_cap"],
        )
        summary = other.metadata["summary"]
        assert (cell["net_pnl"], cell["trades"], cell["fills"]) == (
            other.metadata["net_pnl"],
            summary["trades"],
            other.metadata["fills"],
        ), cell
    cells = {(c["participation_cap"], c["slippage_ticks"]): c for c in report["cells"]}
    # costs only take: more slippage, less P&L; a 1 % cap splits orders into more fills
    assert cells[1.0, 0.0]["net_pnl"] > cells[1.0, 1.0]["net_pnl"] > cells[1.0, 2.0]["net_pnl"]
    assert cells[0.01, 0.0]["fills"] > cells[1.0, 0.0]["fills"]
    stored = Run.objects.get(run_id=run.run_id).metadata
    assert stored["sensitivity"]["cells"] == report["cells"]
    assert stored["summary"] == run.metadata["summary"]  # the run's own results untouched


def test_api_post_queues_task_then_worker_task_completes_it(
    api_client, publisher_id, django_capture_on_commit_callbacks
):
    run = _completed(publisher_id)
    assert api_client.get(f"/api/runs/{run.run_id}/sensitivity").status_code == 404

    with django_capture_on_commit_callbacks(execute=True, using="default"):
        response = api_client.post(f"/api/runs/{run.run_id}/sensitivity")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cells"]) == ("queued", [])
    queued = [t for t in _dequeue_all() if t["args"] == (run.run_id,)]
    assert [t["func"] for t in queued] == [sensitivity.TASK]
    # a second request while it waits: refused
    again = api_client.post(f"/api/runs/{run.run_id}/sensitivity")
    assert again.status_code == 409
    assert again.json()["error"] == sensitivity.ALREADY_BUSY.format(
        run_id=run.run_id, status="queued"
    )

    assert sensitivity_task(run.run_id) == "completed"  # what the worker runs
    answer = api_client.get(f"/api/runs/{run.run_id}/sensitivity").json()
    assert answer["status"] == "completed"
    assert len(answer["cells"]) == 9
    chart = api_client.get(f"/api/runs/{run.run_id}/sensitivity.png")
    assert chart.status_code == 200
    assert chart["Content-Type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG")


def test_api_refuses_runs_that_are_not_completed_and_unknown_runs(api_client, publisher_id):
    spec = backtest_spec_build(**SMA, publisher_id=publisher_id)
    queued = run_create(spec=spec)
    response = api_client.post(f"/api/runs/{queued.run_id}/sensitivity")
    assert response.status_code == 409
    assert response.json()["error"] == sensitivity.RUN_NOT_COMPLETED.format(
        run_id=queued.run_id, status="queued"
    )
    assert api_client.post("/api/runs/nope/sensitivity").status_code == 404
    assert api_client.get("/api/runs/nope/sensitivity.png").status_code == 404


def test_report_of_a_dead_worker_counts_as_failed_and_can_be_asked_again(
    api_client, publisher_id, settings
):
    run = _completed(publisher_id)
    old = time.time_ns() - int((settings.OST_RUN_TIMEOUT_SECONDS + 700) * 1e9)
    Run.objects.filter(run_id=run.run_id).update(
        metadata={
            **run.metadata,
            "sensitivity": {"status": "running", "cells": [], "updated_ns": old},
        }
    )
    answer = api_client.get(f"/api/runs/{run.run_id}/sensitivity").json()
    assert answer["status"] == "failed"
    assert answer["error"].startswith("the worker computing it stopped")
    assert api_client.post(f"/api/runs/{run.run_id}/sensitivity").status_code == 200


def test_failing_cell_fails_the_report_with_its_reason(tmp_path, settings):
    # Flat prices: no tick size can be read from them, so slippage in ticks cannot be
    # applied; the run itself (no slippage) completes.
    settings.OST_STRATEGIES_DIR = bracket_strategy_dir(tmp_path / "strategies")
    flat = [
        (38, ns(f"2024-01-02T14:3{i}"), 100 * P, 100 * P, 100 * P, 100 * P, 1000) for i in range(5)
    ]
    publisher = ingest_bars(tmp_path, bars=flat, mappings=MAPPINGS)
    spec = backtest_spec_build(
        strategy="Bracket", strategy_params={}, symbols=["AAPL"], rtype=33, publisher_id=publisher
    )
    run = run_execute(run_id=run_create(spec=spec).run_id)
    assert run.status == "completed"

    report = sensitivity.sensitivity_execute(run_id=run.run_id)
    assert report["status"] == "failed"
    assert report["error"] == "ValueError: " + MSG_NO_TICK_SIZE.format(symbol="AAPL")
    assert len(report["cells"]) == 1  # 100 % and no slippage; then 1 tick fails
    assert Run.objects.get(run_id=run.run_id).metadata["sensitivity"]["status"] == "failed"


def test_run_backtest_sensitivity_prints_the_grid(publisher_id):
    out = io.StringIO()
    call_command(
        "run_backtest",
        "--strategy",
        "SMACrossover",
        "--symbols",
        "AAPL,MSFT",
        "--bar-period",
        "MINUTE",
        "--param",
        "fast_period=5",
        "--param",
        "slow_period=10",
        "--param",
        "quantity=10",
        "--record",
        "trades",
        "--sensitivity",
        stdout=out,
        stderr=io.StringIO(),
    )
    lines = out.getvalue().splitlines()
    run = Run.objects.get()
    report = run.metadata["sensitivity"]
    assert report["status"] == "completed"
    start = lines.index("sensitivity (fill model classic): net P&L / Sharpe per cell")
    table = lines[start + 2 : start + 5]
    assert [row.split()[0] for row in table] == ["100", "10", "1"]
    first = report["cells"][0]
    assert f"{first['net_pnl']:,.2f} / " in table[0]
    assert lines[-2] == f"chart: /api/runs/{run.run_id}/sensitivity.png"
    assert lines[-1] == run.run_id


def test_run_backtest_sensitivity_failure_exits_with_the_reason(tmp_path, settings):
    settings.OST_STRATEGIES_DIR = bracket_strategy_dir(tmp_path / "strategies")
    flat = [
        (38, ns(f"2024-01-02T14:3{i}"), 100 * P, 100 * P, 100 * P, 100 * P, 1000) for i in range(5)
    ]
    ingest_bars(tmp_path, bars=flat, mappings=MAPPINGS)
    with pytest.raises(CommandError) as info:
        call_command(
            "run_backtest",
            "--strategy",
            "Bracket",
            "--symbols",
            "AAPL",
            "--sensitivity",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    run = Run.objects.get()
    assert str(info.value) == sensitivity_failed_message(run.run_id)


def sensitivity_failed_message(run_id: str) -> str:
    from backtests.management.commands.run_backtest import MSG_SENSITIVITY_FAILED

    return MSG_SENSITIVITY_FAILED.format(
        run_id=run_id, error="ValueError: " + MSG_NO_TICK_SIZE.format(symbol="AAPL")
    )
