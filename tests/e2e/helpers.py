"""Helpers of the browser tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

SCREENSHOTS = Path("/tmp/pages")
PASSWORD = "correct-horse-42"


def new_page(browser, live_server, *, width: int, height: int = 900, errors: list[str]):
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.base_url = live_server.url  # type: ignore[attr-defined]
    return page


def log_in(page, username: str) -> None:
    """Log in through the login form, as a person would."""
    page.goto(page.base_url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/backtest")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def worker_log(tmp_path: Path) -> str:
    path = tmp_path / "qcluster.log"
    return path.read_text() if path.exists() else ""


def wait_for(predicate, *, timeout: float, what: str, poll: float = 0.2):
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def this_process_worker_name() -> str:
    """A worker name whose process is alive (this one), so stale-run recovery leaves it."""
    return f"{socket.gethostname()}:{os.getpid()}"
