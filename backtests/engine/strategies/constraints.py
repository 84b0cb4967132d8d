"""Rules between strategy parameters, e.g. ``fast_period < slow_period``.

A rule is a comparison over parameter names, numbers, strings and booleans, combined with
``and``, ``or``, ``not`` and arithmetic (``+ - * / // %``, unary minus). It is parsed with
``ast`` and checked against a whitelist of node types, then evaluated by walking the tree:
nothing is ever compiled or ``eval``-ed, names are only looked up among the parameters, and
there are no calls, attributes, subscripts or comprehensions to reach anything else.

Strategies declare theirs in ``StrategyBase.constraints``; studies take more from the user.
"""

from __future__ import annotations

import ast
import enum
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_CONSTRAINT_LENGTH = 500
MAX_CONSTRAINT_NODES = 200

CONSTRAINT_NOT_TEXT = "a constraint must be a non-empty text, got {value!r}"
CONSTRAINT_TOO_LONG = "constraint is longer than {limit} characters"
CONSTRAINT_SYNTAX = "constraint {text!r} is not a valid expression: {detail}"
CONSTRAINT_NOT_COMPARISON = (
    "constraint {text!r} is not a comparison: write it like 'fast_period < slow_period' "
    "(comparisons joined by and/or/not)"
)
CONSTRAINT_FORBIDDEN = (
    "constraint {text!r} uses {what}, which is not allowed "
    "(only parameter names, numbers, strings, booleans, arithmetic and comparisons)"
)
CONSTRAINT_UNKNOWN_NAME = "constraint {text!r} names unknown parameter(s) {names}; known: {known}"
CONSTRAINT_TOO_COMPLEX = "constraint {text!r} is too complex (more than {limit} parts)"
CONSTRAINT_BROKEN = "{values} break the rule {text}"
CONSTRAINT_UNEVALUABLE = "the rule {text} cannot be checked for {values}: {detail}"

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_ALLOWED = (
    ast.Expression,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    *_COMPARE,
    *_ARITHMETIC,
)


class ConstraintError(ValueError):
    """A rule that cannot be parsed, or a set of values it cannot be checked on."""


@dataclass(frozen=True)
class Constraint:
    """One parsed rule: ``holds(values)`` says whether a parameter set obeys it."""

    text: str
    names: frozenset[str]
    tree: ast.Expression

    def holds(self, values: Mapping[str, Any]) -> bool:
        """True when ``values`` (name -> value, enums compared by NAME) obey the rule.

        Raises ``ConstraintError`` when the rule cannot be evaluated on them (a division by
        zero, a comparison of a number with a text).
        """
        try:
            return bool(_evaluate(self.tree.body, values))
        except (ArithmeticError, TypeError) as exc:
            raise ConstraintError(
                CONSTRAINT_UNEVALUABLE.format(
                    text=self.text, values=_describe(values, self.names), detail=exc
                )
            ) from None

    def violation(self, values: Mapping[str, Any]) -> str | None:
        """None when the rule holds, else a sentence naming the values that break it."""
        if self.holds(values):
            return None
        return CONSTRAINT_BROKEN.format(values=_describe(values, self.names), text=self.text)

    def __str__(self) -> str:
        return self.text


def constraint_parse(text: Any, *, known: Iterable[str]) -> Constraint:
    """Parse ``text`` into a ``Constraint`` over the parameter names in ``known``.

    Raises ``ConstraintError`` with a sentence for the user when the text is not a comparison
    expression, uses anything but names, constants, arithmetic and comparisons, or names a
    parameter that ``known`` lacks.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConstraintError(CONSTRAINT_NOT_TEXT.format(value=text))
    text = text.strip()
    if len(text) > MAX_CONSTRAINT_LENGTH:
        raise ConstraintError(CONSTRAINT_TOO_LONG.format(limit=MAX_CONSTRAINT_LENGTH))
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = getattr(exc, "msg", None) or type(exc).__name__
        raise ConstraintError(CONSTRAINT_SYNTAX.format(text=text, detail=detail)) from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_CONSTRAINT_NODES:
        raise ConstraintError(CONSTRAINT_TOO_COMPLEX.format(text=text, limit=MAX_CONSTRAINT_NODES))
    for node in nodes:
        if not isinstance(node, _ALLOWED):
            raise ConstraintError(CONSTRAINT_FORBIDDEN.format(text=text, what=_what(node)))
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise ConstraintError(CONSTRAINT_FORBIDDEN.format(text=text, what=repr(node.value)))
    if not _is_condition(tree.body):
        raise ConstraintError(CONSTRAINT_NOT_COMPARISON.format(text=text))
    names = frozenset(node.id for node in nodes if isinstance(node, ast.Name))
    known_names = list(known)
    unknown = sorted(names - set(known_names))
    if unknown:
        raise ConstraintError(
            CONSTRAINT_UNKNOWN_NAME.format(
                text=text, names=", ".join(unknown), known=", ".join(known_names)
            )
        )
    return Constraint(text=text, names=names, tree=tree)


def constraints_violation(
    constraints: Iterable[Constraint], values: Mapping[str, Any]
) -> str | None:
    """The first broken rule's sentence, or None when every rule holds."""
    for constraint in constraints:
        problem = constraint.violation(values)
        if problem is not None:
            return problem
    return None


def _is_condition(node: ast.AST) -> bool:
    """A comparison, or and/or/not of conditions."""
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.BoolOp):
        return all(_is_condition(value) for value in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _is_condition(node.operand)
    return False


def _what(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.Attribute):
        return "an attribute"
    if isinstance(node, ast.Subscript):
        return "a subscript"
    return f"'{type(node).__name__}'"


def _value(value: Any) -> Any:
    return value.name if isinstance(value, enum.Enum) else value


def _evaluate(node: ast.AST, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _value(values[node.id])
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_evaluate(value, values) for value in node.values)
        return any(_evaluate(value, values) for value in node.values)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(operand, str | bool):
            raise TypeError(f"bad operand for a sign: {operand!r}")
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if isinstance(left, str) or isinstance(right, str):
            raise TypeError(f"arithmetic on text: {left!r}, {right!r}")
        return _ARITHMETIC[type(node.op)](left, right)
    raise TypeError(f"unexpected {type(node).__name__}")  # parse() admits nothing else


def _describe(values: Mapping[str, Any], names: Iterable[str]) -> str:
    return ", ".join(f"{name}={_value(values.get(name))!r}" for name in sorted(names))
