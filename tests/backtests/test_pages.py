"""The pages: login wall, the elements their scripts need, the CSRF cookie, static files."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

PAGES = {
    "/backtest": [
        'id="strategy"',
        'id="params"',
        'id="rtype"',
        'id="publisher"',
        'id="dataset"',
        'id="symbol-search"',
        'id="symbol-list"',
        'id="preset"',
        'id="preset-save"',
        'id="start_date"',
        'id="end_date"',
        'id="record"',
        'id="run-button"',
        'id="running"',
        'id="history"',
        'id="delete-runs"',
    ],
    "/performance": [
        'id="run"',
        'id="symbol"',
        'id="metrics"',
        'id="roundtrips"',
        'id="pnl-summary"',
        'id="journey"',
        'id="equity"',
        'id="trade-chart"',
    ],
    "/chart": [
        'id="run"',
        'id="symbol"',
        'id="window-bars"',
        'id="window-start"',
        'id="prev"',
        'id="next"',
        'id="chart"',
        'id="roundtrips"',
        'id="equity"',
    ],
}
SCRIPT_SRC = re.compile(r'<script src="/static/([^"]+)"')
STYLESHEET = re.compile(r'<link rel="stylesheet" href="/static/([^"]+)"')


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_anonymous_redirects_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_logged_in_renders_its_elements(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    missing = [needle for needle in PAGES[path] if needle not in html]
    assert missing == []
    assert f'aria-current="page">{path[1:].capitalize()}</a>' in html.replace(" >", ">")


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_logged_in_sets_csrf_cookie(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert "csrftoken" in response.cookies


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_static_files_exist(client, user, path):
    client.force_login(user)
    html = client.get(path).content.decode()
    referenced = SCRIPT_SRC.findall(html) + STYLESHEET.findall(html)
    assert "js/api.js" in referenced and f"js/{path[1:]}.js" in referenced
    assert [name for name in referenced if finders.find(name) is None] == []


@pytest.mark.parametrize("path", sorted(PAGES))
def test_page_has_no_inline_script_or_handler(client, user, path):
    client.force_login(user)
    html = client.get(path).content.decode()
    assert re.search(r"\son[a-z]+=", html) is None
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None


def test_backtest_page_lists_the_four_bar_periods(client, user):
    client.force_login(user)
    html = client.get("/backtest").content.decode()
    values = re.findall(r'<option value="(\d+)" data-period="(\w+)"', html)
    assert values == [("32", "SECOND"), ("33", "MINUTE"), ("34", "HOUR"), ("35", "DAY")]


def test_backtest_page_every_control_has_a_label(client, user):
    client.force_login(user)
    html = client.get("/backtest").content.decode()
    controls = re.findall(r'<(?:select|input)[^>]*\sid="([^"]+)"', html)
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    aria = set(re.findall(r'<input[^>]*id="([^"]+)"[^>]*aria-label=', html))
    assert [c for c in controls if c not in labelled | aria] == []


def test_root_redirects_to_backtest(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/backtest"
