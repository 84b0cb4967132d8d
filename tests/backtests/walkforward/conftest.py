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
