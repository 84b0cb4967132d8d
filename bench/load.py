"""Load benchmark: backtests in workers while clients hammer the read API, on SQLite and PostgreSQL.

    .venv/bin/python bench/load.py                          # both databases, 30 s each
    .venv/bin/python bench/load.py --database sqlite --seconds 10 --bars 100000

For each database (SQLite files in a temporary folder with the ORM broker; or two uniquely named
PostgreSQL databases on 127.0.0.1:5432 with a Redis broker and a queue name of its own):

1. migrate both databases, ingest generated one-minute bars of 10 symbols, create a user and its
   token, and execute one small run (record=full) for the clients to read;
2. serve the site with gunicorn (gthread workers) and start ``manage.py qcluster`` with
   ``OST_MAX_CONCURRENT_RUNS=2``, both as real child processes;
3. submit one SMA-crossover run over ``--bars`` bars through the API, alone on an idle system:
   its bars/s (measured by the worker around the engine run) is the baseline;
4. submit four such runs (record=full) and, at the same time, let ``--clients`` threads request
   the read routes (runs list, running list, round trips, metrics, the five PNG charts) for
   ``--seconds``; print per route and in total: requests, requests/s, p50/p99 latency, errors;
5. wait for the four runs; print each one's bars/s against the baseline, the aggregate rate,
   and how much of the hammering window had runs executing;
6. long writes (issue 12): submit two more runs (record=full) and, while they record and the
   clients go on reading, ingest a file of ``--ingest-bars`` new bars with ``manage.py
   ingest_databento`` and delete the five runs above through ``DELETE /api/runs`` (purged in
   chunks); print the ingest's and the delete's time, the reads during them, the two runs'
   outcome and (SQLite) the WAL files' sizes afterwards;
7. stop the server and the worker and search their logs for "database is locked",
   OperationalError, tracebacks and error lines.

Errors are: an HTTP status other than 200, a body that is not JSON / not a PNG, a client
exception, a run that does not complete, an ingest that fails, and any of those log lines.
The script ends with "errors: N" and exits 1 when N > 0.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _common import (
    FIRST_DAY,
    MINUTE_NS,
    MINUTES_PER_DAY,
    ROOT,
    SYMBOL_COUNT,
    django_setup,
    sqlite_env,
    symbol_names,
    write_dbn,
)

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
CONCURRENT_RUNS = 2
LOAD_RUNS = 4
READ_RUN_SYMBOLS = 4
READ_RUN_DAYS = 3
WINDOW_BARS = 200
REQUEST_TIMEOUT_SECONDS = 120
START_TIMEOUT_SECONDS = 60
RUN_TIMEOUT_SECONDS = 1800
STOP_GRACE_SECONDS = 20
POLL_SECONDS = 0.5
FINISHED = ("completed", "failed", "cancelled")
LOG_PATTERNS = (
    "database is locked",
    "OperationalError",
    "Traceback",
    "Internal Server Error",
    "WORKER TIMEOUT",
    "ERROR",
    "CRITICAL",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- one database leg: environment, setup, processes -----------------------------------------


@dataclass
class Leg:
    """One database backend under test: its settings environment and how to clean it up."""

    name: str
    workdir: Path
    env: dict[str, str]
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def cleanup(self) -> None:
        for step in reversed(self.cleanups):
            try:
                step()
            except Exception as exc:  # clean up the rest; say what was left behind
                print(f"  cleanup step failed: {type(exc).__name__}: {exc}")


def _common_env(workdir: Path) -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "OST_MAX_CONCURRENT_RUNS": str(CONCURRENT_RUNS),
        "OST_STRATEGIES_DIR": str(workdir / "no-user-strategies"),
        "OST_INDICATORS_DIR": str(workdir / "no-user-indicators"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


def sqlite_leg(workdir: Path) -> Leg:
    """SQLite files in ``workdir``; the task queue is the ORM broker in the runs database."""
    env = {**sqlite_env(workdir), **_common_env(workdir), "REDIS_URL": ""}
    return Leg("sqlite", workdir, env)


def postgres_leg(workdir: Path, redis_url: str) -> Leg:
    """Two fresh PostgreSQL databases and a Redis queue, all named for this process only."""
    import psycopg

    tag = f"ost_load_{os.getpid()}_{secrets.token_hex(3)}"
    names = (tag, f"{tag}_secmaster")
    leg = Leg(
        "postgres",
        workdir,
        {
            **_common_env(workdir),
            "DATABASE_URL": f"{POSTGRES_URL}/{names[0]}",
            "SECMASTER_DATABASE_URL": f"{POSTGRES_URL}/{names[1]}",
            "REDIS_URL": redis_url,
            "OST_QUEUE_NAME": tag.replace("_", "-"),
        },
    )
    leg.cleanups.append(lambda: _redis_forget(redis_url, leg.env["OST_QUEUE_NAME"]))
    try:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f'CREATE DATABASE "{name}"')
                leg.cleanups.append(lambda name=name: _postgres_drop(name))
    except Exception:
        leg.cleanup()
        raise
    return leg


def _postgres_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _redis_forget(url: str, queue: str) -> None:
    """Delete the queue and django-q2's status keys of this queue name."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)


