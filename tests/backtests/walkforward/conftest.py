"""Fixtures of the walk-forward tests: the studies' forty ingested sessions and a small
walk-forward body over them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backtests.studies.study_data import ingest_sessions


@pytest.fixture
def sessions(tmp_path) -> int:
    """Forty sessions of AAPL minute bars (30 a day), ingested; the publisher id."""
    return ingest_sessions(tmp_path)


@pytest.fixture
def walkforward_body(sessions) -> dict[str, Any]:
    """SMA crossover, a 3-point grid, rolling windows of 20 in-sample + 10 out-of-sample
    trading days over the 40 sessions: two windows."""
    return {
        "strategy": "SMACrossover",
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": sessions,
        "space": {"fast_period": {"values": [5, 10]}, "slow_period": {"values": [10, 20]}},
        "constraints": ["fast_period < slow_period"],
        "sampler": "grid",
        "objective": "net_pnl",
        "batch_size": 2,
        "mode": "rolling",
        "in_sample_days": 20,
        "out_of_sample_days": 10,
    }


@pytest.fixture(scope="session")
def strategies_dir(strategies_dir):
    """The worker tests' strategies folder (tests/backtests/conftest.py), plus ``Fragile``:
    the same folder as theirs, since a strategy module is registered once per process."""
    from tests.backtests.studies.strategies import write_study_strategies

    return write_study_strategies(strategies_dir)


@pytest.fixture
def fragile_walkforward(strategies_dir, settings, sessions) -> dict[str, Any]:
    """``Fragile`` (loaded here and, through the environment, in workers) over the first 20
    sessions: periods 1..4, 1 ms a bar, rolling 10 + 5 days: two windows of 4 trials."""
    from backtests.engine.registry import discover_user_code
    from tests.backtests.studies.study_data import session_days

    settings.OST_STRATEGIES_DIR = strategies_dir
    assert discover_user_code(strategies_dir=strategies_dir, indicators_dir=None) == []
    days = session_days()
    return {
        "strategy": "Fragile",
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": sessions,
        "start_date": days[0].isoformat(),
        "end_date": days[19].isoformat(),
        "strategy_params": {"sleep_ms": 1.0},
        "space": {"period": {"min": 1, "max": 4}},
        "sampler": "grid",
        "objective": "net_pnl",
        "batch_size": 1,
        "mode": "rolling",
        "in_sample_days": 10,
        "out_of_sample_days": 5,
    }
