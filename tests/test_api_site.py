"""The API as a newcomer meets it: the root links every route, Swagger UI and Redoc are served
from local files, unknown URLs answer JSON also in development, the browsable API's backtest
form starts from a body that runs, and the site has an icon."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import unquote, urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings
from django.urls import resolve

from ostsite.api_not_found import DID_YOU_MEAN, NO_SUCH_ROUTE
from secmaster.models import SymbolPreset
from tests.backtests.market_data import ingest_bars, minute_bars
from tests.backtests.run_rows import run_row
from tests.security.routes import all_routes

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

ICO_MAGIC = b"\x00\x00\x01\x00"


def api_route_texts() -> set[str]:
    """Every API route of the URLconf, as "/api/runs/{run_id}/metrics" (the root excluded)."""
    texts = set()
    for route in all_routes():
        if route.route.startswith("api/") and route.route != "api/":
            texts.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.route))
    return texts


def test_api_root_links_every_route_with_existing_ids(api_client):
    run_row("r1")
    SymbolPreset.objects.create(name="Tech majors/1", symbols=["AAPL"])
    body = api_client.get("/api/").json()
    listed = {}
    for group in ("secmaster", "backtests", "site"):
        for key, link in body[group].items():
            methods, path = key.split(" /", 1)
            listed["/" + path] = link
            assert methods and all(
                m in {"GET", "POST", "PUT", "DELETE"} for m in methods.split(", ")
            )
    assert set(listed) == api_route_texts()
    assert listed["/api/runs/{run_id}/metrics"] == "http://testserver/api/runs/r1/metrics"
    assert listed["/api/strategies/{strategy_id}"].startswith("http://testserver/api/strategies/")
    # An existing preset's name, quoted for a URL.
    assert listed["/api/presets/{name}"] == "http://testserver/api/presets/Tech%20majors%2F1"
    for link in listed.values():
        if "{" not in link:  # a parameter without any existing value stays a placeholder
            resolve(unquote(urlsplit(link).path))  # every link leads to a route


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_are_served_from_local_static_files(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("/static/drf_spectacular_sidecar/" in s for s in sources), sources
    assert [s for s in sources if s.startswith(("http:", "https:", "//"))] == []
    for source in sources:
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source


def test_api_docs_need_a_login(anon_client):
    for url in ("/api/docs/", "/api/redoc/"):
        assert anon_client.get(url).status_code == 401


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_url_is_json_also_in_development(api_client, debug):
    with override_settings(DEBUG=debug):
        response = api_client.get("/api/no-such-thing")
        slash = api_client.get("/api/runs/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": NO_SUCH_ROUTE.format(path="/api/no-such-thing")}
    assert slash.json() == {
        "error": NO_SUCH_ROUTE.format(path="/api/runs/") + DID_YOU_MEAN.format(path="/api/runs")
    }


def test_a_views_own_404_stays_its_own(api_client):
    response = api_client.get("/api/runs/nope/metrics", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")  # the browsable API's page
    assert b"Run not found: nope" in response.content


def test_browsable_backtest_form_starts_from_a_body_that_runs(api_client, tmp_path):
    bars = minute_bars(38, "2024-01-02T14:30", 150) + minute_bars(39, "2024-01-03T14:30", 150)
    mappings = {
        "AAPL": [("2024-01-02", "2024-01-04", 38)],
        "MSFT": [("2024-01-02", "2024-01-04", 39)],
    }
    publisher_id = ingest_bars(tmp_path, bars=bars, mappings=mappings)
    page = api_client.get("/api/backtest/run", HTTP_ACCEPT="text/html").content.decode()
    textarea = re.search(r'<textarea name="_content"[^>]*>(.*?)</textarea>', page, re.S)
    example = json.loads(html.unescape(textarea.group(1)))
    assert example["publisher_id"] == publisher_id
    assert example["symbols"] == ["AAPL", "MSFT"]
    assert (example["start_date"], example["end_date"]) == ("2024-01-02", "2024-01-03")
    assert example["strategy"] == "SMACrossover"
    checked = api_client.post("/api/backtest/validate", example, format="json")
    assert checked.status_code == 200, checked.json()
    assert checked.json()["notes"] == []


def test_favicon_needs_no_login_and_pages_link_the_icon(anon_client, api_client):
    response = anon_client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content.startswith(ICO_MAGIC)
    for url in ("/login/", "/admin/login/"):
        assert b'rel="icon" href="/static/favicon.svg"' in anon_client.get(url).content
    assert b'rel="icon" href="/static/favicon.svg"' in api_client.get("/backtest").content
    assert finders.find("favicon.svg")