@dataclass(frozen=True)
class Seeded:
    """What the setup child made: the credentials and the data the clients and runs use."""

    token: str
    publisher_id: int
    read_run_id: str
    ingested_bars: int


def child_setup(days: int, workdir: Path) -> dict[str, Any]:
    """(Runs in a child with the leg's environment.) Migrate, ingest, user, token, a read run."""
    django_setup({})
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from backtests.services.backtest_spec import backtest_spec_build
    from backtests.services.runs import run_create, run_execute
    from secmaster.models import Publisher
    from secmaster.services.ingest import ingest_databento_paths

    for alias in ("default", "secmaster"):
        call_command("migrate", database=alias, verbosity=0)
    path = workdir / "load.ohlcv-1m.dbn"
    bars = write_dbn(path, minutes=days * MINUTES_PER_DAY)
    ingest_databento_paths([path])
    path.unlink()
    user = get_user_model().objects.create_user("bench", password=secrets.token_urlsafe(16))
    publisher_id = Publisher.objects.get().publisher_id
    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 20, "slow_period": 100},
        symbols=symbol_names(READ_RUN_SYMBOLS),
        rtype=33,
        publisher_id=publisher_id,
        start_date=FIRST_DAY.isoformat(),
        end_date=(FIRST_DAY + dt.timedelta(days=READ_RUN_DAYS - 1)).isoformat(),
        record="full",
    )
    run = run_execute(run_id=run_create(spec=spec, name="read by the clients").run_id)
    if run.status != "completed":
        raise SystemExit(f"the read run ended {run.status}: {run.metadata}")
    return {
        "token": Token.objects.create(user=user).key,
        "publisher_id": publisher_id,
        "read_run_id": run.run_id,
        "ingested_bars": bars,
    }


def seed(leg: Leg, days: int) -> Seeded:
    """Run ``child_setup`` in a child process with the leg's environment."""
    command = [sys.executable, __file__, "--setup-child", str(days), str(leg.workdir)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=_full_env(leg))
    if done.returncode != 0:
        raise SystemExit(f"setup of {leg.name} failed:\n{done.stderr[-3000:]}")
    return Seeded(**json.loads(done.stdout.strip().splitlines()[-1]))


