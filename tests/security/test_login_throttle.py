"""Failed logins throttled per account and per address, on the token endpoint, the login page
and the admin's login (issue 12, item 7); tokens rotated and revoked by their user and on a
password change. The counts live in the site's shared cache: two web servers count together.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ostsite import login_throttle
from ostsite.login_throttle import LOGIN_THROTTLED, rate_parse
from tests.backtests.subprocesses import database_env, stop_process, wait_for

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

PASSWORD = "correct-horse-42"  # the `user` fixture's (alice)
WRONG = {"username": "alice", "password": "wrong"}
RIGHT = {"username": "alice", "password": PASSWORD}


@pytest.fixture
def rates(settings):
    """Small limits: 3 failures per account, 5 per address, within 15 minutes."""

    def set_rates(account: str = "3/15m", address: str = "5/15m") -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"login_account": account, "login_address": address},
        }

    set_rates()
    return set_rates


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand."""
    now = [1_000_000.0]
    monkeypatch.setattr(login_throttle._FailureWindow, "timer", lambda self: now[0])
    return now


def token_post(body: dict, address: str = "10.0.0.1", **headers: str):
    return APIClient().post("/api/auth/token", body, format="json", REMOTE_ADDR=address, **headers)


def assert_throttled(response, wait: int) -> None:
    assert response.status_code == 429, response.content
    assert response["Retry-After"] == str(wait)


def test_rates_read_count_and_window():
    assert rate_parse("10/15m") == (10, 900)
    assert rate_parse("50/h") == (50, 3600)
    assert rate_parse("3/30s") == (3, 30)
    assert rate_parse("1/2d") == (1, 172800)
    for bad in ("10", "10/15", "0/m", "10/0m", "x/m", "10/15w"):
        with pytest.raises(ValueError):
            rate_parse(bad)


def test_token_endpoint_refuses_an_account_after_ten_failures_with_the_defaults(user, clock):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "login_account": "10/15m",
        "login_address": "50/15m",
    }
    for attempt in range(10):
        clock[0] += 1
        assert token_post(WRONG).status_code == 400, attempt
    response = token_post(RIGHT)  # even the right password: the limit tells nothing
    # The oldest failure (at +1 s) leaves the 15-minute window 900 - 9 s after the last one.
    assert_throttled(response, 891)
    assert response.json() == {"error": LOGIN_THROTTLED.format(wait=891)}
    assert not Token.objects.exists()
    clock[0] += 891
    assert token_post(RIGHT).status_code == 200


def test_account_limit_holds_whatever_the_address_and_letter_case(user, rates, clock):
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert token_post({**WRONG, "username": "ALICE"}, address).status_code == 400
    assert_throttled(token_post(RIGHT, "10.9.9.9"), 900)
    # Another account from the same addresses is not held back by alice's failures.
    assert token_post({"username": "bob", "password": "x"}, "10.0.0.1").status_code == 400


def test_address_limit_holds_whatever_the_account(user, rates, clock):
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert token_post({"username": name, "password": "x"}).status_code == 400
    assert_throttled(token_post(RIGHT), 900)
    assert token_post(RIGHT, "10.0.0.2").status_code == 200  # another address


