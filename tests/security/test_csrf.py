"""Writes made with a session cookie need the CSRF token; token-authenticated scripts don't.

Clients here enforce CSRF checks as a browser's cross-site request would meet them; the
token is the one the pages hand out in the ``csrftoken`` cookie (sent back as X-CSRFToken,
as static/js/api.js does) or in the forms' ``csrfmiddlewaretoken`` field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backtests.models import Run, RunStatus
from secmaster.models import SymbolPreset
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.run_rows import run_row

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

PASSWORD = "correct-horse-42"  # the `user` fixture's
FORGED = "A" * 32  # well-formed, but not this session's token


@pytest.fixture
def world(write, tmp_path, user) -> dict[str, Any]:
    """The user's preset, completed and running run, and bars when the write submits a
    backtest."""
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"], owner_id=user.pk)
    run_row("done1", owner=user)
    run_row("live1", status=RunStatus.RUNNING, owner=user)
    if write.body is not _backtest_body:
        return {}
    publisher_id = ingest_bars(
        tmp_path,
        bars=minute_bars(38, "2024-01-02T14:30", 120),
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]},
    )
    return {"publisher_id": publisher_id}


@dataclass(frozen=True)
class Write:
    """One state-changing API call, its answer when allowed, and how to see its effect."""

    name: str
    method: str
    url: str
    body: Callable[[dict], Any]
    allowed_status: int
    done: Callable[[], bool]


def _backtest_body(world: dict) -> dict:
    return {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": 5, "slow_period": 10},
        "symbols": ["AAPL"],
        "rtype": 33,
        "publisher_id": world["publisher_id"],
    }


WRITES = [
    Write(
        "create preset",
        "post",
        "/api/presets",
        lambda w: {"name": "energy", "symbols": ["AAPL"]},
        201,
        lambda: SymbolPreset.objects.filter(name="energy").exists(),
    ),
    Write(
        "update preset",
        "put",
        "/api/presets/tech",
        lambda w: {"name": "tech", "symbols": ["AAPL", "MSFT"]},
        200,
        lambda: SymbolPreset.objects.get(name="tech").symbols == ["AAPL", "MSFT"],
    ),
    Write(
        "delete preset",
        "delete",
        "/api/presets/tech",
        lambda w: None,
        200,
        lambda: not SymbolPreset.objects.filter(name="tech").exists(),
    ),
    Write(
        "submit backtest",
        "post",
        "/api/backtest/run",
        _backtest_body,
        200,
        lambda: Run.objects.filter(status=RunStatus.QUEUED).exists(),
    ),
    Write(
        "delete runs",
        "delete",
        "/api/runs",
        lambda w: {"run_ids": ["done1"]},
        200,
        lambda: not Run.objects.filter(run_id="done1").exists(),
    ),
    Write(
        "cancel run",
        "post",
        "/api/backtest/live1/cancel",
        lambda w: None,
        200,
        lambda: Run.objects.get(run_id="live1").status == RunStatus.CANCELLING,
    ),
    # No route takes PATCH: with the token it is 405, so the CSRF check came first.
    Write("patch preset", "patch", "/api/presets/tech", lambda w: {}, 405, lambda: True),
]


def _browser(user) -> tuple[APIClient, str]:
    """A logged-in browser session and the CSRF token a page gave it."""
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/backtest").status_code == 200  # sets the csrftoken cookie
    return browser, browser.cookies["csrftoken"].value


def _send(client: APIClient, write: Write, world: dict, **headers: str):
    return getattr(client, write.method)(write.url, write.body(world), format="json", **headers)


def _state() -> tuple:
    presets = tuple(SymbolPreset.objects.order_by("name").values_list("name", "symbols"))
    runs = tuple(Run.objects.order_by("run_id").values_list("run_id", "status"))
    return presets, runs


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_session_write_without_csrf_token_is_refused_and_changes_nothing(write, world, user):
    browser, _token = _browser(user)
    before = _state()
    response = _send(browser, write, world)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert _state() == before


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_session_write_with_forged_csrf_token_is_refused(write, world, user):
    browser, _token = _browser(user)
    before = _state()
    assert _send(browser, write, world, HTTP_X_CSRFTOKEN=FORGED).status_code == 403
    assert _state() == before


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_session_write_with_csrf_token_is_accepted(write, world, user):
    browser, token = _browser(user)
    response = _send(browser, write, world, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == write.allowed_status, response.content
    assert write.done()


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.name)
def test_token_authenticated_write_needs_no_csrf_token(write, world, user):
    script = APIClient(enforce_csrf_checks=True)
    script.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = _send(script, write, world)
    assert response.status_code == write.allowed_status, response.content
    assert write.done()


def _form_token(html: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1).decode()


def _logged_in(client) -> bool:
    return client.get("/backtest").status_code == 200


def test_login_form_without_csrf_token_is_refused(user):
    browser = APIClient(enforce_csrf_checks=True)
    response = browser.post("/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert not _logged_in(browser)


def test_login_form_with_its_csrf_token_logs_in(user):
    browser = APIClient(enforce_csrf_checks=True)
    token = _form_token(browser.get("/login/").content)
    credentials = {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token}
    response = browser.post("/login/", credentials)
    assert (response.status_code, response["Location"]) == (302, "/backtest")
    assert _logged_in(browser)


def test_logout_without_csrf_token_is_refused_and_keeps_the_session(user):
    browser, _token = _browser(user)
    assert browser.post("/logout/").status_code == 403
    assert _logged_in(browser)


def test_logout_with_csrf_token_ends_the_session(user):
    browser, _token = _browser(user)
    token = _form_token(browser.get("/backtest").content)  # the page's logout form
    response = browser.post("/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not _logged_in(browser)


def test_admin_form_without_csrf_token_is_refused(django_user_model):
    boss = django_user_model.objects.create_superuser(username="boss", password=PASSWORD)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(boss)
    body = {"name": "energy", "symbols": "AAPL"}
    assert browser.post("/admin/secmaster/symbolpreset/add/", body).status_code == 403
    assert not SymbolPreset.objects.exists()
