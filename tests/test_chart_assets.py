"""The chart library comes from the npm registry through `make setup` and is served by
Django's staticfiles from node_modules/, never from a CDN, never committed here."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

LIBRARY = "vendor/lightweight-charts/lightweight-charts.standalone.production.js"
ROOT = Path(settings.BASE_DIR)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/chart", "/performance", "/compare"])
def test_chart_pages_load_the_library_from_this_site(api_client, path):
    html = api_client.get(path).content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert f"/static/{LIBRARY}" in scripts
    assert "/static/js/ichart.js" in scripts
    assert all(src.startswith("/static/") for src in scripts), scripts  # no CDN
    # the licence's attribution notice, with its link to TradingView
    assert "TradingView Lightweight Charts™" in html
    assert 'href="https://www.tradingview.com/"' in html


def test_library_is_found_in_node_modules_at_the_locked_version():
    found = Path(finders.find(LIBRARY))
    assert found.parent == ROOT / "node_modules" / "lightweight-charts" / "dist"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/lightweight-charts"]["version"]
    installed = json.loads((found.parent.parent / "package.json").read_text())["version"]
    assert (
        installed
        == locked
        == json.loads((ROOT / "package.json").read_text())["dependencies"]["lightweight-charts"]
    )


def test_node_modules_is_not_committed():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "node_modules/lightweight-charts/package.json"],
        cwd=ROOT,
        check=False,
    )
    assert ignored.returncode == 0
