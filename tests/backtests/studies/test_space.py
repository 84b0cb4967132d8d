# ruff: noqa: E501  (expected messages are asserted verbatim, one per line)
"""The search space: entries checked against the strategy's ParamSpecs, ranges enumerated
exactly, constraints parsed safely, the grid enumerated in a fixed order without the points
that break a rule."""

from __future__ import annotations

import pytest

from backtests.engine.enums import BarPeriod, FillTiming
from backtests.engine.strategies.base import ParamSpec, StrategyBase
from backtests.engine.strategies.examples.sma_crossover import SMACrossover
from backtests.studies import space as sp
from backtests.studies.space import SpaceError, space_from_json, space_parse

pytestmark = pytest.mark.pure  # no database: runs once, in the SQLite suite


class ChoiceStrategy(StrategyBase, register=False):
    """Parameters of every kind, for the space's choice rules."""

    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "window": ParamSpec(default=10, min=2, max=40, step=2),
        "width": ParamSpec(default=1.0, min=0.5, max=3.0, step=0.1),
        "timing": ParamSpec(default=FillTiming.NEXT_BAR),
        "short": ParamSpec(default=False),
        "mode": ParamSpec(default="fast", choices=("fast", "slow", "mixed")),
        "level": ParamSpec(default=0.5, min=0.0, max=1.0),
    }

    def on_bar(self, bar) -> None:
        pass


def parse(space, constraints=None, cls=SMACrossover, fixed=None):
    return space_parse(space, constraints, strategy_cls=cls, fixed_params=fixed)


def error_of(space, constraints=None, cls=SMACrossover) -> dict[str, str]:
    with pytest.raises(SpaceError) as caught:
        parse(space, constraints, cls)
    return caught.value.fields


def test_range_with_step_enumerates_min_to_max():
    search = parse({"fast_period": {"min": 5, "max": 50, "step": 5}})
    assert search.by_name("fast_period").values == (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)


def test_range_defaults_come_from_the_param_spec():
    search = parse({"fast_period": {}})
    assert search.by_name("fast_period").values == tuple(range(5, 101))


def test_range_stops_at_the_last_step_below_max():
    search = parse({"slow_period": {"min": 60, "max": 155, "step": 10}})
    param = search.by_name("slow_period")
    assert param.values == (60, 70, 80, 90, 100, 110, 120, 130, 140, 150)
    assert param.high == 150


def test_float_range_steps_are_exact_decimals():
    search = parse({"width": {"min": 0.5, "max": 1.0, "step": 0.1}}, cls=ChoiceStrategy)
    assert search.by_name("width").values == (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def test_float_range_without_a_step_is_continuous():
    search = parse({"level": {"min": 0.2, "max": 0.8}}, cls=ChoiceStrategy)
    level = search.by_name("level")
    assert (level.continuous, level.low, level.high) == (True, 0.2, 0.8)
    assert search.grid_size() is None
    # A ParamSpec's step fills in a missing one: quantity steps by 0.1.
    quantity = parse({"quantity": {"min": 1.0, "max": 1.3}}).by_name("quantity")
    assert quantity.values == (1.0, 1.1, 1.2, 1.3)


def test_unsearched_parameters_are_fixed_at_given_values_or_defaults():
    search = parse({"fast_period": {"values": [5, 10]}}, fixed={"slow_period": 60})
    assert search.fixed_values() == {"slow_period": 60, "quantity": 1.0}
    assert search.names == ("fast_period",)


@pytest.mark.parametrize(
    ("space", "field", "message"),
    [
        (
            {"fast_period": {"min": 5, "max": 50, "step": 0}},
            "space.fast_period",
            "step must be above 0, got 0",
        ),
        (
            {"fast_period": {"min": 1, "max": 50}},
            "space.fast_period",
            "range 1..50 is outside the parameter's limits 5..100",
        ),
        ({"fast_period": {"min": 30, "max": 10}}, "space.fast_period", "min 30 is above max 10"),
        (
            {"fast_period": {"min": 5.5, "max": 10}},
            "space.fast_period",
            "min must be a whole number for an integer parameter, got 5.5",
        ),
        ({"fast_period": {"values": []}}, "space.fast_period", sp.VALUES_EMPTY),
        (
            {"fast_period": {"values": [5, 200]}},
            "space.fast_period",
            "must be between 5 and 100, got 200",
        ),
        (
            {"fast_period": {"value": 5, "values": [5]}},
            "space.fast_period",
            "give one of value, values, min/max/step or choices, not value and values",
        ),
        ({"fast_period": 5}, "space.fast_period", sp.ENTRY_NOT_OBJECT),
        (
            {"nope": {"values": [1]}},
            "space.nope",
            "unknown parameter 'nope'; known: bar_period, fast_period, slow_period, quantity",
        ),
        ({"bar_period": {"values": ["MINUTE"]}}, "space.bar_period", sp.SPACE_BAR_PERIOD),
        ({"fast_period": {"value": 5}}, "space", sp.SPACE_EMPTY),
        ({}, "space", sp.SPACE_EMPTY),
        ([1, 2], "space", sp.SPACE_NOT_OBJECT),
    ],
)
def test_bad_entries_are_refused_naming_the_field(space, field, message):
    assert error_of(space)[field] == message


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (
            "fast < slow_period",
            "constraint 'fast < slow_period' names unknown parameter(s) fast; known: bar_period, fast_period, slow_period, quantity",
        ),
        (
            "fast_period + 1",
            "constraint 'fast_period + 1' is not a comparison: write it like 'fast_period < slow_period' (comparisons joined by and/or/not)",
        ),
        (
            "__import__('os').system('x') < 1",
            "constraint \"__import__('os').system('x') < 1\" uses a function call, which is not allowed (only parameter names, numbers, strings, booleans, arithmetic and comparisons)",
        ),
    ],
)
def test_bad_constraints_are_refused(constraint, message):
    fields = error_of(
        {"fast_period": {"values": [5]}, "slow_period": {"values": [60]}}, [constraint]
    )
    assert fields == {"constraints": message}


