"""ParamSpec coercion, validation messages and schema; StrategyBase.resolve_params/schema."""

from __future__ import annotations

import pytest

from backtests.engine.enums import BarPeriod
from backtests.engine.strategies.base import ParamError, ParamSpec, StrategyBase


class _Demo(StrategyBase):  # leading underscore: never registered
    name = "Demo"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "period": ParamSpec(default=20, min=5, max=100, step=1),
        "ratio": ParamSpec(default=1.5, min=0.1, max=10.0, step=0.1),
        "enabled": ParamSpec(default=True),
        "label": ParamSpec(default="x", choices=("x", "y")),
    }


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        (ParamSpec(default=20, min=5, max=100), "20", 20),
        (ParamSpec(default=20, min=5, max=100), 30, 30),
        (ParamSpec(default=20, min=5, max=100), 30.0, 30),
        (ParamSpec(default=20, min=5, max=100), " 7 ", 7),
        (ParamSpec(default=1.0, min=0.1), "1.5", 1.5),
        (ParamSpec(default=1.0, min=0.1), 2, 2.0),
        (ParamSpec(default=True), "false", False),
        (ParamSpec(default=True), "TRUE", True),
        (ParamSpec(default=False), 1, True),
        (ParamSpec(default="a"), "b", "b"),
        (ParamSpec(default=BarPeriod.SECOND), "MINUTE", BarPeriod.MINUTE),
        (ParamSpec(default=BarPeriod.SECOND), "hour", BarPeriod.HOUR),
        (ParamSpec(default=BarPeriod.SECOND), BarPeriod.DAY, BarPeriod.DAY),
    ],
)
def test_coerce_accepts_json_and_cli_values(spec, raw, expected):
    value = spec.coerce("p", raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (ParamSpec(default=20), "abc", "p: expected an integer, got 'abc'"),
        (ParamSpec(default=20), 2.5, "p: expected an integer, got 2.5"),
        (ParamSpec(default=20), True, "p: expected an integer, got True"),
        (ParamSpec(default=20), None, "p: expected an integer, got None"),
        (ParamSpec(default=1.0), "x", "p: expected a finite number, got 'x'"),
        (ParamSpec(default=1.0), "nan", "p: expected a finite number, got 'nan'"),
        (ParamSpec(default=1.0), False, "p: expected a finite number, got False"),
        (ParamSpec(default=True), "maybe", "p: expected a boolean (true or false), got 'maybe'"),
        (ParamSpec(default="a"), 5, "p: expected a string, got 5"),
        (ParamSpec(default=20, min=5, max=100), 4, "p: must be between 5 and 100, got 4"),
        (ParamSpec(default=20, min=5, max=100), "101", "p: must be between 5 and 100, got 101"),
        (ParamSpec(default=1.0, min=0.1), 0.05, "p: must be >= 0.1, got 0.05"),
        (ParamSpec(default=1.0, max=2.0), 3, "p: must be <= 2.0, got 3.0"),
        (ParamSpec(default="x", choices=("x", "y")), "z", "p: must be one of x, y; got 'z'"),
        (
            ParamSpec(default=BarPeriod.SECOND),
            "WEEK",
            "p: must be one of SECOND, MINUTE, HOUR, DAY; got 'WEEK'",
        ),
        (
            ParamSpec(default=BarPeriod.SECOND, choices=(BarPeriod.SECOND, BarPeriod.MINUTE)),
            "DAY",
            "p: must be one of SECOND, MINUTE; got 'DAY'",
        ),
    ],
)
def test_coerce_rejects_with_precise_message(spec, raw, message):
    with pytest.raises(ParamError) as info:
        spec.coerce("p", raw)
    assert str(info.value) == message
    assert info.value.name == "p"
    assert info.value.message == message.removeprefix("p: ")


def test_type_names():
    assert [ParamSpec(default=d).type_name() for d in (1, 1.0, True, "s", BarPeriod.DAY)] == [
        "int",
        "float",
        "bool",
        "str",
        "enum",
    ]


def test_schema_shape_with_enum_names():
    assert _Demo.schema() == {
        "id": "_Demo",
        "name": "Demo",
        "parameters": [
            {
                "name": "bar_period",
                "type": "enum",
                "default": "MINUTE",
                "min": None,
                "max": None,
                "step": None,
                "choices": ["SECOND", "MINUTE", "HOUR", "DAY"],
            },
            {
                "name": "period",
                "type": "int",
                "default": 20,
                "min": 5,
                "max": 100,
                "step": 1,
                "choices": None,
            },
            {
                "name": "ratio",
                "type": "float",
                "default": 1.5,
                "min": 0.1,
                "max": 10.0,
                "step": 0.1,
                "choices": None,
            },
            {
                "name": "enabled",
                "type": "bool",
                "default": True,
                "min": None,
                "max": None,
                "step": None,
                "choices": None,
            },
            {
                "name": "label",
                "type": "str",
                "default": "x",
                "min": None,
                "max": None,
                "step": None,
                "choices": ["x", "y"],
            },
        ],
        "constraints": [],
    }


def test_resolve_params_fills_defaults_and_coerces():
    assert _Demo.resolve_params({"period": "30", "bar_period": "DAY"}) == {
        "bar_period": BarPeriod.DAY,
        "period": 30,
        "ratio": 1.5,
        "enabled": True,
        "label": "x",
    }


def test_resolve_params_unknown_name_lists_known():
    with pytest.raises(ParamError) as info:
        _Demo.resolve_params({"perod": 3})
    assert info.value.name == "perod"
    assert (
        info.value.message
        == "unknown parameter 'perod'; known: bar_period, period, ratio, enabled, label"
    )


def test_resolve_params_not_a_mapping():
    with pytest.raises(ParamError, match="expected an object of name: value"):
        _Demo.resolve_params([1, 2])


def test_strategy_init_sets_params_as_attributes():
    strategy = _Demo(symbols=["AAA"], params={"ratio": "2.5"})
    assert (strategy.ratio, strategy.period, strategy.bar_period) == (2.5, 20, BarPeriod.MINUTE)
    assert strategy.params_to_json(strategy.params)["bar_period"] == "MINUTE"


@pytest.mark.parametrize("symbols", [[], "AAA", [""], [1]])
def test_strategy_bad_symbols_raise(symbols):
    with pytest.raises(ValueError, match="symbols must be a non-empty list"):
        _Demo(symbols=symbols)


def test_strategy_class_without_bar_period_rejected():
    with pytest.raises(TypeError, match="must contain 'bar_period'"):

        class NoPeriod(StrategyBase, register=False):
            parameters = {"x": ParamSpec(default=1)}


@pytest.mark.parametrize("bad", ["position", "symbols", "submit_order", "bar", "not valid"])
def test_strategy_parameter_shadowing_base_attribute_rejected(bad):
    with pytest.raises(TypeError, match=f"parameter name '{bad}' is not allowed"):
        type(
            "Shadow",
            (StrategyBase,),
            {
                "parameters": {
                    "bar_period": ParamSpec(default=BarPeriod.DAY),
                    bad: ParamSpec(default=1),
                }
            },
            register=False,
        )


def test_strategy_parameter_not_a_paramspec_rejected():
    with pytest.raises(TypeError, match="parameter 'n' is not a ParamSpec"):
        type(
            "Loose",
            (StrategyBase,),
            {"parameters": {"bar_period": ParamSpec(default=BarPeriod.DAY), "n": 3}},
            register=False,
        )