def test_forwarded_for_is_ignored_without_proxies_and_read_behind_one(user, rates, settings, clock):
    # Without a proxy, a client's own X-Forwarded-For must not give it fresh counts.
    for fake in ("1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"):
        token_post({"username": fake, "password": "x"}, HTTP_X_FORWARDED_FOR=fake)
    assert_throttled(token_post(RIGHT, HTTP_X_FORWARDED_FOR="6.6.6.6"), 900)

    # Behind one proxy the client is the address the proxy appended, whatever came before it.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = {"address": "127.0.0.1"}
    for n in range(5):
        token_post(
            {"username": f"v{n}", "password": "x"},
            **proxy,
            HTTP_X_FORWARDED_FOR=f"9.9.9.{n}, 203.0.113.7",
        )
    assert_throttled(token_post(RIGHT, **proxy, HTTP_X_FORWARDED_FOR="203.0.113.7"), 900)
    assert token_post(RIGHT, **proxy, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 200


def _form_login(client, path: str, username: str, password: str):
    client.get(path)
    token = client.cookies["csrftoken"].value
    return client.post(
        path,
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        REMOTE_ADDR="10.0.0.1",
    )


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_login_pages_are_throttled_with_the_same_counts(client, user, rates, clock, path):
    user.is_staff = True
    user.save()
    token_post(WRONG)  # a failure on the API counts for the pages too
    for _ in range(2):
        assert _form_login(client, path, "alice", "wrong").status_code == 200
    page = _form_login(client, path, "alice", PASSWORD)
    assert_throttled(page, 900)
    assert LOGIN_THROTTLED.format(wait=900) in page.content.decode()
    assert "_auth_user_id" not in client.session
    clock[0] += 900
    assert _form_login(client, path, "alice", PASSWORD).status_code == 302


# --- tokens ------------------------------------------------------------------------------------


def test_a_user_rotates_their_token_and_the_old_key_stops_working(user):
    old = token_post(RIGHT).json()["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    new = script.post("/api/auth/token/rotate").json()["token"]
    assert new != old
    assert script.get("/api/presets").status_code == 401
    script.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert script.get("/api/presets").status_code == 200
    assert token_post(RIGHT).json() == {"token": new}  # asking again gives the new one


def test_a_user_revokes_their_token(user):
    key = token_post(RIGHT).json()["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.delete("/api/auth/token").json() == {"revoked": 1}
    assert script.get("/api/presets").status_code == 401
    assert APIClient().delete("/api/auth/token").status_code == 401


def test_a_password_change_revokes_the_token(user, admin_client):
    key = token_post(RIGHT).json()["token"]
    user.set_password("a-new-horse-43")
    user.save()
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get("/api/presets").status_code == 401
    assert not Token.objects.exists()

    # The same through the admin's password form.
    key = token_post({"username": "alice", "password": "a-new-horse-43"}).json()["token"]
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "third-horse-44", "password2": "third-horse-44"},
    )
    assert response.status_code == 302
    assert not Token.objects.filter(key=key).exists()


def test_saving_a_user_without_a_password_change_keeps_the_token(user):
    key = token_post(RIGHT).json()["token"]
    user.first_name = "Alice"
    user.save()
    assert Token.objects.get(user=user).key == key


# --- the shared cache ------------------------------------------------------------------------


def _serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ostsite.wsgi:application"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _token(port: int, password: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"username": "alice", "password": password})
    connection.request("POST", "/api/auth/token", body, {"Content-Type": "application/json"})
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.django_db(databases=["default", "secmaster"], transaction=True)
@pytest.mark.parametrize("cache", ["files", "redis"])
def test_two_web_servers_count_failures_together(django_user_model, tmp_path, cache):
    import os

    from tests.backtests.test_serve_command import free_port, health_ok

    django_user_model.objects.create_user(username="alice", password=PASSWORD)
    env = {
        **os.environ,
        **database_env(),
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "OST_LOGIN_FAILURES_PER_ACCOUNT": "4/h",
        "OST_CACHE_DIR": str(tmp_path / "cache"),
        "REDIS_URL": "redis://127.0.0.1:6379/0" if cache == "redis" else "",
        "OST_QUEUE_NAME": f"ost-test-throttle-{os.getpid()}-{tmp_path.name}",
    }
    ports = [free_port(), free_port()]
    servers = [_serve(port, env, tmp_path / f"web-{port}.log") for port in ports]
    try:
        for port in ports:
            wait_for(lambda port=port: health_ok(port), what=f"web server on {port}")
        # Two failures on each server: four in all, the limit.
        assert [_token(ports[n % 2], "wrong") for n in range(4)] == [400] * 4
        assert [_token(port, PASSWORD) for port in ports] == [429, 429]
    finally:
        for server in servers:
            stop_process(server)
        if cache == "redis":
            import redis

            client = redis.from_url("redis://127.0.0.1:6379/0")
            keys = client.keys(f"{env['OST_QUEUE_NAME']}:*")
            if keys:
                client.delete(*keys)
