"""Browser tests: the site on pytest-django's live server, driven by Debian's Chromium.

Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls from a
thread with a running loop unless told otherwise; the tests do call the ORM between browser
steps (on purpose: to check what the pages did), hence DJANGO_ALLOW_ASYNC_UNSAFE.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import PASSWORD, log_in, new_page

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BASE_DIR = Path(__file__).resolve().parents[2]
WORKER_READY_SECONDS = 60


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/install-browser (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught JavaScript errors of the pages a test opened (asserted empty by tests)."""
    return []


@pytest.fixture
def e2e_user(django_user_model):
    return django_user_model.objects.create_user(username="erin", password=PASSWORD)


@pytest.fixture
def desktop(browser, live_server, e2e_user, page_errors):
    page = new_page(browser, live_server, width=1280, errors=page_errors)
    log_in(page, e2e_user.username)
    yield page
    page.context.close()


@pytest.fixture
def phone(browser, live_server, e2e_user, page_errors):
    page = new_page(browser, live_server, width=375, height=812, errors=page_errors)
    log_in(page, e2e_user.username)
    yield page
    page.context.close()


def _database_env(alias: str, url_var: str, path_var: str) -> dict[str, str]:
    """Environment that points a subprocess at the test database of ``alias``."""
    from django.db import connections

    settings = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return {path_var: str(settings["NAME"]), url_var: ""}
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings.get("PASSWORD") else "")
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return {url_var: f"postgres://{auth}@{host}/{settings['NAME']}"}


@pytest.fixture
def worker(live_server, tmp_path) -> Iterator[subprocess.Popen]:
    """A real ``manage.py qcluster`` on the live server's test databases."""
    env = dict(os.environ)
    env.update(_database_env("default", "DATABASE_URL", "RUNS_DB_PATH"))
    env.update(_database_env("secmaster", "SECMASTER_DATABASE_URL", "SECMASTER_DB_PATH"))
    env["OST_MAX_CONCURRENT_RUNS"] = "1"
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = (tmp_path / "qcluster.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()


@pytest.fixture
def market(tmp_path) -> int:
    """Two symbols of one trading day of minute bars, ingested from a real DBN file."""
    from tests.backtests.market_data import ingest_bars, minute_bars

    bars = minute_bars(38, "2024-01-02T14:30", 390) + minute_bars(
        39, "2024-01-02T14:30", 390, base=200.0, step=0.8
    )
    mappings = {
        "AAPL": [("2024-01-02", "2024-01-03", 38)],
        "MSFT": [("2024-01-02", "2024-01-03", 39)],
    }
    return ingest_bars(tmp_path, bars=bars, mappings=mappings)
