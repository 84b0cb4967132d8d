"""A study's search space: per parameter a fixed value, a list of values, a range or a subset
of choices, checked against the strategy's ``ParamSpec``s; constraints between parameters.

The user's form (API JSON; ``run_study --space`` strings are turned into it first):

- ``{"value": x}``: fixed at x;
- ``{"values": [a, b, ...]}``: these values (numbers, texts, booleans, enum names);
- ``{"min": a, "max": b, "step": s}``: a numeric range; each of the three defaults to the
  ParamSpec's min, max and step; without a step a float range is continuous (random and
  model-based samplers only);
- ``{"choices": [...]}``: a subset of an enum/str/bool parameter's choices (all by default).

Points are dicts of parameter name -> JSON value (enum members by NAME). The grid is the
Cartesian product of the searched parameters' values, in the strategy's parameter order,
enumerated with ``itertools.product``; points that break a rule (the strategy's own or the
user's constraints) are removed up front. No Django: this module is pure.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from backtests.engine.strategies.constraints import (
    Constraint,
    ConstraintError,
    constraint_parse,
    constraints_violation,
)
from backtests.engine.strategies.params import ParamError, ParamSpec

MAX_VALUES_PER_PARAMETER = 100_000
MAX_CONSTRAINTS = 20

SPACE_NOT_OBJECT = (
    "space must be an object of parameter name -> search (value, values, range or choices)"
)
SPACE_EMPTY = "space must search at least one parameter (a list of values, a range or choices)"
SPACE_UNKNOWN = "unknown parameter {name!r}; known: {known}"
SPACE_BAR_PERIOD = "bar_period cannot be searched: it comes from rtype"
ENTRY_NOT_OBJECT = (
    'must be an object: {{"value": x}}, {{"values": [...]}}, '
    '{{"min": a, "max": b, "step": s}} or {{"choices": [...]}}'
)
ENTRY_MIXED = "give one of value, values, min/max/step or choices, not {keys}"
ENTRY_UNKNOWN_KEYS = "unknown key(s) {keys}; use value, values, min, max, step or choices"
VALUES_EMPTY = "values must be a non-empty list"
VALUES_TOO_MANY = "at most {limit:,} values"
RANGE_NOT_NUMERIC = "a range needs a numeric (int or float) parameter; this one is {kind}"
RANGE_NO_BOUND = "{bound} is missing and the strategy declares none"
RANGE_NOT_NUMBER = "{bound} must be a finite number, got {value!r}"
RANGE_OUTSIDE = "range {low}..{high} is outside the parameter's limits {limits}"
RANGE_REVERSED = "min {low} is above max {high}"
RANGE_INT_BOUND = "{bound} must be a whole number for an integer parameter, got {value!r}"
STEP_NOT_POSITIVE = "step must be above 0, got {value}"
STEP_INT = "step must be a whole number for an integer parameter, got {value!r}"
RANGE_TOO_MANY = "range {low}..{high} step {step} has {count:,} values, above {limit:,}"
CHOICES_NOT_CATEGORICAL = "choices need an enum, text or boolean parameter; this one is {kind}"
CHOICES_NOT_LIST = "choices must be a non-empty list"
CHOICE_UNKNOWN = "{value!r} is not one of the parameter's choices: {choices}"
CHOICES_TEXT_ANY = "a text parameter without declared choices needs a list of values"
CONSTRAINTS_NOT_LIST = "constraints must be a list of texts like 'fast_period < slow_period'"
CONSTRAINTS_TOO_MANY = f"at most {MAX_CONSTRAINTS} constraints"


class SpaceError(ValueError):
    """A search space the strategy cannot take; ``fields`` names the culprits."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.fields = fields


def _plain(value: Any) -> Any:
    return value.name if isinstance(value, enum.Enum) else value


