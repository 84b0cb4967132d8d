"""Long writes on SQLite (issue 12 item 2): deletes in short chunks, reads that never take the
write lock, a busy database answered with 503 + Retry-After, a bounded WAL.

The write lock is held by a real second connection to the same database file (``BEGIN
IMMEDIATE`` through the sqlite3 module; a row lock on PostgreSQL), as a long write of another
process would hold it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.apps import apps
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backtests.models import EVENT_MODELS, Fill, RecordedBar, Run, RunStatus
from backtests.services import jobs
from backtests.services.run_purge import run_relations, runs_purge
from backtests.services.runs import runs_mark_deleted
from ostsite.database_busy import DATABASE_BUSY
from secmaster.models import SymbolPreset
from tests.backtests.run_rows import bar_rows, run_row, run_with_one_trade

DATABASES = ["default", "secmaster"]


def event_counts(run_id: str) -> dict[str, int]:
    return {m._meta.db_table: m.objects.filter(run_id=run_id).count() for m in EVENT_MODELS}


@contextlib.contextmanager
def write_lock_held(alias: str) -> Iterator[None]:
    """Another connection holds ``alias``'s write lock (SQLite) inside the block."""
    path = connections[alias].settings_dict["NAME"]
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


# --- deleting: mark at once, purge in chunks --------------------------------------------------


@pytest.mark.django_db(databases=DATABASES)
def test_runs_marked_deleted_are_hidden_from_lists_and_details_until_purged(
    api_client, admin_client
):
    run_with_one_trade("trade1")
    run_with_one_trade("trade2", ts_start=2)

    assert runs_mark_deleted(run_ids=["trade1", "nope"]) == ["trade1"]

    listed = [r["run_id"] for r in api_client.get("/api/runs").json()["runs"]]
    assert listed == ["trade2"]
    assert api_client.get("/api/runs/trade1").status_code == 404
    assert api_client.get("/api/runs/trade1/roundtrips").status_code == 404
    assert api_client.get("/api/backtest/status/trade1").status_code == 404
    changelist = admin_client.get("/admin/backtests/run/").content.decode()
    assert "trade2" in changelist and "trade1" not in changelist
    assert admin_client.get("/admin/backtests/run/trade1/change/").status_code in (302, 404)
    assert event_counts("trade1")["fills"] == 2  # not purged yet, only hidden

    assert runs_purge() == 1

    assert event_counts("trade1") == {table: 0 for table in event_counts("trade1")}
    assert not Run.all_objects.filter(run_id="trade1").exists()
    assert event_counts("trade2")["fills"] == 2


@pytest.mark.django_db(databases=DATABASES)
def test_runs_delete_removes_rows_in_transactions_of_at_most_the_chunk_size(
    api_client, user, settings
):
    settings.OST_RUNS_PURGE_CHUNK_ROWS = 4
    run = run_row("big", owner=user)
    bar_rows(run, "AAPL", [100.0 + i for i in range(10)])  # 10 bars: chunks of 4, 4, 2

    with CaptureQueriesContext(connections["default"]) as queries:
        response = api_client.delete("/api/runs", {"run_ids": ["big"]}, format="json")

    assert response.status_code == 200 and response.json() == {"deleted": 1}
    assert not RecordedBar.objects.filter(run_id="big").exists()
    bar_deletes = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "bars"')
    ]
    chunked = [d for d in bar_deletes if re.search(r"LIMIT 4\)$", d)]
    assert len(chunked) == 3  # 4 + 4 + 2 rows, each in a transaction of its own


