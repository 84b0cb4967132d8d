"""The Optuna bridge: a grid handed out batch after batch in a fixed order; random and
model-based batches reproducible from the seed and the batch number; no point that breaks a
rule or repeats a trial; CMA-ES's own state carried in the trials' rows."""

from __future__ import annotations

import pytest

from backtests.engine.strategies.examples.sma_crossover import SMACrossover
from backtests.studies.sampling import PastTrial, batch_seed, points_ask
from backtests.studies.space import space_parse

pytestmark = pytest.mark.pure  # no database: runs once, in the SQLite suite

SPACE = {
    "fast_period": {"min": 5, "max": 50, "step": 5},
    "slow_period": {"min": 60, "max": 150, "step": 10},
}


def space(raw=SPACE, constraints=None):
    return space_parse(raw, constraints, strategy_cls=SMACrossover)


def ask(search, sampler, *, seed=11, batch=0, count=8, history=()):
    return points_ask(
        space=search,
        sampler=sampler,
        direction="maximize",
        seed=seed,
        batch=batch,
        count=count,
        history=list(history),
    )


def as_pairs(result):
    return [(p.params["fast_period"], p.params["slow_period"]) for p in result.points]


def test_grid_batches_follow_the_enumeration_and_end_exhausted():
    search = space()
    grid = search.grid_points()
    assert len(grid) == 100  # 10 fast x 10 slow, all with fast < slow
    history: list[PastTrial] = []
    batches = []
    while True:
        result = ask(search, "grid", count=30, history=history)
        batches.append(len(result.points))
        history += [PastTrial(p.params, "complete", 1.0) for p in result.points]
        if result.exhausted:
            break
    assert batches == [30, 30, 30, 10]
    assert [p.params for p in history] == grid
    # fast_period varies slowest: (5, 60), (5, 70), ..., (5, 150), (10, 60), ...
    assert (grid[0], grid[9], grid[10]) == (
        {"fast_period": 5, "slow_period": 60},
        {"fast_period": 5, "slow_period": 150},
        {"fast_period": 10, "slow_period": 60},
    )


@pytest.mark.parametrize("sampler", ["random", "tpe", "cmaes"])
def test_same_seed_and_batch_give_the_same_points(sampler):
    search = space()
    first = ask(search, sampler)
    history = [
        PastTrial(
            p.params,
            "complete",
            float(p.params["fast_period"] - p.params["slow_period"]),
            p.sampler_attrs,
        )
        for p in first.points
    ]
    assert as_pairs(ask(search, sampler)) == as_pairs(first)
    second = ask(search, sampler, batch=1, history=history)
    assert as_pairs(ask(search, sampler, batch=1, history=history)) == as_pairs(second)
    assert [p.sampler_attrs for p in ask(search, sampler, batch=1, history=history).points] == [
        p.sampler_attrs for p in second.points
    ]
    assert as_pairs(ask(search, sampler, seed=12)) != as_pairs(first)
    assert len(set(as_pairs(first) + as_pairs(second))) == 16  # no point asked twice


def test_batch_seeds_differ_by_batch_and_seed():
    seeds = {batch_seed(seed, batch) for seed in (0, 1, 2) for batch in range(50)}
    assert len(seeds) == 150
    assert all(0 <= s < 2**32 for s in seeds)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_points_that_break_a_rule_or_repeat_a_trial_are_never_asked(sampler):
    search = space(
        {"fast_period": {"values": [5, 10, 15]}, "slow_period": {"values": [10, 20, 30]}},
        ["slow_period - fast_period >= 10"],
    )
    # By hand: (5, 20), (5, 30), (10, 20), (10, 30), (15, 30) obey fast < slow and the rule.
    allowed = {(5, 20), (5, 30), (10, 20), (10, 30), (15, 30)}
    tried = [
        PastTrial({"fast_period": 5, "slow_period": 20}, "complete", 1.0),
        PastTrial({"fast_period": 10, "slow_period": 30}, "failed"),
    ]
    result = ask(search, sampler, count=10, history=tried)
    assert set(as_pairs(result)) == allowed - {(5, 20), (10, 30)}
    assert len(result.points) == 3
    assert result.exhausted


def test_cmaes_keeps_its_state_in_the_trials_rows():
    search = space()
    generation0 = ask(search, "cmaes", count=6)
    history = [
        PastTrial(
            p.params,
            "complete",
            -abs(p.params["fast_period"] - 20) - abs(p.params["slow_period"] - 100),
            p.sampler_attrs,
        )
        for p in generation0.points
    ]
    # Generation 0 came from the independent sampler; the CMA-ES optimizer starts now.
    generation1 = ask(search, "cmaes", batch=1, count=6, history=history)
    assert [p.sampler_attrs for p in generation1.points] == [{"cma:generation": 0}] * 6
    history += [PastTrial(p.params, "complete", 0.0, p.sampler_attrs) for p in generation1.points]
    # Its population (6 for 2 dimensions) is complete: it learns and keeps its state.
    generation2 = ask(search, "cmaes", batch=2, count=6, history=history)
    attrs = generation2.points[0].sampler_attrs
    assert attrs["cma:generation"] == 1
    assert any(key.startswith("cma:optimizer") for key in attrs)
