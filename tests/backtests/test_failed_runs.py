"""What a failed run tells: how far it got, where it failed, and the worker's log says so.

The strategy raises on its third bar of 30 (one symbol), so the run processed 3 of 30 bars:
progress 10 %, failed on AAPL's third bar. The page side (the traceback in the history) is in
tests/e2e/test_history.py, the admin's in tests/backtests/test_admin_run_detail.py.
"""

from __future__ import annotations

import logging

import pytest

from backtests.models import RunStatus
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from backtests.tasks import run_backtest_task
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.test_user_code_faults import FAULTY, user_folder  # noqa: F401 (fixture)

DBS = ["default", "secmaster"]
BARS = minute_bars(38, "2024-01-02T14:30", 30)


@pytest.fixture
def failing_run(tmp_path, user_folder):  # noqa: F811 (the imported fixture)
    """A queued run of ExplodingOnBar (raises on its third bar) on 30 AAPL bars."""

    def create(record: str) -> str:
        publisher_id = ingest_bars(
            tmp_path, bars=BARS, mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]}
        )
        (user_folder / "exploding.py").write_text(FAULTY["exploding.py"])
        spec = backtest_spec_build(
            strategy="ExplodingOnBar",
            strategy_params={},
            symbols=["AAPL"],
            rtype=33,
            publisher_id=publisher_id,
            record=record,
        )
        return run_create(spec=spec).run_id

    return create


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize("record", ["trades", "full"])
def test_failed_run_keeps_progress_and_the_failing_bar(failing_run, record):
    run = run_execute(run_id=failing_run(record))
    assert run.status == RunStatus.FAILED
    assert run.progress == 10.0  # 3 of 30 bars, the failing one included
    assert run.metadata["failed_bar"] == {"symbol": "AAPL", "ts_event_ns": BARS[2][1]}
    assert run.started_ns is not None and run.ts_start <= run.started_ns <= run.ts_end


@pytest.mark.django_db(databases=DBS)
def test_worker_task_logs_a_failed_run_with_its_traceback(failing_run, user_folder, caplog):  # noqa: F811
    run_id = failing_run("trades")
    with caplog.at_level(logging.ERROR, logger="backtests.tasks"):
        assert run_backtest_task(run_id) == "failed"
    (record,) = [r for r in caplog.records if r.name == "backtests.tasks"]
    assert record.levelno == logging.ERROR
    text = record.getMessage()
    assert text.startswith(f"run {run_id} failed: RuntimeError: boom at {BARS[2][1]}\n")
    assert f'File "{user_folder / "exploding.py"}"' in text


@pytest.mark.django_db(databases=DBS)
def test_completed_run_logs_no_error(tmp_path, caplog):
    publisher_id = ingest_bars(
        tmp_path, bars=BARS, mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]}
    )
    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 5, "slow_period": 10},
        symbols=["AAPL"],
        rtype=33,
        publisher_id=publisher_id,
    )
    run_id = run_create(spec=spec).run_id
    with caplog.at_level(logging.INFO, logger="backtests.tasks"):
        assert run_backtest_task(run_id) == "completed"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
