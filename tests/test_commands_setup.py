"""Setting up and running the site from a terminal: hints name the project's interpreter,
``serve`` checks its port before starting anything, the ingest progress bar ends at the
summary's count, and the summary's rate is of records."""

from __future__ import annotations

import io
import os
import re
import socket
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from ostsite.manage_hint import manage_command
from secmaster.management.commands.ingest_databento import TerminalProgress
from secmaster.services.ingest import NO_NEW_BARS
from tests.backtests.market_data import minute_bars
from tests.backtests.subprocesses import database_env, start_manage, stop_process
from tests.dbn_files import write_dbn

# "python manage.py" not preceded by a path: fails outside the virtual environment.
BARE_PYTHON = re.compile(r"(?<![/\w.])python3? manage\.py")
VENV_PYTHON = Path(sys.executable).relative_to(Path(settings.BASE_DIR))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_hint_names_the_interpreter_the_site_runs_with():
    # The suite runs with the project's .venv, as `make run` does.
    assert str(VENV_PYTHON) == ".venv/bin/python"
    assert manage_command("make_demo_data") == ".venv/bin/python manage.py make_demo_data"


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_empty_backtest_page_hints_commands_that_run(api_client):
    page = api_client.get("/backtest").content.decode()
    assert ".venv/bin/python manage.py ingest_databento PATH" in page
    assert ".venv/bin/python manage.py make_demo_data" in page
    assert not BARE_PYTHON.search(page)


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_ensure_local_user_hint_names_the_interpreter(tmp_path, monkeypatch, django_user_model):
    from secmaster.management.commands import ensure_local_user

    monkeypatch.setattr(ensure_local_user, "LOGIN_FILE", tmp_path / ".local_login")
    django_user_model.objects.create_user(username="someone", password="x" * 12)
    out = io.StringIO()
    call_command("ensure_local_user", stdout=out)
    assert ".venv/bin/python manage.py createsuperuser" in out.getvalue()
    assert not BARE_PYTHON.search(out.getvalue())


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_serve_on_a_busy_port_stops_before_starting_anything(tmp_path):
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        log = tmp_path / "serve.log"
        env = {**os.environ, **database_env(), "PYTHONUNBUFFERED": "1"}
        process = start_manage(["serve", "--port", str(port)], env, log)
        try:
            code = process.wait(timeout=60)
        finally:
            stop_process(process)
    output = log.read_text()
    assert code == 1, output
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in output
    assert f"make run PORT={port + 1}" in output
    # Nothing was started: no worker, no web server, no banner.
    assert "Q Cluster" not in output and "Open http" not in output


def test_ingest_progress_bar_ends_at_the_summarys_count():
    terminal = Terminal()
    bar = TerminalProgress(terminal, width=10)
    bar(10, 10, 243_056)  # the file's last bytes are read...
    bar(10, 10, 275_790)  # ...its last records follow: same permille, not redrawn
    bar.finish(275_790)
    final = terminal.getvalue().split("\r")[-1]
    assert final == "[##########] 100.0%  275,790 records\n"


@pytest.mark.django_db(transaction=True, databases=["default", "secmaster"])
def test_ingest_summary_rate_is_of_records_and_says_when_nothing_was_new(tmp_path):
    path = write_dbn(tmp_path / "a.dbn", bars=minute_bars(38, "2024-01-02T14:30", 1))
    first, again = io.StringIO(), io.StringIO()
    call_command("ingest_databento", str(path), stdout=first)
    call_command("ingest_databento", str(path), stdout=again)
    assert ", 1 new bars," in first.getvalue()
    assert first.getvalue().rstrip().endswith("records/s)")
    assert f"1 records, {NO_NEW_BARS}," in again.getvalue()
    assert "bars/s" not in again.getvalue()
