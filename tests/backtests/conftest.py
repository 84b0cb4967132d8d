"""Fixtures for tests that run real django-q2 clusters (``manage.py qcluster`` subprocesses).

A worker gets the test databases' names through the same environment variables a deployment
uses (RUNS_DB_PATH / SECMASTER_DB_PATH, or DATABASE_URL / SECMASTER_DATABASE_URL on
PostgreSQL), so it reads and writes what the test process sees. ``broker_env`` runs a test on
the ORM queue in the default database and on Redis (a queue name of its own per test).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django_q.conf import Conf

from backtests.engine.registry import discover_user_code
from tests.backtests.subprocesses import database_env, start_manage, stop_process
from tests.backtests.worker_runs import REDIS_BASE_URL, write_strategies


@pytest.fixture(scope="module")
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
