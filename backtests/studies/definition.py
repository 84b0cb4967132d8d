"""What a study is, validated up front: ``study_definition_build`` takes raw values (an API
body, command-line strings turned into JSON) and returns a ``StudyDefinition`` or raises
``InvalidInput`` naming every wrong field, before anything is written or queued.

The data part (strategy, symbols, bar period, publisher, dates, costs, capital) is validated by
``backtest_spec_build``, exactly as a backtest is, with the study's first point as the
strategy's parameters; every later point goes through the strategy's ``resolve_params``.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from backtests.engine.accounting import DEFAULT_CAPITAL
from backtests.engine.enums import FillTiming
from backtests.services.backtest_spec import BacktestSpec, backtest_spec_build, strategy_classes
from backtests.studies.sampling import (
    DIRECTIONS,
    SAMPLERS,
    AskedPoint,
    default_generation_size,
    points_ask,
)
from backtests.studies.space import SearchSpace, SpaceError, space_parse
from ostsite.errors import InvalidInput

# The run metrics a study can optimise (``backtests.analysis.metrics.run_metrics`` keys; a
# test checks each one exists there).
OBJECTIVES = (
    "net_pnl",
    "total_return_pct",
    "sharpe",
    "sortino",
    "calmar",
    "cagr_pct",
    "profit_factor",
    "expectancy",
    "win_rate",
    "trades",
    "max_drawdown",
    "max_drawdown_pct",
    "max_drawdown_duration_days",
    "volatility_pct",
    "exposure_pct",
    "excess_return_pct",
    "gross_pnl",
    "realised_pnl",
    "final_equity",
    "avg_win",
    "avg_loss",
    "largest_win",
    "largest_loss",
    "wins",
    "losses",
    "turnover",
    "beta",
    "correlation",
)
# Lower is better for these; every other objective is maximised by default.
MINIMISED_BY_DEFAULT = frozenset(
    {"max_drawdown", "max_drawdown_pct", "max_drawdown_duration_days", "volatility_pct", "losses"}
)
MAX_BATCH_SIZE = 100
DEFAULT_BATCH_SIZE = 4
MAX_PBO_SPLITS = 22
MAX_SEED = 2**32 - 1
MAX_TIME_LIMIT_SECONDS = 30 * 86_400
MAX_MIN_TRADES = 10**9
NAME_MAX_LENGTH = 200

SAMPLER_INVALID = "sampler must be one of: " + ", ".join(SAMPLERS)
OBJECTIVE_INVALID = "objective must be a run metric: {valid}"
DIRECTION_INVALID = "direction must be maximize or minimize"
INTEGER_INVALID = "{field} must be a whole number from {low:,} to {high:,}"
N_TRIALS_ZERO = "n_trials must be at least 1 (the number of trials to run)"
N_TRIALS_ABOVE_GRID = (
    "n_trials {n_trials:,} is more than the grid's {points:,} points that obey the constraints"
)
BUDGET_MISSING = "give n_trials (a number of trials) or time_limit_seconds (or both)"
TIME_LIMIT_INVALID = (
    f"time_limit_seconds must be a number of seconds above 0 and at most {MAX_TIME_LIMIT_SECONDS:,}"
)
SPLITS_INVALID = f"pbo_splits must be an even whole number from 2 to {MAX_PBO_SPLITS}"
GRID_TOO_LARGE = (
    "the grid has {points:,} points ({factors}), above the limit of {limit:,} "
    "(OST_STUDY_MAX_GRID_POINTS); narrow the ranges, raise the steps, or use random or tpe"
)
GRID_CONTINUOUS = "a grid needs a step for a float range (or a list of values)"
GRID_EMPTY = "no point of the grid obeys the constraints"
SPACE_NO_POINT = "the sampler found no point of the space that obeys the constraints"
CMAES_NOT_NUMERIC = (
    "cmaes searches numeric ranges only; {name} is {what} (use tpe or random for it)"
)
CMAES_ONE_DIMENSION = "cmaes needs at least two parameters searched over ranges (use tpe)"
NAME_INVALID = f"name must be a text of at most {NAME_MAX_LENGTH} characters"


@dataclass(frozen=True)
class StudyDefinition:
    """Everything a study needs, validated; ``first_batch`` is the sampler's batch 0."""

    spec: BacktestSpec
    space: SearchSpace
    sampler: str
    objective: str
    direction: str
    min_trades: int | None
    n_trials: int
    time_limit_seconds: float | None
    seed: int
    batch_size: int
    generation_size: int
    pbo_splits: int
    grid_size: int | None
    first_batch: tuple[AskedPoint, ...]
    exhausted: bool
    name: str


