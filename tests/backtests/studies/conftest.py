"""Fixtures of the study tests: ingested sessions and a valid study request body."""

from __future__ import annotations

from typing import Any

import pytest

from backtests.engine.registry import discover_user_code
from tests.backtests.studies.strategies import write_study_strategies
from tests.backtests.studies.study_data import ingest_sessions


@pytest.fixture(scope="session")
def strategies_dir(strategies_dir):
    """The worker tests' strategies folder (tests/backtests/conftest.py), plus ``Fragile``.

    The same folder, not a second one: a strategy module is registered once per process
    under its name, so two folders of the same files would clash in whichever ran second.
    """
    return write_study_strategies(strategies_dir)


@pytest.fixture
def fragile(strategies_dir, settings):
    """``Fragile`` loaded here (and, through the environment, in workers)."""
    settings.OST_STRATEGIES_DIR = strategies_dir
    assert discover_user_code(strategies_dir=strategies_dir, indicators_dir=None) == []
    return strategies_dir


@pytest.fixture
def sessions(tmp_path) -> int:
    """Forty sessions of AAPL minute bars, ingested; the publisher id."""
    return ingest_sessions(tmp_path)


@pytest.fixture
def study_body(sessions) -> dict[str, Any]:
    """A small SMA-crossover grid study over the sessions (12 points, 10 obey the rules)."""
    return {
        "strategy": "SMACrossover",
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": sessions,
        "space": {
            "fast_period": {"values": [5, 10, 15]},
            "slow_period": {"values": [10, 20, 30, 40]},
        },
        "constraints": ["slow_period - fast_period >= 5"],
        "sampler": "grid",
        "objective": "net_pnl",
        "batch_size": 2,
    }


@pytest.fixture
def fragile_body(sessions, fragile) -> dict[str, Any]:
    """A grid study of ``Fragile`` over period 1..6 (6 trials)."""
    return {
        "strategy": "Fragile",
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": sessions,
        "space": {"period": {"min": 1, "max": 6}},
        "sampler": "grid",
        "objective": "net_pnl",
        "batch_size": 2,
    }
