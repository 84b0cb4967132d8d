"""Studies executed in this process (no queue): create, run batches, store, finish, analyse."""

from __future__ import annotations

import pytest

from backtests.services.backtest_spec import backtest_spec_from_mapping
from backtests.services.evaluation import spec_evaluate
from backtests.studies.definition import study_definition_build
from backtests.studies.execution import study_batch_run
from backtests.studies.models import Study, StudyStatus, Trial, TrialStatus
from backtests.studies.services import study_create

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

# The grid of the ``study_body`` fixture in enumeration order, worked out by hand: fast_period
# in (5, 10, 15) x slow_period in (10, 20, 30, 40), keeping fast < slow and slow - fast >= 5.
GRID = [
    (5, 10),
    (5, 20),
    (5, 30),
    (5, 40),
    (10, 20),
    (10, 30),
    (10, 40),
    (15, 20),
    (15, 30),
    (15, 40),
]


def run_in_process(study: Study) -> None:
    for _ in range(100):
        study_batch_run(study_id=study.study_id, enqueue=False)
        study.refresh_from_db()
        if study.status not in (StudyStatus.QUEUED, StudyStatus.RUNNING):
            return
    pytest.fail("the study did not finish")


def test_grid_study_runs_every_point_once_with_the_backtest_s_metrics(study_body):
    study = study_create(definition=study_definition_build(**study_body), enqueue=False)
    run_in_process(study)
    trials = list(Trial.objects.filter(study=study).order_by("number"))
    assert [(t.params["fast_period"], t.params["slow_period"]) for t in trials] == GRID
    assert {t.status for t in trials} == {TrialStatus.COMPLETE}
    assert study.status == StudyStatus.COMPLETED
    # Each trial's metrics are those of the same backtest run on its own.
    for trial in (trials[0], trials[-1]):
        spec = backtest_spec_from_mapping(
            {**study.config, "strategy_params": {**study.config["strategy_params"], **trial.params}}
        )
        expected = spec_evaluate(spec).metrics
        assert trial.value == expected["net_pnl"]
        assert trial.metrics["sharpe"] == expected["sharpe"]
    assert study.analysis is not None
    assert study.analysis["n_trials"] == 10


def test_a_trial_whose_strategy_raises_fails_and_the_study_goes_on(fragile_body):
    body = {**fragile_body, "strategy_params": {"fail_above": 4}}
    study = study_create(definition=study_definition_build(**body), enqueue=False)
    run_in_process(study)
    trials = {t.params["period"]: t for t in Trial.objects.filter(study=study)}
    assert {p: t.status for p, t in trials.items()} == {
        1: "complete",
        2: "complete",
        3: "complete",
        4: "complete",
        5: "failed",
        6: "failed",
    }
    assert trials[5].reason == "ValueError: period 5 is above 4"
    assert "fragile.py" in trials[5].traceback
    assert study.status == StudyStatus.COMPLETED


def test_a_study_whose_every_trial_fails_fails_with_the_first_error(fragile_body):
    body = {**fragile_body, "strategy_params": {"fail_above": 0}}
    study = study_create(definition=study_definition_build(**body), enqueue=False)
    run_in_process(study)
    assert study.status == StudyStatus.FAILED
    assert study.error == "every trial failed; the first: trial 0: ValueError: period 1 is above 0"


def test_min_trades_makes_sparse_trials_infeasible(fragile_body):
    # Fragile trades every `period` bars over 1,200 bars: period 1 -> 1,200 orders, ...; a
    # round trip is two orders, so period p gives floor(1200 / p / 2) trades, 100 for p = 6.
    body = {**fragile_body, "min_trades": 150}
    study = study_create(definition=study_definition_build(**body), enqueue=False)
    run_in_process(study)
    trials = {t.params["period"]: t for t in Trial.objects.filter(study=study)}
    assert [trials[p].status for p in range(1, 7)] == ["complete"] * 4 + ["infeasible"] * 2
    assert trials[6].reason == "100 trades, below the minimum of 150"
    assert trials[5].reason == "120 trades, below the minimum of 150"
