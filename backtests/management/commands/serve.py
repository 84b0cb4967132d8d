"""``manage.py serve``: the web server and a task worker, together, until Ctrl-C.

Starts ``runserver`` and ``qcluster`` as two child processes (each in its own process group,
so a signal reaches the autoreloader's child too), forwards Ctrl-C / SIGTERM to both, and
stops the other one when either exits, saying which. Before the worker starts, runs left
``running`` by a dead worker are marked failed. The children die with serve even when it is
killed outright (SIGKILL on its death, Linux), and qcluster's own processes die with it.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests.cluster_processes import die_with_parent
from ostsite.manage_hint import manage_command

STOP_GRACE_SECONDS = 15.0
POLL_SECONDS = 0.2
LOGIN_HINT = "'{command}' shows or creates the local login"
PORT_INVALID = "--port must be between 1 and 65535, got {port}"
PORT_BUSY = (
    "cannot listen on {host}:{port}: {error}. Is the site running already? Stop it, or "
    "choose another port: make run PORT={other} (manage.py serve --port {other})"
)


def port_unavailable(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (e.g. "address already in use"), or None.

    Binds as runserver does (``SO_REUSEADDR``), so a port held only by connections closing
    (TIME_WAIT) counts as free and one another server listens on does not.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()
    return None


def _die_with(serve_pid: int) -> None:
    """In a child, before it starts: SIGKILL when serve dies; exit if it already has."""
    if die_with_parent() and os.getppid() != serve_pid:
        os._exit(1)


class Command(BaseCommand):
    help = "Serve the site (runserver) and run a django-q2 worker (qcluster) until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument(
            "--reload",
            action="store_true",
            help="Restart the web server when code changes (the worker is not reloaded).",
        )

    def handle(self, *args: Any, host: str, port: int, reload: bool, **options: Any) -> None:
        if not 1 <= port <= 65535:
            raise CommandError(PORT_INVALID.format(port=port))
        # Before anything starts: a second `make run` must not start a second worker on the
        # same databases only to have runserver fail on the busy port afterwards.
        busy = port_unavailable(host, port)
        if busy is not None:
            other = port + 1 if port < 65535 else port - 1
            raise CommandError(PORT_BUSY.format(host=host, port=port, error=busy, other=other))
        from backtests.services.jobs import runs_recover

        stale = runs_recover()
        if stale:
            self.stdout.write(f"Marked {stale} run(s) left running by a dead worker as failed.")

        manage = str(Path(settings.BASE_DIR) / "manage.py")
        web_cmd = [sys.executable, manage, "runserver", f"{host}:{port}"]
        if not reload:
            web_cmd.append("--noreload")
        children = {
            "runserver": self._start(web_cmd),
            "qcluster": self._start([sys.executable, manage, "qcluster"]),
        }
        shown_host = f"[{host}]" if ":" in host else host
        self.stdout.write(
            self.style.SUCCESS(f"Open http://{shown_host}:{port}/ in a browser and log in")
            + f" ({LOGIN_HINT.format(command=manage_command('ensure_local_user'))})."
            + f" Task workers: {settings.OST_MAX_CONCURRENT_RUNS}."
            + " Ctrl-C stops both."
        )
        self.stdout.flush()

        stop_requested: list[int] = []

        def request_stop(signum: int, frame: object) -> None:
            stop_requested.append(signum)

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            exit_code = self._supervise(children, stop_requested)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if exit_code:
            raise CommandError(f"stopped (exit code {exit_code})", returncode=exit_code)

    def _start(self, command: list[str]) -> subprocess.Popen:
        # Each child dies with serve, even when serve is killed with no chance to stop it.
        return subprocess.Popen(
            command, start_new_session=True, preexec_fn=functools.partial(_die_with, os.getpid())
        )

    def _supervise(self, children: dict[str, subprocess.Popen], stop_requested: list[int]) -> int:
        """Wait until a signal arrives or a child exits; stop the rest; the exit code."""
        exit_code = 0
        while True:
            if stop_requested:
                self.stdout.write("Stopping runserver and qcluster...")
                self._stop_all(children)
                return 0
            for name, process in children.items():
                code = process.poll()
                if code is not None:
                    others = [other for other in children if other != name]
                    self.stderr.write(
                        f"{name} exited with code {code}; stopping {', '.join(others)}."
                    )
                    self._stop_all(children)
                    exit_code = code or 1
                    return exit_code
            time.sleep(POLL_SECONDS)

    def _stop_all(self, children: dict[str, subprocess.Popen]) -> None:
        """SIGTERM to runserver's process group and to qcluster's sentinel (which stops its
        own workers once their current task ends); kill whatever still runs after the grace
        time, then fail the runs a killed worker left behind.

        SIGTERM rather than SIGINT: a process started in the background by a non-interactive
        shell inherits SIGINT as ignored, and runserver would then never stop.
        """
        for name, process in children.items():
            self._signal(process, signal.SIGTERM, group=name != "qcluster")
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        killed = False
        for name, process in children.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop within {STOP_GRACE_SECONDS:g} s; killed.")
                killed = True
            # Leftover group members (a busy worker, the reloader's child) go too.
            self._signal(process, signal.SIGKILL, group=True)
            process.wait()
        if killed:
            from backtests.services.jobs import runs_recover

            time.sleep(POLL_SECONDS)
            runs_recover()

    @staticmethod
    def _signal(process: subprocess.Popen, sig: int, *, group: bool) -> None:
        try:
            if group:
                os.killpg(process.pid, sig)
            elif process.poll() is None:
                process.send_signal(sig)
        except ProcessLookupError:
            pass