def _integer(raw: Any, field: str, low: int, high: int, errors: dict[str, str]) -> int | None:
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        value = int(raw)
    elif (
        isinstance(raw, str)
        and raw.strip().isascii()
        and raw.strip().lstrip("-").isdigit()
        and len(raw.strip()) < 20
    ):
        value = int(raw.strip())
    if value is None or not low <= value <= high:
        errors[field] = INTEGER_INVALID.format(field=field, low=low, high=high)
        return None
    return value


def _time_limit(raw: Any, errors: dict[str, str]) -> float | None:
    if raw is None or raw == "":
        return None
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            value = None
    if value is None or not math.isfinite(value) or not 0 < value <= MAX_TIME_LIMIT_SECONDS:
        errors["time_limit_seconds"] = TIME_LIMIT_INVALID
        return None
    return value


def study_definition_build(
    *,
    strategy: Any = None,
    symbols: Any = None,
    rtype: Any = None,
    publisher_id: Any = None,
    space: Any = None,
    start_date: Any = None,
    end_date: Any = None,
    commission_per_unit: Any = 0,
    minimum_commission: Any = 0,
    fill_timing: Any = FillTiming.NEXT_BAR.value,
    capital: Any = DEFAULT_CAPITAL,
    risk_free_rate: Any = 0.0,
    strategy_params: Any = None,
    constraints: Any = None,
    sampler: Any = None,
    objective: Any = "net_pnl",
    direction: Any = None,
    min_trades: Any = None,
    n_trials: Any = None,
    time_limit_seconds: Any = None,
    seed: Any = None,
    batch_size: Any = DEFAULT_BATCH_SIZE,
    pbo_splits: Any = 16,
    name: Any = None,
) -> StudyDefinition:
    """Validate a study; ``InvalidInput`` names each wrong field (``space.<param>`` for an
    entry of the space). Asks the sampler's first batch (to prove the space has a point)."""
    errors: dict[str, str] = {}
    data = {
        "strategy": strategy,
        "symbols": symbols,
        "rtype": rtype,
        "publisher_id": publisher_id,
        "start_date": start_date,
        "end_date": end_date,
        "commission_per_unit": commission_per_unit,
        "minimum_commission": minimum_commission,
        "fill_timing": fill_timing,
        "capital": capital,
        "risk_free_rate": risk_free_rate,
        "record": "trades",
    }
    if strategy_params is not None and not isinstance(strategy_params, dict):
        errors["strategy_params"] = "strategy_params must be an object of parameter name -> value"
        strategy_params = None
    fixed = {k: v for k, v in (strategy_params or {}).items() if k != "bar_period"}

    cls = strategy_classes().get(strategy) if isinstance(strategy, str) else None
    search: SearchSpace | None = None
    if cls is not None:
        try:
            search = space_parse(space, constraints, strategy_cls=cls, fixed_params=fixed)
        except SpaceError as exc:
            errors.update(exc.fields)

    if not isinstance(objective, str) or objective not in OBJECTIVES:
        errors["objective"] = OBJECTIVE_INVALID.format(valid=", ".join(OBJECTIVES))
    if direction is None or direction == "":
        direction = "minimize" if str(objective) in MINIMISED_BY_DEFAULT else "maximize"
    elif not isinstance(direction, str) or direction not in DIRECTIONS:
        errors["direction"] = DIRECTION_INVALID
    trades_floor = (
        None
        if min_trades is None or min_trades == ""
        else _integer(min_trades, "min_trades", 0, MAX_MIN_TRADES, errors)
    )
    per_task = _integer(batch_size, "batch_size", 1, MAX_BATCH_SIZE, errors)
    splits = _integer(pbo_splits, "pbo_splits", 2, MAX_PBO_SPLITS, errors)
    if splits is not None and splits % 2:
        errors["pbo_splits"] = SPLITS_INVALID
    if "pbo_splits" in errors:
        errors["pbo_splits"] = SPLITS_INVALID
    chosen_seed = (
        secrets.randbelow(MAX_SEED + 1)
        if seed is None or seed == ""
        else _integer(seed, "seed", 0, MAX_SEED, errors)
    )
    limit = _time_limit(time_limit_seconds, errors)
    max_trials = settings.OST_STUDY_MAX_TRIALS
    budget: int | None = None
    if n_trials is not None and n_trials != "":
        budget = _integer(n_trials, "n_trials", 0, max_trials, errors)
        if budget == 0:
            errors["n_trials"] = N_TRIALS_ZERO
            budget = None
    if not isinstance(name, str | type(None)) or (
        isinstance(name, str) and (len(name) > NAME_MAX_LENGTH or "\x00" in name)
    ):
        errors["name"] = NAME_INVALID
        name = None

    if sampler is None or sampler == "":
        # grid when every searched parameter is discrete (unknown until the space is valid)
        sampler = None if search is None else ("grid" if search.grid_size() else "tpe")
    elif not isinstance(sampler, str) or sampler not in SAMPLERS:
        errors["sampler"] = SAMPLER_INVALID

    grid_points: int | None = None
    if search is not None and "sampler" not in errors:
        grid_points = _check_sampler(sampler, search, errors)
    if sampler == "grid":
        if grid_points is not None and budget is None:
            budget = grid_points
        elif grid_points is not None and budget is not None and budget > grid_points:
            errors["n_trials"] = N_TRIALS_ABOVE_GRID.format(n_trials=budget, points=grid_points)
    elif sampler is not None and budget is None and "n_trials" not in errors:
        if limit is None and "time_limit_seconds" not in errors:
            errors["n_trials"] = BUDGET_MISSING
        else:
            budget = max_trials

    first: tuple[AskedPoint, ...] = ()
    exhausted = False
    generation = 1
    if search is not None and not errors:
        generation = default_generation_size(sampler, search, per_task or DEFAULT_BATCH_SIZE)
        asked = points_ask(
            space=search,
            sampler=sampler,
            direction=direction,
            seed=chosen_seed or 0,
            batch=0,
            count=min(generation, budget or generation),
            history=[],
        )
        first, exhausted = tuple(asked.points), asked.exhausted
        if not first:
            errors["constraints"] = SPACE_NO_POINT

    probe = {**fixed, **search.fixed_values(), **first[0].params} if (search and first) else fixed
    try:
        spec = backtest_spec_build(strategy_params=probe, **data)
    except InvalidInput as exc:
        found = dict(exc.fields)
        if search is None or not first:  # the parameters were judged above already
            found.pop("strategy_params", None)
        errors.update({k: v for k, v in found.items() if k not in errors})
        if not exc.fields:
            errors.setdefault("strategy", exc.message)
        spec = None
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()), fields=errors)
    assert spec is not None and search is not None and budget is not None
    return StudyDefinition(
        spec=spec,
        space=search,
        sampler=sampler,
        objective=objective,
        direction=direction,
        min_trades=trades_floor,
        n_trials=budget,
        time_limit_seconds=limit,
        seed=int(chosen_seed or 0),
        batch_size=int(per_task or DEFAULT_BATCH_SIZE),
        generation_size=generation,
        pbo_splits=int(splits or 16),
        grid_size=grid_points,
        first_batch=first,
        exhausted=exhausted,
        name=(name or "").strip(),
    )


def _check_sampler(sampler: str, search: SearchSpace, errors: dict[str, str]) -> int | None:
    """Sampler-specific rules; the grid's number of points obeying the rules (grid only)."""
    if sampler == "cmaes":
        for param in search.searched:
            if param.kind != "range":
                what = f"a {param.type} parameter" if not param.numeric else "a list of values"
                errors["sampler"] = CMAES_NOT_NUMERIC.format(name=param.name, what=what)
                return None
        if len(search.searched) < 2:
            errors["sampler"] = CMAES_ONE_DIMENSION
        return None
    if sampler != "grid":
        return None
    for param in search.searched:
        if param.continuous:
            errors[f"space.{param.name}"] = GRID_CONTINUOUS
            return None
    size = search.grid_size() or 0
    limit = settings.OST_STUDY_MAX_GRID_POINTS
    if size > limit:
        factors = " × ".join(f"{p.count():,} {p.name}" for p in search.searched)
        errors["space"] = GRID_TOO_LARGE.format(points=size, factors=factors, limit=limit)
        return None
    points = len(search.grid_points())
    if not points:
        errors["constraints"] = GRID_EMPTY
        return None
    return points
