"""Fixtures for tests that run real django-q2 clusters (``manage.py qcluster`` subprocesses).

A worker gets the test databases' names through the same environment variables a deployment
uses (RUNS_DB_PATH / SECMASTER_DB_PATH, or DATABASE_URL / SECMASTER_DATABASE_URL on
PostgreSQL), so it reads and writes what the test process sees. ``broker_env`` runs a test on
the ORM queue in the default database and on Redis (a queue name of its own per test); each
suite keeps its deployment's broker (tests/conftest.py: ORM on SQLite, Redis on PostgreSQL).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django_q.conf import Conf

from backtests.engine.registry import discover_user_code
from backtests.models import RunStatus
from backtests.services.backtest_spec import backtest_spec_from_mapping
from backtests.services.runs import run_create, run_execute
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.subprocesses import database_env, start_manage, stop_process
from tests.backtests.worker_runs import (
    REDIS_BASE_URL,
    TRADER_BARS,
    event_rows,
    submit,
    write_strategies,
)


@pytest.fixture(scope="session")
def strategies_dir(tmp_path_factory) -> Path:
    return write_strategies(tmp_path_factory.mktemp("strategies"))


@pytest.fixture
def slow_strategy(strategies_dir, settings) -> Path:
    """The slow strategies' folder, visible to this process and (via the env) to workers."""
    settings.OST_STRATEGIES_DIR = strategies_dir
    assert discover_user_code(strategies_dir=strategies_dir, indicators_dir=None) == []
    return strategies_dir


@pytest.fixture(params=["orm", "redis"])
def broker_env(request, monkeypatch) -> Iterator[dict[str, str]]:
    """The broker both processes use; for Redis, a queue named after this test alone."""
    if request.param == "orm":
        # Also when the suite itself runs on the Redis broker (REDIS_URL set).
        monkeypatch.setattr(Conf, "ORM", "default")
        monkeypatch.setattr(Conf, "REDIS", None)
        yield {"REDIS_URL": "", "OST_QUEUE_NAME": str(Conf.PREFIX)}
        return
    queue = f"ost-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    client = redis.from_url(REDIS_BASE_URL)

    def flush() -> None:
        keys = client.keys(f"django_q:{queue}:*")
        if keys:
            client.delete(*keys)

    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_BASE_URL)
    monkeypatch.setattr(Conf, "PREFIX", queue)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", queue)
    yield {"REDIS_URL": REDIS_BASE_URL, "OST_QUEUE_NAME": queue}
    flush()


@pytest.fixture
def worker_env(slow_strategy, broker_env) -> dict[str, str]:
    return {
        **os.environ,
        **database_env(),
        **broker_env,
        "OST_STRATEGIES_DIR": str(slow_strategy),
        "OST_MAX_CONCURRENT_RUNS": "1",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def start_cluster(
    transactional_db, worker_env, tmp_path
) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start real ``manage.py qcluster`` processes (``**env`` overrides ``worker_env``); all
    are stopped at teardown (before the database flush) and their logs' tails printed."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(**env: str) -> subprocess.Popen:
        log = tmp_path / f"qcluster-{len(started)}.log"
        process = start_manage(["qcluster"], {**worker_env, **env}, log)
        process.log_path = log  # type: ignore[attr-defined]
        started.append((process, log))
        return process

    try:
        yield start
    finally:
        for process, log in started:
            stop_process(process)
            print(f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:])


@pytest.fixture
def qcluster(start_cluster) -> subprocess.Popen:
    """One real ``manage.py qcluster`` with one worker."""
    return start_cluster()


class Trader:
    """Runs of ``SlowTrader`` over TRADER_BARS bars: submitted through the API, or executed
    here for reference (sleeping changes how long a run takes, never what it records)."""

    def __init__(self, api_client, publisher_id: int) -> None:
        self.api_client = api_client
        self.publisher_id = publisher_id
        self._reference: dict[str, list[tuple]] | None = None
        self.reference_run_id = ""

    def body(self, sleep_ms: float) -> dict[str, Any]:
        return {
            "strategy": "SlowTrader",
            "strategy_params": {"sleep_ms": sleep_ms},
            "symbols": ["AAPL"],
            "rtype": 33,
            "publisher_id": self.publisher_id,
            "record": "full",
        }

    def submit(self, *, sleep_ms: float) -> str:
        return submit(self.api_client, **self.body(sleep_ms))

    def reference_rows(self) -> dict[str, list[tuple]]:
        """The event rows of the same run executed in this process, without a queue."""
        if self._reference is None:
            run = run_create(spec=backtest_spec_from_mapping(self.body(0.0)))
            assert run_execute(run_id=run.run_id).status == RunStatus.COMPLETED
            self._reference = event_rows(run.run_id)
            self.reference_run_id = run.run_id
        return self._reference


@pytest.fixture
def trader(api_client, tmp_path, slow_strategy) -> Trader:
    publisher_id = ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T00:00", TRADER_BARS),
        mappings={"AAPL": [("2024-01-02", "2024-01-10", 38)]},
        name="trader",
    )
    return Trader(api_client, publisher_id)