@dataclass(frozen=True)
class ParamSearch:
    """How one parameter is searched: ``kind`` is fixed, values, range or choices.

    ``values`` holds the JSON values of a fixed/values/choices search and of a stepped range
    (enumerated); a continuous float range has ``values`` None and ``low``/``high``.
    """

    name: str
    type: str  # ParamSpec.type_name(): int, float, bool, str, enum
    kind: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"

    @property
    def numeric(self) -> bool:
        return self.type in ("int", "float")

    @property
    def continuous(self) -> bool:
        return self.values is None

    def count(self) -> int | None:
        """How many values (None for a continuous range)."""
        return None if self.values is None else len(self.values)

    def to_json(self) -> dict[str, Any]:
        """The normalised entry as stored with the study and shown by the API."""
        data: dict[str, Any] = {"type": self.type, "kind": self.kind}
        if self.kind == "range":
            data.update(min=self.low, max=self.high, step=self.step)
        elif self.kind == "fixed":
            data["value"] = self.values[0] if self.values else None
        else:
            data["values"] = list(self.values or ())
        return data

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ParamSearch:
        """The inverse of ``to_json`` (for stored, already validated entries)."""
        kind, kind_type = data["kind"], data["type"]
        if kind == "range":
            low, high, step = data["min"], data["max"], data.get("step")
            values = None if step is None else _range_values(kind_type, low, high, step)
            return cls(name, kind_type, kind, values, low, high, step)
        if kind == "fixed":
            return cls(name, kind_type, kind, (data["value"],))
        return cls(name, kind_type, kind, tuple(data["values"]))


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters (in the strategy's order), the fixed ones, and the rules."""

    params: tuple[ParamSearch, ...]
    rules: tuple[Constraint, ...] = ()
    user_constraints: tuple[str, ...] = ()
    _grid: list[dict[str, Any]] | None = field(default=None, compare=False, repr=False)

    @property
    def searched(self) -> tuple[ParamSearch, ...]:
        return tuple(p for p in self.params if p.searched)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.searched)

    def fixed_values(self) -> dict[str, Any]:
        return {p.name: p.values[0] for p in self.params if not p.searched and p.values}

    def by_name(self, name: str) -> ParamSearch | None:
        return next((p for p in self.params if p.name == name), None)

    def grid_size(self) -> int | None:
        """Points of the full grid before constraints (None with a continuous range)."""
        total = 1
        for param in self.searched:
            count = param.count()
            if count is None:
                return None
            total *= count
        return total

    def grid_points(self) -> list[dict[str, Any]]:
        """Every point of the grid that obeys the rules, in enumeration order (cached)."""
        if self._grid is None:
            object.__setattr__(self, "_grid", list(self._iter_grid()))
        return self._grid  # type: ignore[return-value]

    def _iter_grid(self) -> Iterator[dict[str, Any]]:
        searched = self.searched
        names = [p.name for p in searched]
        fixed = self.fixed_values()
        for combo in itertools.product(*(p.values or () for p in searched)):
            point = dict(zip(names, combo, strict=True))
            if self.violation({**fixed, **point}) is None:
                yield point

    def violation(self, values: Mapping[str, Any]) -> str | None:
        """The first broken rule's sentence for a full parameter set, or None."""
        try:
            return constraints_violation(self.rules, values)
        except ConstraintError as exc:
            return str(exc)

    def to_json(self) -> dict[str, Any]:
        return {p.name: p.to_json() for p in self.params}

    def key(self, point: Mapping[str, Any]) -> tuple:
        """A hashable identity of a point (floats of a stepped range normalised)."""
        return tuple((name, _normal(point.get(name))) for name in self.names)


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 10)
    return value


def space_from_json(
    data: Mapping[str, Any], *, strategy_cls: type, user_constraints: Sequence[str] = ()
) -> SearchSpace:
    """A stored, already validated space (and its constraints) rebuilt for ``strategy_cls``."""
    params = tuple(
        ParamSearch.from_json(name, data[name]) for name in strategy_cls.parameters if name in data
    )
    rules = tuple(strategy_cls._rules) + tuple(
        constraint_parse(text, known=strategy_cls.parameters) for text in user_constraints
    )
    return SearchSpace(params=params, rules=rules, user_constraints=tuple(user_constraints))