def test_choices_default_to_all_of_an_enum_and_are_checked():
    search = parse(
        {"timing": {}, "short": {}, "mode": {"choices": ["slow", "fast"]}}, cls=ChoiceStrategy
    )
    assert search.by_name("timing").values == ("NEXT_BAR", "SAME_BAR")
    assert search.by_name("short").values == (True, False)
    assert search.by_name("mode").values == ("slow", "fast")
    fields = error_of({"mode": {"choices": ["turbo"]}}, cls=ChoiceStrategy)
    assert fields == {"space.mode": "must be one of fast, slow, mixed; got 'turbo'"}
    fields = error_of({"window": {"choices": [2, 4]}}, cls=ChoiceStrategy)
    assert fields == {
        "space.window": "choices need an enum, text or boolean parameter; this one is int"
    }
    fields = error_of({"mode": {"min": 1}}, cls=ChoiceStrategy)
    assert fields == {
        "space.mode": "a range needs a numeric (int or float) parameter; this one is str"
    }


def test_values_are_coerced_and_deduplicated_in_order():
    search = parse({"fast_period": {"values": ["10", 5, 10.0, 5]}})
    assert search.by_name("fast_period").values == (10, 5)


def test_grid_is_the_ordered_product_without_points_breaking_a_rule():
    space = {"fast_period": {"values": [5, 10, 15]}, "slow_period": {"values": [10, 20, 30, 40]}}
    search = parse(space, ["slow_period - fast_period >= 5"])
    # By hand: strategy rule fast < slow, user rule slow - fast >= 5, fast varying slowest.
    expected = [
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
    points = search.grid_points()
    assert [(p["fast_period"], p["slow_period"]) for p in points] == expected
    assert search.grid_size() == 12
    again = parse(space, ["slow_period - fast_period >= 5"]).grid_points()
    assert again == points


def test_stored_space_rebuilds_the_same_grid():
    search = parse(
        {"fast_period": {"min": 5, "max": 20, "step": 5}, "slow_period": {"values": [10, 30]}},
        ["fast_period * 2 <= slow_period"],
    )
    rebuilt = space_from_json(
        search.to_json(), strategy_cls=SMACrossover, user_constraints=search.user_constraints
    )
    assert rebuilt.grid_points() == search.grid_points()
    # By hand: fast in 5, 10, 15, 20; slow in 10, 30; fast < slow and 2 fast <= slow.
    assert [(p["fast_period"], p["slow_period"]) for p in rebuilt.grid_points()] == [
        (5, 10),
        (5, 30),
        (10, 30),
        (15, 30),
    ]
