"""Authentication of the security master API: anonymous 401, token for scripts, session.

CSRF on session writes and the login wall over every route: tests/security/.
"""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from secmaster.models import SymbolPreset

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

ROUTES = [
    ("get", "/api/"),
    ("get", "/api/secmaster/publishers"),
    ("get", "/api/secmaster/publishers?rtype=33"),
    ("get", "/api/secmaster/publishers/databento/datasets"),
    ("get", "/api/secmaster/symbols_coverage?publisher_id=1&rtype=33"),
    ("get", "/api/presets"),
    ("post", "/api/presets"),
    ("get", "/api/presets/tech"),
    ("put", "/api/presets/tech"),
    ("delete", "/api/presets/tech"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_route_anonymous_answers_401_and_changes_nothing(anon_client, method, url):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"])
    body = {"name": "tech", "symbols": ["MSFT"]}
    response = getattr(anon_client, method)(url, body if method in {"post", "put"} else None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "error" in response.json()
    assert list(SymbolPreset.objects.values_list("name", "symbols")) == [("tech", ["AAPL"])]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_route_with_bad_token_answers_401(anon_client, method, url):
    anon_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert getattr(anon_client, method)(url).status_code == 401


def test_token_obtain_with_password_returns_stable_token(anon_client, user):
    credentials = {"username": "alice", "password": "correct-horse-42"}
    first = anon_client.post("/api/auth/token", credentials, format="json")
    assert first.status_code == 200
    token = first.json()["token"]
    assert token == Token.objects.get(user=user).key
    second = anon_client.post("/api/auth/token", credentials)  # form-encoded works too
    assert second.json() == {"token": token}


def test_token_obtain_wrong_password_answers_400(anon_client, user):
    response = anon_client.post(
        "/api/auth/token", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "error" in response.json()
    assert not Token.objects.exists()


def test_token_obtain_missing_fields_answers_400_naming_them(anon_client):
    response = anon_client.post("/api/auth/token", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"username", "password"}


def test_token_header_gives_access_without_session(anon_client, user):
    token = anon_client.post(
        "/api/auth/token", {"username": "alice", "password": "correct-horse-42"}, format="json"
    ).json()["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    created = script.post("/api/presets", {"name": "tech", "symbols": ["AAPL"]}, format="json")
    assert created.status_code == 201
    assert script.get("/api/presets").json() == {"presets": ["tech"]}
    assert script.get("/api/secmaster/publishers").json() == {"publishers": []}
    assert script.delete("/api/presets/tech").status_code == 200


def test_token_of_inactive_user_answers_401(user):
    token = Token.objects.create(user=user)
    user.is_active = False
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/presets").status_code == 401


def test_session_login_gives_access(client, user):
    assert client.login(username="alice", password="correct-horse-42")
    response = client.get("/api/presets")
    assert response.status_code == 200
    assert response.json() == {"presets": []}


def test_api_root_lists_routes_of_both_apps_as_links(api_client):
    response = api_client.get("/api/")
    assert response.status_code == 200
    body = response.json()
    base = "http://testserver"
    assert body["secmaster"]["GET, POST /api/presets"] == f"{base}/api/presets"
    assert body["secmaster"]["GET /api/secmaster/symbols_coverage"] == (
        f"{base}/api/secmaster/symbols_coverage"
    )
    assert body["backtests"]["GET, DELETE /api/runs"] == f"{base}/api/runs"
    assert body["backtests"]["POST /api/backtest/run"] == f"{base}/api/backtest/run"
    assert body["docs"] == {
        "swagger_ui": f"{base}/api/docs/",
        "redoc": f"{base}/api/redoc/",
        "schema": f"{base}/api/schema/",
    }
    assert body["secmaster"]["POST, DELETE /api/auth/token"] == f"{base}/api/auth/token"
    assert body["secmaster"]["POST /api/auth/token/rotate"] == f"{base}/api/auth/token/rotate"


def test_api_root_in_browser_renders_browsable_api(api_client):
    response = api_client.get("/api/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Django REST framework" in response.content


@pytest.mark.parametrize("url", ["/api/presets", "/api/presets/tech", "/api/secmaster/publishers"])
def test_route_options_and_head_answer_without_error(api_client, url):
    SymbolPreset.objects.create(name="tech", symbols=["AAPL"])
    assert api_client.options(url).status_code == 200
    assert api_client.head(url).status_code == 200
