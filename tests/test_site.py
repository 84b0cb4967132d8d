"""Site-wide behaviour: health probe, login wall, database routing."""

from __future__ import annotations

import pytest
from django.db import connections

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


def test_health_anonymous_answers_ok(anon_client):
    response = anon_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_page_anonymous_redirects_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_renders_form(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_login_with_wrong_password_shows_error(client, user):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_login_with_right_password_redirects_to_backtest(client, user):
    response = client.post("/login/", {"username": "alice", "password": "correct-horse-42"})
    assert response.status_code == 302
    assert response["Location"] == "/backtest"


def test_secmaster_tables_live_only_in_secmaster_database():
    default_tables = connections["default"].introspection.table_names()
    secmaster_tables = connections["secmaster"].introspection.table_names()
    assert "ohlcv" in secmaster_tables and "ohlcv" not in default_tables
    assert "runs" in default_tables and "runs" not in secmaster_tables


@pytest.mark.parametrize("alias", ["default", "secmaster"])
def test_database_is_configured_for_web_and_workers_sharing_it(alias):
    connection = connections[alias]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # WAL lets readers (the web) run while a worker writes; the busy timeout makes
            # a second writer wait instead of failing with "database is locked".
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 30_000
        else:
            assert connection.vendor == "postgresql"
            cursor.execute("SHOW transaction_isolation")
            assert cursor.fetchone()[0] == "read committed"
