"""Studies executed in this process (no queue): create, run batches, store, finish, analyse."""

from __future__ import annotations

import pytest

from backtests.analysis.metrics import daily_returns_of
from backtests.models import Run
from backtests.services.backtest_spec import backtest_spec_from_mapping
from backtests.services.evaluation import spec_evaluate
from backtests.studies.analysis import study_returns_matrix
from backtests.studies.definition import study_definition_build
from backtests.studies.execution import study_batch_run
from backtests.studies.models import Study, StudyStatus, Trial, TrialStatus
from backtests.studies.services import (
    studies_delete,
    study_cancel,
    study_create,
    study_extend,
    study_resume,
    trial_open_as_run,
)
from ostsite.errors import Conflict

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


def test_overfitting_statistics_judge_the_best_trial_among_all_that_ran(study_body):
    study = study_create(definition=study_definition_build(**study_body), enqueue=False)
    run_in_process(study)
    trials = list(Trial.objects.filter(study=study).order_by("number"))
    best = max(trials, key=lambda t: (t.value, -t.number))
    analysis = study.analysis
    assert analysis["best_trial"] == best.number
    assert analysis["n_trials"] == 10 and analysis["n_with_returns"] == 10
    assert analysis["n_days"] == 40  # one return per session
    assert analysis["dsr"]["n_trials"] == 10
    assert analysis["pbo"]["n_trials"] == 10 and analysis["pbo"]["n_splits"] == 16
    assert analysis["verdict"].startswith("The best of 10 trials has a deflated Sharpe of ")
    # The matrix the statistics used holds each trial's own daily returns.
    matrix = study_returns_matrix(study)
    spec = backtest_spec_from_mapping(
        {**study.config, "strategy_params": {**study.config["strategy_params"], **best.params}}
    )
    _, returns = daily_returns_of(spec_evaluate(spec).report.account)
    assert matrix.matrix[:, matrix.numbers.index(best.number)].tolist() == returns.tolist()


def test_extend_runs_the_next_grid_points_and_stops_at_the_grid(study_body):
    study = study_create(
        definition=study_definition_build(**{**study_body, "n_trials": 4}), enqueue=False
    )
    run_in_process(study)
    assert Trial.objects.filter(study=study).count() == 4
    study = study_extend(study_id=study.study_id, n_trials=3, enqueue=False)
    assert study.status == StudyStatus.RUNNING and study.analysis is None
    run_in_process(study)
    pairs = [
        (t.params["fast_period"], t.params["slow_period"])
        for t in Trial.objects.filter(study=study).order_by("number")
    ]
    assert pairs == GRID[:7]
    assert study.status == StudyStatus.COMPLETED and study.analysis["n_trials"] == 7
    with pytest.raises(Conflict) as caught:
        study_extend(study_id=study.study_id, n_trials=4)
    assert caught.value.message == (
        "the grid has 10 points that obey the constraints and the study's budget is 7 "
        "already: it can be extended by at most 3"
    )


def test_cancelled_study_keeps_its_waiting_trials_and_resumes_where_it_stopped(study_body):
    study = study_create(definition=study_definition_build(**study_body), enqueue=False)
    study_batch_run(study_id=study.study_id, enqueue=False)  # trials 0 and 1
    study_cancel(study_id=study.study_id)
    assert study_batch_run(study_id=study.study_id, enqueue=False) == 0  # nothing claimed
    assert Trial.objects.filter(study=study, status=TrialStatus.WAITING).count() == 8
    study = study_resume(study_id=study.study_id, enqueue=False)
    assert study.status == StudyStatus.RUNNING
    run_in_process(study)
    assert study.status == StudyStatus.COMPLETED
    assert Trial.objects.filter(study=study, status=TrialStatus.COMPLETE).count() == 10
    with pytest.raises(Conflict) as caught:
        study_resume(study_id=study.study_id)
    assert (
        caught.value.message == f"study {study.study_id} is completed: extend it to run more trials"
    )


def test_time_limit_stops_the_study_and_drops_trials_never_run(fragile_body):
    body = {**fragile_body, "strategy_params": {"sleep_ms": 0.5}, "time_limit_seconds": 0.3}
    study = study_create(definition=study_definition_build(**body), enqueue=False)
    run_in_process(study)
    # The first task claimed 2 trials before the limit; each takes >= 1,200 x 0.5 ms = 0.6 s.
    assert Trial.objects.filter(study=study).count() == 2
    assert study.status == StudyStatus.COMPLETED
    assert study.note == "stopped by its time limit of 0.3 s after 2 trials"


def test_open_as_run_creates_one_full_run_and_delete_takes_it_along(study_body):
    study = study_create(definition=study_definition_build(**study_body), enqueue=False)
    run_in_process(study)
    run = trial_open_as_run(study_id=study.study_id, number=3, enqueue=False)
    assert run.config["record"] == "full"
    assert run.config["strategy_params"]["fast_period"] == GRID[3][0]
    assert run.config["strategy_params"]["slow_period"] == GRID[3][1]
    assert trial_open_as_run(study_id=study.study_id, number=3, enqueue=False) == run
    assert Trial.objects.get(study=study, number=3).run_id == run.run_id
    assert studies_delete(study_ids=[study.study_id, "no-such-study"]) == 1
    assert not Run.objects.filter(run_id=run.run_id).exists()
    assert not Trial.objects.exists()


def test_a_worker_reads_a_study_s_bars_once_and_again_after_they_change(study_body, tmp_path):
    from backtests.studies.datafeed import bar_cache
    from tests.backtests.market_data import P, ingest_bars, ns

    bar_cache.clear()
    reads = bar_cache.reads
    study = study_create(definition=study_definition_build(**study_body), enqueue=False)
    run_in_process(study)  # five tasks of two trials each
    assert bar_cache.reads == reads + 1
    # One more bar for AAPL (an ingest after the study started): the next task sees it.
    extra = [(38, ns("2024-02-26T20:00"), 100 * P, 101 * P, 99 * P, 100 * P, 5)]
    ingest_bars(
        tmp_path, bars=extra, mappings={"AAPL": [("2024-02-26", "2024-02-27", 38)]}, name="extra"
    )
    spec = backtest_spec_from_mapping(study.config)
    assert bar_cache.datafeed(spec, verify=True).total_bars() == 1_201
    assert bar_cache.reads == reads + 2


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_same_seed_gives_the_same_trials_and_results(study_body, sampler):
    body = {
        **study_body,
        "space": {"fast_period": {"min": 5, "max": 30}, "slow_period": {"min": 20, "max": 80}},
        "sampler": sampler,
        "n_trials": 20,  # TPE: 3 generations of 8, 8 and 4
        "seed": 42,
        "batch_size": 3,
    }
    outcomes = []
    for _ in range(2):
        study = study_create(definition=study_definition_build(**body), enqueue=False)
        run_in_process(study)
        trials = Trial.objects.filter(study=study).order_by("number")
        outcomes.append([(t.batch, t.params, t.value) for t in trials])
    assert len(outcomes[0]) == 20
    assert outcomes[0] == outcomes[1]
    points = [(p["fast_period"], p["slow_period"]) for _, p, _ in outcomes[0]]
    assert len(set(points)) == 20 and all(f < s for f, s in points)
    if sampler == "tpe":
        assert [b for b, _, _ in outcomes[0]] == [0] * 8 + [1] * 8 + [2] * 4
