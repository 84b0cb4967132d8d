"""Strategies: the base class, parameter specs and the built-in examples."""

from backtests.engine.strategies.base import OpenOrder, StrategyBase
from backtests.engine.strategies.params import ParamError, ParamSpec

__all__ = ["OpenOrder", "ParamError", "ParamSpec", "StrategyBase"]
