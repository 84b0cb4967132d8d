"""Every route of the site refuses anonymous users, except the health probe and logins.

The routes are not listed by hand: the URL resolver is walked, so a route added later is
covered (and a new public route fails here until it is added to PUBLIC on purpose).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import resolve
from rest_framework.test import APIClient

from tests.security.routes import Route, all_routes

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

ROUTES = all_routes()
# Route text -> what an anonymous visitor gets (hand-written: the only public doors).
PUBLIC = {
    "health": (("get", 200),),
    "favicon.ico": (("get", 200),),  # browsers ask for it on the login page too
    "login/": (("get", 200), ("post", 200)),  # a failed login shows the form again
    "admin/login/": (("get", 200), ("post", 200)),
    "api/auth/token": (("post", 400),),  # trades a username and password for a token
}
API_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
PAGE_METHODS = ("get", "post")
GUARDED = [r for r in ROUTES if r.route not in PUBLIC]


def _to_login(response, route: Route) -> bool:
    """A redirect to the site's or the admin's login page that comes back to this URL."""
    next_part = f"?next={quote(route.url)}"
    logins = {f"/login/{next_part}", f"/admin/login/{next_part}"}
    return response.status_code == 302 and response["Location"] in logins


def test_walk_covers_every_route_once_and_samples_resolve_to_it():
    assert len({r.route for r in ROUTES}) == len(ROUTES)
    for route in ROUTES:
        assert resolve(route.url).func is route.view, route
    # The walk reaches each part of the site (guards against an empty or partial walk).
    seen = {r.route for r in ROUTES}
    assert {"health", "login/", "logout/", "backtest", "performance", "chart"} <= seen
    assert {"api/schema/", "api/runs/<str:run_id>/equity.png", "api/backtest/run"} <= seen
    assert {"admin/", "admin/authtoken/tokenproxy/add/", "admin/backtests/run/"} <= seen
    assert set(PUBLIC) <= seen


@pytest.mark.parametrize("route", [r for r in GUARDED if r.is_api], ids=lambda r: r.route)
def test_api_route_answers_anonymous_401_with_token_challenge(route):
    client = APIClient()
    for method in API_METHODS:
        response = getattr(client, method)(route.url)
        assert response.status_code == 401, (method, route.url)
        assert response["WWW-Authenticate"] == "Token", (method, route.url)


@pytest.mark.parametrize("route", [r for r in GUARDED if not r.is_api], ids=lambda r: r.route)
def test_page_and_admin_route_redirects_anonymous_to_login(route):
    client = Client()
    for method in PAGE_METHODS:
        response = getattr(client, method)(route.url)
        assert _to_login(response, route), (method, route.url, response.status_code)


@pytest.mark.parametrize("route", [r for r in GUARDED if r.is_admin], ids=lambda r: r.route)
def test_admin_route_redirects_logged_in_non_staff_user_to_admin_login(route, user):
    client = Client()
    client.force_login(user)
    response = client.get(route.url, follow=True)
    # admin/logout/ first sends a non-staff user to the admin index, which then redirects.
    assert response.redirect_chain, route.url
    assert response.redirect_chain[-1][0].startswith("/admin/login/?next=/admin/")
    assert response.status_code == 200
    assert b"You are authenticated as alice, but are not authorized" in response.content


@pytest.mark.parametrize("route", sorted(PUBLIC))
def test_public_route_answers_anonymous(route):
    url = next(r.url for r in ROUTES if r.route == route)
    for method, status in PUBLIC[route]:
        assert getattr(APIClient(), method)(url).status_code == status, (method, url)


def test_api_schema_needs_login(api_client):
    assert APIClient().get("/api/schema/").status_code == 401
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/backtest/run" in response.content