def test_purge_covers_every_table_that_points_at_runs():
    # Found here by scanning every model's fields, independently of the purge's own lookup.
    pointing = {
        (model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if (field.many_to_one or field.one_to_one) and field.concrete and field.related_model is Run
    }
    assert {(r.related_model._meta.label, r.field.name) for r in run_relations()} == pointing
    assert ("backtests.Fill", "run") in pointing and ("backtests.Trial", "run") in pointing


# --- reads never take the write lock ------------------------------------------------------


@pytest.mark.backend("sqlite")
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_runs_list_answers_while_another_writer_holds_the_lock(api_client, monkeypatch):
    stale = run_row("stale", status=RunStatus.RUNNING, heartbeat_ns=1)  # dead worker
    run_row("done", ts_start=2)
    monkeypatch.setattr(jobs, "_next_check", 0.0)

    with write_lock_held("default"):
        started = time.monotonic()
        response = api_client.get("/api/runs")
        took = time.monotonic() - started

    assert response.status_code == 200
    assert {r["run_id"]: r["status"] for r in response.json()["runs"]} == {
        "stale": "running",  # could not be marked now: it is, on the next check
        "done": "completed",
    }
    assert took < 5  # not the 30 s busy timeout
    monkeypatch.setattr(jobs, "_next_check", 0.0)
    assert api_client.get("/api/runs/stale").json()["status"] == "failed"
    stale.refresh_from_db()
    assert stale.status == RunStatus.FAILED


@pytest.mark.backend("sqlite")
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_runs_list_without_stale_runs_reads_only(api_client, monkeypatch):
    run_row("live", status=RunStatus.RUNNING)  # heartbeat now
    monkeypatch.setattr(jobs, "_next_check", 0.0)

    with CaptureQueriesContext(connections["default"]) as queries:
        response = api_client.get("/api/runs")

    assert response.status_code == 200
    sql = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert not {"UPDATE", "INSERT", "DELETE", "BEGIN"} & set(sql), sql


# --- a writer that must wait: 503 with Retry-After -----------------------------------------


def short_busy_timeout(alias: str) -> None:
    """This process's connection gives up on a lock after 0.1 s (the site waits 30 s)."""
    connection = connections[alias]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout = 100")
        else:
            cursor.execute("SET lock_timeout = 100")


@contextlib.contextmanager
def preset_locked() -> Iterator[None]:
    """Another connection holds the lock a preset write needs."""
    connection = connections["secmaster"]
    if connection.vendor == "sqlite":
        with write_lock_held("secmaster"):
            yield
        return
    params = connection.get_connection_params()
    with psycopg.connect(**params) as other:
        other.execute("SELECT 1 FROM symbol_presets WHERE name = 'Tech' FOR UPDATE")
        yield
        other.rollback()


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_api_write_on_a_locked_database_answers_json_503_with_retry_after(api_client):
    assert (
        api_client.post(
            "/api/presets", {"name": "Tech", "symbols": ["AAPL"]}, format="json"
        ).status_code
        == 201
    )
    short_busy_timeout("secmaster")

    with preset_locked():
        response = api_client.put("/api/presets/Tech", {"symbols": ["MSFT"]}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": DATABASE_BUSY}
    assert SymbolPreset.objects.get(name="Tech").symbols == ["AAPL"]
    assert (
        api_client.put("/api/presets/Tech", {"symbols": ["MSFT"]}, format="json").status_code == 200
    )


@pytest.mark.backend("sqlite")
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_page_write_on_a_locked_database_answers_plain_503(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    short_busy_timeout("default")

    with write_lock_held("default"):
        response = client.post("/logout/")  # deletes the session row

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == DATABASE_BUSY


# --- the WAL stays bounded ----------------------------------------------------------------


@pytest.mark.backend("sqlite")
@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_wal_is_size_limited_and_truncated_after_a_delete(api_client, user, settings):
    settings.OST_RUNS_PURGE_CHUNK_ROWS = 500
    run = run_row("big", owner=user)
    bar_rows(run, "AAPL", [100.0 + (i % 50) for i in range(3000)])
    wal = connections["default"].settings_dict["NAME"] + "-wal"
    with connections["default"].cursor() as cursor:
        cursor.execute("PRAGMA journal_size_limit")
        assert cursor.fetchone()[0] == 64 * 1024 * 1024
    assert os.path.getsize(wal) > 0

    assert api_client.delete("/api/runs", {"run_ids": ["big"]}, format="json").json() == {
        "deleted": 1
    }

    assert os.path.getsize(wal) == 0
    assert not Fill.objects.filter(run_id="big").exists()