def _full_env(leg: Leg) -> dict[str, str]:
    return {**os.environ, **leg.env}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_process(command: list[str], leg: Leg, log: Path) -> subprocess.Popen:
    """A child in its own process group, stdout and stderr into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=_full_env(leg),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL its whole process group after a grace period."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def gunicorn_command(port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "ostsite.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        f"--timeout={REQUEST_TIMEOUT_SECONDS}",
        "--graceful-timeout=10",
        "--no-control-socket",  # its default path is shared by every gunicorn of this user
    ]


@contextlib.contextmanager
def site_running(
    leg: Leg, *, workers: int, threads: int
) -> Iterator[tuple[int, dict[str, subprocess.Popen]]]:
    """gunicorn and qcluster of this leg, running; yields the port and the processes."""
    port = _free_port()
    processes = {
        "gunicorn": start_process(
            gunicorn_command(port, workers, threads), leg, leg.workdir / "gunicorn.log"
        ),
        "qcluster": start_process(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            leg,
            leg.workdir / "qcluster.log",
        ),
    }
    try:
        yield port, processes
    finally:
        for process in processes.values():
            stop_process(process)


# --- HTTP client --------------------------------------------------------------------------------


class RequestFailed(Exception):
    """A request answered something other than a 200 with the expected body."""


@dataclass(frozen=True)
class Api:
    """Token-authenticated requests to the site, one connection per request."""

    port: int
    token: str

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_SECONDS)
        headers = {"Authorization": f"Token {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, content = self.request(method, path, body)
        if status != 200:
            raise RequestFailed(f"{method} {path}: HTTP {status}: {content[:300]!r}")
        return json.loads(content)


def wait_healthy(api: Api, processes: dict[str, subprocess.Popen], log_dir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                tail = (log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited ({process.returncode}):\n{tail}")
        with contextlib.suppress(OSError):
            if api.request("GET", "/health")[0] == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"the site did not answer /health within {START_TIMEOUT_SECONDS} s")


# --- runs through the API -----------------------------------------------------------------------


def run_body(publisher_id: int, days: int, fast_period: int, name: str) -> dict[str, Any]:
    """An SMA crossover over every symbol and ``days`` whole days, full recording."""
    return {
        "strategy": "SMACrossover",
        "strategy_params": {"fast_period": fast_period, "slow_period": 100},
        "symbols": symbol_names(),
        "rtype": 33,
        "publisher_id": publisher_id,
        "start_date": FIRST_DAY.isoformat(),
        "end_date": (FIRST_DAY + dt.timedelta(days=days - 1)).isoformat(),
        "record": "full",
        "name": name,
    }


def submit(api: Api, body: dict[str, Any]) -> str:
    return api.json("POST", "/api/backtest/run", body)["run_id"]


def wait_finished(api: Api, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Poll until every run is finished; their rows as the runs list shows them."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    pending = set(run_ids)
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"runs {sorted(pending)} unfinished after {RUN_TIMEOUT_SECONDS} s")
        for run_id in sorted(pending):
            if api.json("GET", f"/api/backtest/status/{run_id}")["status"] in FINISHED:
                pending.discard(run_id)
        if pending:
            time.sleep(POLL_SECONDS)
    listed = {run["run_id"]: run for run in api.json("GET", "/api/runs?limit=100")["runs"]}
    return {run_id: listed[run_id] for run_id in run_ids}


def execution_span_ns(run: dict[str, Any]) -> tuple[int, int]:
    """When the worker executed the run: its duration, ending at its end time."""
    duration_ns = int(run["metadata"]["duration_seconds"] * 1e9)
    return run["ts_end"] - duration_ns, run["ts_end"]


# --- the hammering clients ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    route: str
    seconds: float
    error: str | None  # None, "HTTP 500", "not a PNG", "ConnectionResetError", ...


def read_routes(api: Api, run_id: str) -> dict[str, str]:
    """Route name -> path of every read the clients make, about ``run_id``'s first trade."""
    trip = api.json("GET", f"/api/runs/{run_id}/roundtrips")["roundtrips"][0]
    base = f"/api/runs/{run_id}"
    trade = {
        "symbol": trip["symbol"],
        "start_ns": trip["entry_ts"],
        "end_ns": trip["exit_ts"],
        "direction": trip["direction"],
        "pnl": trip["pnl_after_commission"],
    }
    window = {
        "symbol": trip["symbol"],
        "start_ns": trip["entry_ts"],
        "end_ns": trip["entry_ts"] + WINDOW_BARS * MINUTE_NS,
    }
    return {
        "runs": "/api/runs?limit=50",
        "running": "/api/backtest/running",
        "roundtrips": f"{base}/roundtrips",
        "metrics": f"{base}/metrics",
        "chart.png": f"{base}/chart.png?{urlencode(trade)}",
        "window.png": f"{base}/window.png?{urlencode(window)}",
        "trade-journey.png": f"{base}/trade-journey.png",
        "pnl-summary.png": f"{base}/pnl-summary.png",
        "equity.png": f"{base}/equity.png",
    }


def _body_error(route: str, content: bytes) -> str | None:
    if route.endswith(".png"):
        return None if content.startswith(PNG_MAGIC) else "not a PNG"
    try:
        json.loads(content)
    except ValueError:
        return "not JSON"
    return None


