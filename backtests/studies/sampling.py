"""The Optuna bridge: the next batch of points of a study, asked of an in-memory Optuna study
rebuilt from the study's own trials.

The study's state lives in our tables (``Trial`` rows), never in an Optuna storage. To ask a
batch, a worker (holding the study row's lock) rebuilds an in-memory Optuna study from the
trials so far, asks it for ``count`` points and forgets it. Reproducible by construction:

- the batch's sampler seed is derived from the study's seed and the batch number;
- a grid is enumerated in a fixed order (``SearchSpace.grid_points``), batch after batch;
- random batches have a fixed size, so batch b holds the same points whenever it is asked;
- model-based samplers (TPE, CMA-ES) are asked in *generations*: the next generation only
  once every trial of the previous one has finished, so what they learn from is the same
  whatever the workers' timing.

Points that break a rule (the strategy's or the user's constraints) and points already tried
in the study are not returned: the sampler is told they failed (or, for a repeat, the value
the earlier trial had) and asked again, up to a bounded number of attempts. No Django here.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from backtests.studies.space import ParamSearch, SearchSpace, point_coerce

SAMPLERS = ("grid", "random", "tpe", "cmaes")
GENERATION_SAMPLERS = ("tpe", "cmaes")
DIRECTIONS = ("maximize", "minimize")
ATTEMPTS_PER_POINT = 20
MIN_ATTEMPTS = 200
TPE_GENERATION = 8

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class PastTrial:
    """What the sampler learns from one trial of the study."""

    params: dict[str, Any]
    state: str  # "complete" (has a value), "failed" (infeasible or raised), "pending"
    value: float | None = None
    sampler_attrs: dict[str, Any] | None = None


@dataclass(frozen=True)
class AskedPoint:
    params: dict[str, Any]
    sampler_attrs: dict[str, Any] | None = None


@dataclass(frozen=True)
class AskResult:
    points: list[AskedPoint]
    exhausted: bool  # the sampler has no further points (grid done, or nothing new found)


def batch_seed(seed: int, batch: int) -> int:
    """The sampler seed of batch ``batch`` of a study seeded ``seed`` (32 bits)."""
    digest = hashlib.sha256(f"ost-study:{seed}:{batch}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def cmaes_population(space: SearchSpace) -> int:
    """CMA-ES's default population for the space's dimension: 4 + floor(3 ln n)."""
    return 4 + math.floor(3 * math.log(max(1, len(space.searched))))


def default_generation_size(sampler: str, space: SearchSpace, batch_size: int) -> int:
    """Points asked at once: a CMA-ES population, a TPE generation, or for grid and random
    the look-ahead (eight tasks' worth), so workers never wait for the next batch."""
    if sampler == "cmaes":
        return cmaes_population(space)
    if sampler == "tpe":
        return max(TPE_GENERATION, 2 * batch_size)
    return 8 * batch_size


def distribution_of(param: ParamSearch) -> BaseDistribution:
    """The Optuna distribution of one searched parameter."""
    if param.kind == "range" and param.type == "int":
        return IntDistribution(int(param.low), int(param.high), step=int(param.step or 1))
    if param.kind == "range":
        return FloatDistribution(float(param.low), float(param.high), step=param.step)
    return CategoricalDistribution(tuple(param.values or ()))


def _sampler(sampler: str, seed: int) -> optuna.samplers.BaseSampler:
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ValueError(f"no Optuna sampler for {sampler!r}")


def points_ask(
    *,
    space: SearchSpace,
    sampler: str,
    direction: str,
    seed: int,
    batch: int,
    count: int,
    history: Sequence[PastTrial],
) -> AskResult:
    """The next ``count`` points of a study (fewer when the sampler runs out).

    ``history`` is every trial of the study so far in trial-number order; for a grid, its
    length is the index of the next grid point.
    """
    if count <= 0:
        return AskResult([], False)
    if sampler == "grid":
        grid = space.grid_points()
        start = len(history)
        points = [AskedPoint(dict(p)) for p in grid[start : start + count]]
        return AskResult(points, start + count >= len(grid))
    return _ask_optuna(space, sampler, direction, batch_seed(seed, batch), count, history)


def _ask_optuna(
    space: SearchSpace,
    sampler: str,
    direction: str,
    seed: int,
    count: int,
    history: Sequence[PastTrial],
) -> AskResult:
    distributions = {param.name: distribution_of(param) for param in space.searched}
    fixed = space.fixed_values()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning of constant_liar, etc.
        study = optuna.create_study(direction=direction, sampler=_sampler(sampler, seed))
        seen: dict[tuple, float | None] = {}
        for past in history:
            key = space.key(past.params)
            if past.state == "complete" and past.value is not None and math.isfinite(past.value):
                seen[key] = past.value
            else:
                seen.setdefault(key, None)
            if sampler == "random":
                continue  # a random sampler learns nothing from the past
            study.add_trial(_frozen(past, distributions))
        points: list[AskedPoint] = []
        attempts = max(MIN_ATTEMPTS, ATTEMPTS_PER_POINT * count)
        while len(points) < count and attempts > 0:
            attempts -= 1
            trial = study.ask(distributions)
            point = point_coerce(space, trial.params)
            key = space.key(point)
            if key in seen:  # tried already: tell what it gave, ask again
                value = seen[key]
                if value is None:
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, value)
                continue
            if space.violation({**fixed, **point}) is not None:
                study.tell(trial, state=TrialState.FAIL)
                continue
            seen[key] = None
            attrs = study._storage.get_trial(trial._trial_id).system_attrs
            points.append(AskedPoint(point, dict(attrs) or None))
    return AskResult(points, len(points) < count)


def _frozen(
    past: PastTrial, distributions: dict[str, BaseDistribution]
) -> optuna.trial.FrozenTrial:
    params = {name: past.params[name] for name in distributions if name in past.params}
    if past.state == "complete" and past.value is not None and math.isfinite(past.value):
        state, value = TrialState.COMPLETE, float(past.value)
    elif past.state == "pending":
        state, value = TrialState.RUNNING, None
    else:
        state, value = TrialState.FAIL, None
    return optuna.trial.create_trial(
        state=state,
        value=value,
        params=params,
        distributions={name: distributions[name] for name in params},
        system_attrs=dict(past.sampler_attrs or {}),
    )
