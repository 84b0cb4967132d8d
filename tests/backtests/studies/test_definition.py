# ruff: noqa: E501  (expected messages are asserted verbatim, one per line)
"""Bad study requests are refused before anything is written, naming the field; good ones
get their defaults (sampler, budget, direction, seed) and a first batch."""

from __future__ import annotations

import pytest
from django.conf import settings

from backtests.analysis.metrics import run_metrics
from backtests.services.backtest_spec import backtest_spec_from_mapping
from backtests.services.evaluation import spec_evaluate
from backtests.studies import definition as d
from backtests.studies.definition import OBJECTIVES, study_definition_build
from backtests.studies.models import Study
from ostsite.errors import InvalidInput

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


def refused(body) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        study_definition_build(**body)
    assert Study.objects.count() == 0
    return caught.value.fields


def test_grid_defaults_budget_to_its_points(study_body):
    definition = study_definition_build(**{**study_body, "sampler": None})
    assert definition.sampler == "grid"  # every searched parameter is discrete
    assert definition.n_trials == 10  # points obeying the rules (see conftest)
    assert len(definition.first_batch) == 10
    assert definition.direction == "maximize"
    assert 0 <= definition.seed < 2**32


def test_drawdown_objective_is_minimised_by_default(study_body):
    definition = study_definition_build(**{**study_body, "objective": "max_drawdown"})
    assert definition.direction == "minimize"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"n_trials": 0}, "n_trials", d.N_TRIALS_ZERO),
        (
            {"n_trials": "²"},  # a digit to str.isdigit, not to int()
            "n_trials",
            d.INTEGER_INVALID.format(field="n_trials", low=0, high=settings.OST_STUDY_MAX_TRIALS),
        ),
        (
            {"n_trials": 11},
            "n_trials",
            "n_trials 11 is more than the grid's 10 points that obey the constraints",
        ),
        (
            {"objective": "luck"},
            "objective",
            d.OBJECTIVE_INVALID.format(valid=", ".join(OBJECTIVES)),
        ),
        ({"direction": "up"}, "direction", d.DIRECTION_INVALID),
        ({"sampler": "annealing"}, "sampler", d.SAMPLER_INVALID),
        ({"sampler": "random"}, "n_trials", d.BUDGET_MISSING),
        (
            {"sampler": "cmaes", "n_trials": 5},
            "sampler",
            "cmaes searches numeric ranges only; fast_period is a list of values (use tpe or random for it)",
        ),
        (
            {"space": {"fast_period": {"min": 5, "max": 50, "step": 0}}},
            "space.fast_period",
            "step must be above 0, got 0",
        ),
        (
            {"space": {"fast_period": {"min": 1, "max": 50}}},
            "space.fast_period",
            "range 1..50 is outside the parameter's limits 5..100",
        ),
        (
            {"space": {"speed": {"values": [1]}}},
            "space.speed",
            "unknown parameter 'speed'; known: bar_period, fast_period, slow_period, quantity",
        ),
        (
            {"space": {}},
            "space",
            "space must search at least one parameter (a list of values, a range or choices)",
        ),
        (
            {"constraints": ["fast_period < slowest"]},
            "constraints",
            "constraint 'fast_period < slowest' names unknown parameter(s) slowest; known: bar_period, fast_period, slow_period, quantity",
        ),
        (
            {"constraints": ["fast_period * 2"]},
            "constraints",
            "constraint 'fast_period * 2' is not a comparison: write it like 'fast_period < slow_period' (comparisons joined by and/or/not)",
        ),
        ({"constraints": ["fast_period > 90"]}, "constraints", d.GRID_EMPTY),
        ({"time_limit_seconds": 0}, "time_limit_seconds", d.TIME_LIMIT_INVALID),
        ({"time_limit_seconds": "\u0661"}, "time_limit_seconds", d.TIME_LIMIT_INVALID),
        ({"n_trials": "\u00b2"}, "n_trials", "n_trials must be a whole number from 0 to 100,000"),
        ({"seed": "9" * 5000}, "seed", "seed must be a whole number from 0 to 4,294,967,295"),
        ({"batch_size": 0}, "batch_size", "batch_size must be a whole number from 1 to 100"),
        ({"pbo_splits": 15}, "pbo_splits", d.SPLITS_INVALID),
        ({"seed": -1}, "seed", "seed must be a whole number from 0 to 4,294,967,295"),
        (
            {"min_trades": "x"},
            "min_trades",
            "min_trades must be a whole number from 0 to 1,000,000,000",
        ),
        ({"strategy": "NoSuch"}, "strategy", None),
        ({"symbols": ["ZZZZ"]}, "symbols", "no MINUTE bars of databento/XNAS.ITCH for: ZZZZ"),
        (
            {"strategy_params": {"speed": 3}},
            "strategy_params",
            "speed: unknown parameter 'speed'; known: bar_period, fast_period, slow_period, quantity",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(study_body, change, field, message):
    fields = refused({**study_body, **change})
    assert field in fields, fields
    if message is not None:
        assert fields[field] == message


def test_grid_over_the_limit_says_the_limit_and_its_size(study_body, settings):
    settings.OST_STUDY_MAX_GRID_POINTS = 50
    body = {
        **study_body,
        "space": {
            "fast_period": {"min": 5, "max": 50, "step": 5},
            "slow_period": {"min": 60, "max": 150, "step": 5},
        },
    }
    assert refused(body) == {
        "space": "the grid has 190 points (10 fast_period × 19 slow_period), above the limit "
        "of 50 (OST_STUDY_MAX_GRID_POINTS); narrow the ranges, raise the steps, or use random or tpe"
    }


def test_a_continuous_range_cannot_be_a_grid(study_body):
    body = {
        **study_body,
        "space": {**study_body["space"], "quantity": {"min": 1.0, "max": 2.0, "step": None}},
    }
    # quantity's ParamSpec has a step (0.1), so the range is stepped and the grid is fine ...
    assert study_definition_build(**{**body, "n_trials": 3}).grid_size == 110
    # ... while a value list of floats mixed with tpe needs a budget
    assert "n_trials" in refused({**body, "sampler": "tpe"})


def test_every_objective_is_a_run_metric(study_body):
    spec = backtest_spec_from_mapping(
        {
            "strategy": "SMACrossover",
            "strategy_params": {"fast_period": 5, "slow_period": 20},
            "symbols": ["AAPL"],
            "rtype": 33,
            "publisher_id": study_body["publisher_id"],
        }
    )
    metrics = spec_evaluate(spec).metrics
    assert set(OBJECTIVES) <= set(metrics)
    assert run_metrics  # the definitions the objectives come from