def one_read(api: Api, route: str, path: str) -> Sample:
    started = time.perf_counter()
    try:
        status, content = api.request("GET", path)
        error = f"HTTP {status}" if status != 200 else _body_error(route, content)
    except Exception as exc:  # every failure is counted, none stops the client
        error = type(exc).__name__
    return Sample(route, time.perf_counter() - started, error)


def warm_up(api: Api, routes: dict[str, str], clients: int) -> list[Sample]:
    """Every client thread reads every route once, so each server thread has imported pandas
    and matplotlib and opened its connections before anything is measured."""
    samples: list[Sample] = []
    threads = [
        threading.Thread(
            target=lambda: samples.extend(one_read(api, *item) for item in routes.items())
        )
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def idle_latencies(api: Api, routes: dict[str, str]) -> dict[str, Sample]:
    """One request per route, one after the other, on the otherwise idle site."""
    return {route: one_read(api, route, path) for route, path in routes.items()}


def hammer(api: Api, routes: dict[str, str], clients: int, seconds: float) -> list[Sample]:
    """``clients`` threads cycling through ``routes`` (each from its own offset) until time."""
    deadline = time.monotonic() + seconds
    names = list(routes)
    results: list[list[Sample]] = [[] for _ in range(clients)]

    def client(index: int) -> None:
        step = index
        while time.monotonic() < deadline:
            route = names[step % len(names)]
            results[index].append(one_read(api, route, routes[route]))
            step += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [sample for samples in results for sample in samples]


# --- figures ------------------------------------------------------------------------------------


def percentile_ms(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (seconds), in milliseconds."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000


def print_reads(samples: list[Sample], idle: dict[str, Sample], elapsed: float) -> Counter[str]:
    """Per-route and total table (with each route's latency on the idle site); the errors."""
    print(
        f"  {'route':<18} {'idle ms':>7} {'requests':>8} {'req/s':>6} {'p50 ms':>7} "
        f"{'p99 ms':>7}  errors"
    )
    for route in [*idle, "total"]:
        mine = [s for s in samples if route in ("total", s.route)]
        errors = Counter(s.error for s in mine if s.error)
        shown = ", ".join(f"{kind} x{n}" for kind, n in errors.most_common()) or "0"
        latencies = [s.seconds for s in mine] or [0.0]
        p50, p99 = percentile_ms(latencies, 0.50), percentile_ms(latencies, 0.99)
        alone = f"{idle[route].seconds * 1000:.0f}" if route in idle else ""
        print(
            f"  {route:<18} {alone:>7} {len(mine):>8,} {len(mine) / elapsed:>6.1f} "
            f"{p50:>7.0f} {p99:>7.0f}  {shown}"
        )
    return Counter(s.error for s in [*samples, *idle.values()] if s.error)


def print_runs(
    runs: dict[str, dict[str, Any]], alone: float, window_ns: tuple[int, int]
) -> Counter[str]:
    """Each run's bars/s against the run alone, the aggregate and the overlap; run errors."""
    errors: Counter[str] = Counter()
    completed = [run for run in runs.values() if run["status"] == "completed"]
    for run_id, run in runs.items():
        if run["status"] != "completed":
            errors[f"run {run['status']}"] += 1
            print(f"  run {run_id}: {run['status']}: {run['metadata'].get('error')}")
            continue
        meta = run["metadata"]
        start, end = ((t - window_ns[0]) / 1e9 for t in execution_span_ns(run))
        print(
            f"  run {run_id} ({run['name']}): {meta['bars']:,} bars, {meta['fills']} fills, "
            f"executed at t={start:.1f}..{end:.1f} s: "
            f"{meta['bars_per_second']:>7,.0f} bars/s = {meta['bars_per_second'] / alone:.0%} "
            f"of the run alone"
        )
    if not completed:
        return errors
    spans = [execution_span_ns(run) for run in completed]
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    total_bars = sum(run["metadata"]["bars"] for run in completed)
    seconds = (last - first) / 1e9
    aggregate = total_bars / seconds
    print(
        f"  aggregate: {total_bars:,} bars in {seconds:.1f} s = {aggregate:,.0f} bars/s"
        f" on {CONCURRENT_RUNS} workers = {aggregate / alone:.0%} of one run alone"
    )
    busy = _covered_ns(spans, window_ns)
    window = window_ns[1] - window_ns[0]
    print(
        f"  runs were executing during {busy / 1e9:.1f} s of the {window / 1e9:.1f} s "
        f"hammering window ({busy / window:.0%})"
    )
    return errors


def _covered_ns(spans: list[tuple[int, int]], window: tuple[int, int]) -> int:
    """Length of the part of ``window`` covered by the union of ``spans``."""
    covered, cursor = 0, window[0]
    for start, end in sorted(spans):
        start, end = max(start, cursor), min(end, window[1])
        if end > start:
            covered += end - start
            cursor = end
    return covered


def log_problems(log_dir: Path, logs: tuple[str, ...] = ("gunicorn", "qcluster")) -> Counter[str]:
    """Lines of the server and worker logs matching ``LOG_PATTERNS``, counted per pattern."""
    found: Counter[str] = Counter()
    for name in logs:
        lines = (log_dir / f"{name}.log").read_text(errors="replace").splitlines()
        hits = [line for line in lines if any(p in line for p in LOG_PATTERNS)]
        for line in hits:
            found.update(f"{name} log: {p}" for p in LOG_PATTERNS if p in line)
        for line in hits[:5]:
            print(f"  {name}.log: {line[:200]}")
    print("  log check: " + (", ".join(f"{k} x{n}" for k, n in found.items()) or "clean"))
    return found


# --- one leg, end to end ------------------------------------------------------------------------


def run_leg(leg: Leg, args: argparse.Namespace) -> int:
    """Set up, measure the run alone, then runs + clients together; returns the error count."""
    days = max(1, math.ceil(args.bars / (SYMBOL_COUNT * MINUTES_PER_DAY)))
    started = time.perf_counter()
    seeded = seed(leg, days)
    print(
        f"  setup: {seeded.ingested_bars:,} bars ingested, read run {seeded.read_run_id}, "
        f"{time.perf_counter() - started:.1f} s"
    )
    with site_running(leg, workers=args.web_workers, threads=args.web_threads) as (port, procs):
        api = Api(port, seeded.token)
        wait_healthy(api, procs, leg.workdir)
        routes = read_routes(api, seeded.read_run_id)
        warm = warm_up(api, routes, args.clients)
        idle = idle_latencies(api, routes)

        alone_id = submit(api, run_body(seeded.publisher_id, days, 20, "alone"))
        alone = wait_finished(api, [alone_id])[alone_id]
        if alone["status"] != "completed":
            raise SystemExit(f"the single run ended {alone['status']}: {alone['metadata']}")
        alone_rate = alone["metadata"]["bars_per_second"]
        print(
            f"  single run alone: {alone['metadata']['bars']:,} bars in "
            f"{alone['metadata']['duration_seconds']:.1f} s = {alone_rate:,.0f} bars/s"
        )

        run_ids = [
            submit(api, run_body(seeded.publisher_id, days, fast, f"load fast={fast}"))
            for fast in (10, 20, 30, 40)[:LOAD_RUNS]
        ]
        window_start = time.time_ns()
        samples = hammer(api, routes, args.clients, args.seconds)
        window = (window_start, time.time_ns())
        elapsed = (window[1] - window[0]) / 1e9
        print(
            f"  reads by {args.clients} clients for {elapsed:.1f} s while "
            f"{LOAD_RUNS} runs were submitted:"
        )
        errors = print_reads(samples, idle, elapsed)
        errors.update(f"warm-up: {s.error}" for s in warm if s.error)
        runs = wait_finished(api, run_ids)
        errors += print_runs(runs, alone_rate, window)
        errors += long_writes(
            api, leg, routes, args, seeded.publisher_id, days, [alone_id, *run_ids]
        )
    errors += log_problems(leg.workdir)
    print(f"  {leg.name}: errors: {sum(errors.values())}")
    return sum(errors.values())


def long_writes(
    api: Api,
    leg: Leg,
    routes: dict[str, str],
    args: argparse.Namespace,
    publisher_id: int,
    days: int,
    doomed: list[str],
) -> Counter[str]:
    """Phase 6: a big ingest and a bulk delete while two runs record and clients read."""
    errors: Counter[str] = Counter()
    later = FIRST_DAY + dt.timedelta(days=days + 7)
    big = leg.workdir / "later.ohlcv-1m.dbn"
    new_bars = write_dbn(big, minutes=max(1, args.ingest_bars // SYMBOL_COUNT), first_day=later)
    recording = [
        submit(api, run_body(publisher_id, days, fast, f"recording {fast}")) for fast in (15, 25)
    ]
    reads: list[Sample] = []
    stop = threading.Event()

    def read_on() -> None:
        while not stop.is_set():
            reads.extend(hammer(api, routes, args.clients, 1.0))

    reader = threading.Thread(target=read_on)
    reader.start()
    try:
        started = time.perf_counter()
        ingest = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "ingest_databento", str(big)],
            cwd=ROOT,
            env=_full_env(leg),
            capture_output=True,
            text=True,
        )
        ingest_seconds = time.perf_counter() - started
        started = time.perf_counter()
        status, content = api.request("DELETE", "/api/runs", {"run_ids": doomed})
        delete_seconds = time.perf_counter() - started
        runs = wait_finished(api, recording)
    finally:
        stop.set()
        reader.join()
    if ingest.returncode != 0:
        errors["ingest failed"] += 1
        print(f"  ingest failed: {ingest.stdout[-500:]}{ingest.stderr[-1500:]}")
    print(
        f"  long writes: ingest of {new_bars:,} bars in {ingest_seconds:.1f} s"
        f" ({ingest.stdout.strip().splitlines()[-1][:120] if ingest.stdout.strip() else ''})"
    )
    if status != 200:
        errors[f"delete HTTP {status}"] += 1
    print(
        f"  long writes: DELETE /api/runs of {len(doomed)} runs: HTTP {status} {content[:80]!r}"
        f" in {delete_seconds:.1f} s"
    )
    latencies = [s.seconds for s in reads] or [0.0]
    read_errors = Counter(s.error for s in reads if s.error)
    print(
        f"  long writes: {len(reads):,} reads meanwhile, p50 {percentile_ms(latencies, 0.5):.0f}"
        f" ms, p99 {percentile_ms(latencies, 0.99):.0f} ms, max {max(latencies) * 1000:.0f} ms,"
        f" errors: {sum(read_errors.values())} {dict(read_errors) or ''}"
    )
    errors.update(f"long-writes read: {e}" for e in read_errors.elements())
    for run_id, run in runs.items():
        meta = run["metadata"]
        print(
            f"  long writes: recording run {run_id}: {run['status']}"
            f" ({meta.get('bars', 0):,} bars, {meta.get('rows_recorded', 0):,} rows)"
            + (f": {meta.get('error')}" if run["status"] != "completed" else "")
        )
        if run["status"] != "completed":
            errors[f"long-writes run {run['status']}"] += 1
    for name in ("runs.db-wal", "secmaster.db-wal"):
        wal = leg.workdir / name
        if wal.exists():
            print(f"  long writes: {name} after: {wal.stat().st_size / 2**20:.1f} MiB")
    return errors


def make_leg(name: str, workdir: Path, redis_url: str) -> Leg:
    workdir.mkdir()
    return sqlite_leg(workdir) if name == "sqlite" else postgres_leg(workdir, redis_url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=30, help="hammering time per database")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--bars", type=int, default=400_000, help="bars per run (whole days)")
    parser.add_argument(
        "--ingest-bars", type=int, default=1_000_000, help="bars of the long-writes ingest"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn process")
    parser.add_argument("--redis-url", default=REDIS_URL, help="broker of the PostgreSQL leg")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and logs")
    parser.add_argument("--setup-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup_child:
        print(json.dumps(child_setup(int(args.setup_child[0]), Path(args.setup_child[1]))))
        return 0

    names = ("sqlite", "postgres") if args.database == "both" else (args.database,)
    root = Path(tempfile.mkdtemp(prefix="ost-bench-load-"))
    print(
        f"load: {LOAD_RUNS} runs of ~{args.bars:,} bars on {CONCURRENT_RUNS} workers, "
        f"gunicorn {args.web_workers} x {args.web_threads} threads, {args.clients} clients, "
        f"{args.seconds:g} s; workdir {root}"
    )
    total = 0
    try:
        for name in names:
            print(f"== {name}")
            leg = make_leg(name, root / name, args.redis_url)
            try:
                total += run_leg(leg, args)
            finally:
                leg.cleanup()
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"errors: {total}")
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