def space_parse(
    raw_space: Any,
    raw_constraints: Any,
    *,
    strategy_cls: type,
    fixed_params: Mapping[str, Any] | None = None,
) -> SearchSpace:
    """Validate a user's space and constraints against the strategy's parameters.

    Raises ``SpaceError`` whose ``fields`` are keyed ``space.<name>``, ``space`` or
    ``constraints``. Parameters the space does not name are fixed at ``fixed_params`` (a
    study's ``strategy_params``) or at their defaults.
    """
    specs: dict[str, ParamSpec] = strategy_cls.parameters
    errors: dict[str, str] = {}
    if not isinstance(raw_space, Mapping):
        raise SpaceError(SPACE_NOT_OBJECT, {"space": SPACE_NOT_OBJECT})
    for name in raw_space:
        if name == "bar_period":
            errors["space.bar_period"] = SPACE_BAR_PERIOD
        elif name not in specs:
            errors[f"space.{name}"] = SPACE_UNKNOWN.format(name=name, known=", ".join(specs))
    fixed_params = dict(fixed_params or {})
    params: list[ParamSearch] = []
    for name, spec in specs.items():
        if name == "bar_period":
            continue
        if name in raw_space and f"space.{name}" not in errors:
            try:
                params.append(_parse_entry(name, spec, raw_space[name]))
            except ParamError as exc:
                errors[f"space.{name}"] = exc.message
        elif name not in raw_space:
            raw = fixed_params.get(name, spec.default)
            try:
                params.append(
                    ParamSearch(name, spec.type_name(), "fixed", (_plain(spec.coerce(name, raw)),))
                )
            except ParamError as exc:
                errors[f"strategy_params.{name}"] = exc.message
    if not errors and not any(p.searched for p in params):
        errors["space"] = SPACE_EMPTY
    user_rules = _parse_constraints(raw_constraints, specs, errors)
    if errors:
        raise SpaceError("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    return SearchSpace(
        params=tuple(params),
        rules=tuple(strategy_cls._rules) + tuple(user_rules),
        user_constraints=tuple(rule.text for rule in user_rules),
    )


def _parse_constraints(
    raw: Any, specs: Mapping[str, ParamSpec], errors: dict[str, str]
) -> list[Constraint]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        errors["constraints"] = CONSTRAINTS_NOT_LIST
        return []
    if len(raw) > MAX_CONSTRAINTS:
        errors["constraints"] = CONSTRAINTS_TOO_MANY
        return []
    rules = []
    for text in raw:
        try:
            rules.append(constraint_parse(text, known=specs))
        except ConstraintError as exc:
            errors["constraints"] = str(exc)
            return []
    return rules


def _parse_entry(name: str, spec: ParamSpec, raw: Any) -> ParamSearch:
    kind_type = spec.type_name()
    if not isinstance(raw, Mapping):
        raise ParamError(name, ENTRY_NOT_OBJECT)
    keys = set(raw)
    unknown = keys - {"value", "values", "min", "max", "step", "choices"}
    if unknown:
        raise ParamError(name, ENTRY_UNKNOWN_KEYS.format(keys=", ".join(sorted(map(str, unknown)))))
    forms = [
        form
        for form, present in (
            ("value", "value" in keys),
            ("values", "values" in keys),
            ("range", bool(keys & {"min", "max", "step"})),
            ("choices", "choices" in keys),
        )
        if present
    ]
    if len(forms) > 1:
        raise ParamError(name, ENTRY_MIXED.format(keys=" and ".join(forms)))
    form = forms[0] if forms else ("range" if kind_type in ("int", "float") else "choices")
    if form == "value":
        return ParamSearch(name, kind_type, "fixed", (_plain(spec.coerce(name, raw["value"])),))
    if form == "values":
        return ParamSearch(name, kind_type, "values", _coerced_list(name, spec, raw["values"]))
    if form == "choices":
        return _parse_choices(name, spec, raw.get("choices"))
    return _parse_range(name, spec, raw)


