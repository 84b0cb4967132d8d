"""``manage.py serve``: a real web server and worker as child processes, and their stop."""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.backtests.subprocesses import (
    child_pids,
    database_env,
    start_manage,
    stop_process,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "secmaster"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture
def serve_env() -> dict[str, str]:
    return {
        **os.environ,
        **database_env(),
        "REDIS_URL": "",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }


@pytest.mark.worker
def test_serve_runs_site_and_worker_and_stops_both_on_sigterm(serve_env, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_manage(["serve", "--port", str(port)], serve_env, log)
    try:
        wait_for(lambda: health_ok(port), what="the site to answer /health")
        children = child_pids(process.pid)
        assert len(children) == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    finally:
        stop_process(process)
        print(log.read_text(errors="replace")[-3000:])
    output = log.read_text()
    assert f"Open http://127.0.0.1:{port}/" in output
    assert "did not stop within" not in output  # both stopped when asked, none was killed


@pytest.mark.worker
def test_serve_started_with_sigint_ignored_still_stops_on_sigint(serve_env, tmp_path):
    # A background job of a non-interactive shell inherits SIGINT as ignored; serve must
    # still stop its children promptly when it is interrupted.
    port = free_port()
    log = tmp_path / "serve.log"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process = start_manage(["serve", "--port", str(port)], serve_env, log)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        wait_for(lambda: health_ok(port), what="the site to answer /health")
        wait_for(lambda: len(child_pids(process.pid)) == 2, what="both children")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        stop_process(process)
    assert "did not stop within" not in log.read_text()


@pytest.mark.worker
def test_serve_exits_when_worker_dies_naming_it(serve_env, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_manage(["serve", "--port", str(port)], serve_env, log)
    try:
        wait_for(lambda: health_ok(port), what="the site to answer /health")
        wait_for(lambda: len(child_pids(process.pid)) == 2, what="both children")
        cluster = [
            pid
            for pid in child_pids(process.pid)
            if b"qcluster" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        os.kill(cluster[0], signal.SIGKILL)
        assert process.wait(timeout=60) != 0
        assert not health_ok(port)
    finally:
        stop_process(process)
        print(log.read_text(errors="replace")[-3000:])
    assert "qcluster exited with code" in log.read_text()


def test_serve_rejects_bad_port():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--port must be between 1 and 65535"):
        call_command("serve", "--port", "70000")


def _descendants(pid: int) -> set[int]:
    found, pending = set(), [pid]
    while pending:
        for child in child_pids(pending.pop()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.worker
def test_serve_killed_outright_takes_its_site_and_worker_with_it(serve_env, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_manage(["serve", "--port", str(port)], serve_env, log)
    try:
        wait_for(lambda: health_ok(port), what="the site to answer /health")
        # runserver, qcluster, its sentinel and the sentinel's worker, fetcher and monitor
        members = wait_for(
            lambda: found if len(found := _descendants(process.pid)) >= 6 else None,
            what="the site, the cluster and its processes",
        )
        os.kill(process.pid, signal.SIGKILL)  # no chance to stop its children
        process.wait()
        wait_for(lambda: not any(map(_alive, members)), what="every child of serve to die")
        assert not health_ok(port)
    finally:
        stop_process(process)
        print(log.read_text(errors="replace")[-3000:])
