"""Rules between strategy parameters: parsed safely, checked on every parameter set."""

from __future__ import annotations

import pytest

from backtests.engine.enums import BarPeriod
from backtests.engine.strategies.base import ParamError, ParamSpec, StrategyBase
from backtests.engine.strategies.constraints import (
    ConstraintError,
    constraint_parse,
    constraints_violation,
)
from backtests.engine.strategies.examples.sma_crossover import SMACrossover

KNOWN = ("fast_period", "slow_period", "mode", "quantity")


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("fast_period < slow_period", {"fast_period": 5, "slow_period": 60}, True),
        ("fast_period < slow_period", {"fast_period": 60, "slow_period": 60}, False),
        ("fast_period * 2 <= slow_period", {"fast_period": 30, "slow_period": 60}, True),
        ("fast_period * 2 <= slow_period", {"fast_period": 31, "slow_period": 60}, False),
        ("5 <= fast_period < slow_period - 10", {"fast_period": 5, "slow_period": 16}, True),
        ("5 <= fast_period < slow_period - 10", {"fast_period": 6, "slow_period": 16}, False),
        ("mode == 'fast' or quantity > 1", {"mode": "slow", "quantity": 2}, True),
        ("mode == 'fast' or quantity > 1", {"mode": "slow", "quantity": 1}, False),
        ("not (fast_period == 7)", {"fast_period": 7}, False),
        ("slow_period % fast_period == 0", {"fast_period": 5, "slow_period": 60}, True),
        ("-fast_period > -slow_period", {"fast_period": 5, "slow_period": 60}, True),
        ("fast_period / slow_period < 0.5", {"fast_period": 30, "slow_period": 60}, False),
    ],
)
def test_constraint_holds_evaluates_like_python(text, values, expected) -> None:
    assert constraint_parse(text, known=KNOWN).holds(values) is expected


def test_constraint_compares_enum_values_by_name() -> None:
    rule = constraint_parse("mode != 'MINUTE'", known=KNOWN)
    assert rule.holds({"mode": BarPeriod.HOUR}) is True
    assert rule.holds({"mode": BarPeriod.MINUTE}) is False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("fast_period", "is not a comparison"),
        ("fast_period + 1", "is not a comparison"),
        ("__import__('os').system('true') == 0", "function call"),
        ("fast_period.real < 3", "attribute"),
        ("fast_period[0] < 3", "subscript"),
        ("[x for x in fast_period] == 1", "ListComp"),
        ("(lambda: 1)() == 1", "function call"),
        ("fast_period < slow_period; x", "not a valid expression"),
        ("fast_period <", "not a valid expression"),
        ("fast_period < None", "None"),
        ("fast_period < bogus", "unknown parameter(s) bogus"),
        ("fast_period ** 2 < slow_period", "'Pow'"),
        ("", "non-empty text"),
        ("x" * 600, "longer than 500"),
        ("(" * 300 + "fast_period" + ")" * 300 + " < 1", ""),
    ],
)
def test_constraint_parse_refuses_what_is_not_a_comparison(text, fragment) -> None:
    with pytest.raises(ConstraintError) as excinfo:
        constraint_parse(text, known=KNOWN)
    assert fragment in str(excinfo.value)


def test_constraint_parse_refuses_non_text() -> None:
    with pytest.raises(ConstraintError, match="non-empty text"):
        constraint_parse(42, known=KNOWN)


def test_constraint_that_cannot_be_evaluated_says_why() -> None:
    rule = constraint_parse("slow_period / fast_period > 2", known=KNOWN)
    with pytest.raises(ConstraintError, match="cannot be checked for fast_period=0"):
        rule.holds({"fast_period": 0, "slow_period": 10})


def test_constraints_violation_names_the_values_and_the_rule() -> None:
    rules = [
        constraint_parse("quantity > 0", known=KNOWN),
        constraint_parse("fast_period < slow_period", known=KNOWN),
    ]
    assert constraints_violation(rules, {"quantity": 1, "fast_period": 5, "slow_period": 9}) is None
    assert (
        constraints_violation(rules, {"quantity": 1, "fast_period": 100, "slow_period": 10})
        == "fast_period=100, slow_period=10 break the rule fast_period < slow_period"
    )


def test_strategy_refuses_parameters_that_break_its_rules() -> None:
    with pytest.raises(ParamError) as excinfo:
        SMACrossover.resolve_params({"fast_period": 100, "slow_period": 10})
    assert excinfo.value.name == "constraints"
    assert "fast_period=100, slow_period=10 break the rule fast_period < slow_period" in str(
        excinfo.value
    )
    assert SMACrossover.resolve_params({"fast_period": 10, "slow_period": 100})["fast_period"] == 10


def test_strategy_schema_lists_its_rules() -> None:
    assert SMACrossover.schema()["constraints"] == ["fast_period < slow_period"]


def test_strategy_with_a_bad_rule_fails_at_definition() -> None:
    with pytest.raises(TypeError, match="BadRule: constraint 'period < 3' names unknown"):

        class BadRule(StrategyBase, register=False):
            parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}
            constraints = ("period < 3",)

            def on_bar(self, bar) -> None:
                pass