def _coerced_list(name: str, spec: ParamSpec, raw: Any) -> tuple[Any, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise ParamError(name, VALUES_EMPTY)
    if len(raw) > MAX_VALUES_PER_PARAMETER:
        raise ParamError(name, VALUES_TOO_MANY.format(limit=MAX_VALUES_PER_PARAMETER))
    out: list[Any] = []
    for item in raw:
        value = _plain(spec.coerce(name, item))
        if value not in out:
            out.append(value)
    return tuple(out)


def _parse_choices(name: str, spec: ParamSpec, raw: Any) -> ParamSearch:
    kind_type = spec.type_name()
    if kind_type in ("int", "float") and spec.resolved_choices() is None:
        raise ParamError(name, CHOICES_NOT_CATEGORICAL.format(kind=kind_type))
    allowed = spec.resolved_choices()
    if allowed is None:
        allowed = (True, False) if kind_type == "bool" else None
    if raw is None:
        if allowed is None:
            raise ParamError(name, CHOICES_TEXT_ANY)
        return ParamSearch(name, kind_type, "choices", tuple(_plain(c) for c in allowed))
    if not isinstance(raw, list | tuple) or not raw:
        raise ParamError(name, CHOICES_NOT_LIST)
    values = _coerced_list(name, spec, raw)
    if allowed is not None:
        plain_allowed = [_plain(c) for c in allowed]
        for value in values:
            if value not in plain_allowed:
                raise ParamError(
                    name,
                    CHOICE_UNKNOWN.format(value=value, choices=", ".join(map(str, plain_allowed))),
                )
    return ParamSearch(name, kind_type, "choices", values)


def _number(name: str, bound: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ParamError(name, RANGE_NOT_NUMBER.format(bound=bound, value=raw))
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise ParamError(name, RANGE_NOT_NUMBER.format(bound=bound, value=raw)) from None
    if not math.isfinite(value):
        raise ParamError(name, RANGE_NOT_NUMBER.format(bound=bound, value=raw))
    return value


def _parse_range(name: str, spec: ParamSpec, raw: Mapping[str, Any]) -> ParamSearch:
    kind_type = spec.type_name()
    if kind_type not in ("int", "float"):
        raise ParamError(name, RANGE_NOT_NUMERIC.format(kind=kind_type))
    bounds: dict[str, float | None] = {}
    for bound, default in (("min", spec.min), ("max", spec.max), ("step", spec.step)):
        given = raw.get(bound)
        if given is None:
            bounds[bound] = None if default is None else float(default)
        else:
            bounds[bound] = _number(name, bound, given)
    low, high, step = bounds["min"], bounds["max"], bounds["step"]
    for bound, value in (("min", low), ("max", high)):
        if value is None:
            raise ParamError(name, RANGE_NO_BOUND.format(bound=bound))
    assert low is not None and high is not None
    if step is not None and step <= 0:
        raise ParamError(name, STEP_NOT_POSITIVE.format(value=_shown(step)))
    if kind_type == "int":
        for bound, value in (("min", low), ("max", high)):
            if not float(value).is_integer():
                raise ParamError(name, RANGE_INT_BOUND.format(bound=bound, value=raw.get(bound)))
        step = 1.0 if step is None else step
        if not float(step).is_integer():
            raise ParamError(name, STEP_INT.format(value=raw.get("step")))
    if low > high:
        raise ParamError(name, RANGE_REVERSED.format(low=_shown(low), high=_shown(high)))
    if (spec.min is not None and low < spec.min) or (spec.max is not None and high > spec.max):
        lower = _shown(spec.min) if spec.min is not None else "-inf"
        limits = f"{lower}..{_shown(spec.max) if spec.max is not None else 'inf'}"
        raise ParamError(
            name, RANGE_OUTSIDE.format(low=_shown(low), high=_shown(high), limits=limits)
        )
    if kind_type == "int":
        low_v, high_v, step_v = int(low), int(high), int(step)  # type: ignore[arg-type]
    else:
        low_v, high_v, step_v = float(low), float(high), None if step is None else float(step)
    values = None
    if step_v is not None:
        count = int(_decimal(high_v - low_v) // _decimal(step_v)) + 1
        if count > MAX_VALUES_PER_PARAMETER:
            raise ParamError(
                name,
                RANGE_TOO_MANY.format(
                    low=_shown(low_v),
                    high=_shown(high_v),
                    step=_shown(step_v),
                    count=count,
                    limit=MAX_VALUES_PER_PARAMETER,
                ),
            )
        values = _range_values(kind_type, low_v, high_v, step_v)
        high_v = values[-1]  # the last value the steps reach
    return ParamSearch(name, kind_type, "range", values, low_v, high_v, step_v)


def _decimal(value: float) -> Decimal:
    try:
        return Decimal(repr(value))
    except InvalidOperation:  # pragma: no cover - finite floats always convert
        return Decimal(value)


def _range_values(kind_type: str, low: float, high: float, step: float) -> tuple[Any, ...]:
    """low, low + step, ... up to high, computed in decimal so 0.1 steps stay 0.1 steps."""
    if kind_type == "int":
        return tuple(range(int(low), int(high) + 1, int(step)))
    start, stride, end = _decimal(low), _decimal(step), _decimal(high)
    count = int((end - start) // stride) + 1
    return tuple(float(start + stride * i) for i in range(count))


def _shown(value: float | int | None) -> str:
    if value is None:
        return "?"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def point_coerce(space: SearchSpace, point: Mapping[str, Any]) -> dict[str, Any]:
    """A sampler's point as the JSON values the space enumerates (ints as ints, floats of a
    stepped range snapped to their step's decimals)."""
    out: dict[str, Any] = {}
    for param in space.searched:
        value = point[param.name]
        if param.type == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif (
            param.type == "float" and isinstance(value, int | float) and not isinstance(value, bool)
        ):
            value = float(value)
            if param.kind == "range" and param.step is not None and param.low is not None:
                steps = round((value - param.low) / param.step)
                value = float(_decimal(param.low) + _decimal(param.step) * steps)
        out[param.name] = value
    return out
