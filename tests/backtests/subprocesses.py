"""Child processes for worker tests: point them at the test databases, start, wait, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

DEADLINE_SECONDS = 90


def wait_for(condition: Callable[[], Any], *, what: str, timeout: float = DEADLINE_SECONDS):
    """Poll ``condition`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"gave up after {timeout:g} s waiting for {what}")


def database_env() -> dict[str, str]:
    """Environment that points a child process at this test process's databases."""
    env: dict[str, str] = {}
    for alias, path_var, url_var in (
        ("default", "RUNS_DB_PATH", "DATABASE_URL"),
        ("secmaster", "SECMASTER_DB_PATH", "SECMASTER_DATABASE_URL"),
    ):
        db = connections[alias].settings_dict
        if db["ENGINE"].endswith("sqlite3"):
            env[path_var] = str(db["NAME"])
            env[url_var] = ""
        else:
            auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
            host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            env[url_var] = f"postgres://{auth}@{host}/{db['NAME']}"
    return env


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc; psutil is not installed)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def stop_process(process: subprocess.Popen, *, grace: float = 20) -> None:
    """SIGTERM, then SIGKILL the whole process group after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def start_manage(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
