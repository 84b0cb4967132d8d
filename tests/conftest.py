"""Fixtures shared by the whole suite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings
from rest_framework.test import APIClient

ALL_DATABASES = ["default", "secmaster"]


def _sqlite_test_dirs() -> set[Path]:
    return {
        Path(db["TEST"]["NAME"]).parent
        for db in settings.DATABASES.values()
        if db["ENGINE"].endswith("sqlite3")
    }


# SQLite test databases are files in a per-process temporary folder (see settings).
for _folder in _sqlite_test_dirs():
    _folder.mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect tests marked ``backend(vendor)`` for a database of another vendor, and
    pure tests (no database) on any backend but SQLite, and worker tests on the other
    suite's broker (SQLite runs them with the ORM broker, PostgreSQL with Redis: the two
    deployments the README describes).

    Backend-specific code (SQLite's writer process, PostgreSQL's TRUNCATE) is tested where it
    runs; CI runs the suite on both backends, so nothing is hidden by a skip.
    """
    kept, deselected = [], []
    on_sqlite = connections["default"].vendor == "sqlite"
    suite_broker = "redis" if settings.REDIS_URL else "orm"
    for item in items:
        if item.get_closest_marker("pure") is not None or _pure_path(item):
            (kept if on_sqlite else deselected).append(item)
            continue
        callspec = getattr(item, "callspec", None)
        broker = callspec.params.get("broker_env") if callspec is not None else None
        if broker not in (None, suite_broker):  # each suite runs its deployment's broker
            deselected.append(item)
            continue
        marker = item.get_closest_marker("backend")
        if marker is None:
            kept.append(item)
            continue
        vendor = marker.args[0]
        database = marker.kwargs.get("database", "default")
        (kept if connections[database].vendor == vendor else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


# Tests of code that imports no Django and touches no database (the engine): the same on
# every backend, so they run once, in the SQLite suite. Modules elsewhere say it with
# ``pytestmark = pytest.mark.pure``.
PURE_FOLDERS = ("tests/backtests/engine/",)


def _pure_path(item) -> bool:
    path = str(item.path.relative_to(item.config.rootpath))
    return path.startswith(PURE_FOLDERS)


def pytest_sessionfinish(session, exitstatus) -> None:
    for folder in _sqlite_test_dirs():
        shutil.rmtree(folder, ignore_errors=True)
    _forget_redis_queue()


def _forget_redis_queue() -> None:
    """With the Redis broker, delete the tasks tests enqueued that no worker ever took."""
    if not settings.REDIS_URL:
        return
    import redis

    client = redis.from_url(settings.REDIS_URL)
    keys = client.keys(f"django_q:{settings.Q_CLUSTER['name']}:*")
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashing() -> Iterator[None]:
    """Users made by tests get cheap hashes (``tests.password_hashing``)."""
    with override_settings(PASSWORD_HASHERS=["tests.password_hashing.QuickPBKDF2PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def fresh_cache(settings, request) -> None:
    """Each test starts with an empty cache of its own (failed-login counts, cluster status),
    in memory: the site's shared cache (Redis, or files) would carry them from test to test,
    and clearing a Redis cache empties the whole Redis database."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{request.node.nodeid}",
        }
    }


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="correct-horse-42")


@pytest.fixture
def api_client(user) -> APIClient:
    """An API client logged in through the session, as the browser is."""
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()
