"""Benchmark: every route of one big run answers in seconds, in bounded memory.

    .venv/bin/python bench/big_run.py                 # 40 symbols, 1,870,000 minute bars
    .venv/bin/python bench/big_run.py --bars 200000   # a smaller run, for a smoke test

Steps:
1. temporary SQLite databases; a DBN file of 40 symbols' one-minute bars, ingested;
2. a strategy that trades on most bars (``Churn``: a position flipped on every close that
   moves against it) executed with ``record=full`` in a child process: bars, fills, time, the
   time its results (round trips, metrics, equity) took to compute and store, peak RSS;
3. the site served by gunicorn with one sync worker; each route of the run requested once,
   in turn, with a token: its time, its answer's size, and the web worker's peak RSS
   (VmHWM) after it;
4. the peak RSS of the web worker over all routes.

The red-team figures this answers: each of round trips, metrics, equity.png,
trade-journey.png and pnl-summary.png took 32-52 s and 4.3-4.5 GB on a run of 1.87M bars
over 40 symbols with 716,785 fills.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import FIRST_DAY, ROOT, django_setup, sqlite_env, symbol_names, write_dbn

SYMBOLS = 40
CHURN = '''
from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class Churn(StrategyBase):
    """Long after an up close, short after a down close: a fill on about every other bar."""

    parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

    def on_bar(self, bar) -> None:
        previous = self.bar.close[-2]
        if previous != previous:  # NaN: the first bar
            return
        if bar.close > previous and self.position <= 0:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, 1 - self.position)
        elif bar.close < previous and self.position >= 0:
            self.submit_order(OrderType.MARKET, TradeSide.SELL, 1 + self.position)
'''


def _env(workdir: Path) -> dict[str, str]:
    env = sqlite_env(workdir)
    env["OST_STRATEGIES_DIR"] = str(workdir / "strategies")
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    env["DJANGO_DEBUG"] = "0"
    return env


def phase_setup(workdir: Path, bars: int) -> dict:
    django_setup(_env(workdir))
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from secmaster.models import Publisher
    from secmaster.services.ingest import ingest_databento_paths

    for alias in ("default", "secmaster"):
        call_command("migrate", database=alias, verbosity=0)
    path = workdir / "big.ohlcv-1m.dbn"
    written = write_dbn(path, minutes=bars // SYMBOLS, symbols=SYMBOLS)
    ingest_databento_paths([path])
    path.unlink()
    user = get_user_model().objects.create_user("bench", password=secrets.token_urlsafe(16))
    return {
        "bars": written,
        "publisher_id": Publisher.objects.get().publisher_id,
        "token": Token.objects.create(user=user).key,
    }


def phase_run(workdir: Path, publisher_id: int) -> dict:
    django_setup(_env(workdir))
    import resource

    from backtests.services.backtest_spec import backtest_spec_build
    from backtests.services.runs import run_create, run_execute

    spec = backtest_spec_build(
        strategy="Churn",
        strategy_params={},
        symbols=symbol_names(SYMBOLS),
        rtype=33,
        publisher_id=publisher_id,
        start_date=FIRST_DAY.isoformat(),
        record="full",
        commission_per_unit=0.005,
        minimum_commission=1.0,
    )
    run = run_create(spec=spec, name="big run")
    started = time.perf_counter()
    run = run_execute(run_id=run.run_id)
    wall = time.perf_counter() - started
    meta = run.metadata or {}
    return {
        "run_id": run.run_id,
        "status": run.status,
        "error": meta.get("error"),
        "bars": meta.get("bars"),
        "fills": meta.get("fills"),
        "trades": (meta.get("summary") or {}).get("trades"),
        "engine_seconds": meta.get("duration_seconds"),
        "results_seconds": meta.get("results_seconds"),
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _child(workdir: Path, *args: str) -> dict:
    command = [sys.executable, __file__, "--child", str(workdir), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"phase {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _get(port: int, path: str, token: str) -> tuple[int, int, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Token {token}"}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            size = 0
            while chunk := answer.read(1 << 20):
                size += len(chunk)
            status = answer.status
    except urllib.error.HTTPError as error:
        status, size = error.code, len(error.read())
    return status, size, time.perf_counter() - started


def serve_and_measure(workdir: Path, run: dict, token: str) -> int:
    port = _free_port()
    env = {**os.environ, **_env(workdir), "ALLOWED_HOSTS": "127.0.0.1"}
    log = (workdir / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "ostsite.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "900",
            "--no-control-socket",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    errors = 0
    try:
        for _ in range(200):
            try:
                if _get(port, "/health", token)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        (worker,) = _worker_pids(server.pid)
        print(f"web worker pid {worker}: {_peak_rss_mb(worker):,.0f} MB after start")
        run_id = run["run_id"]
        base = f"/api/runs/{run_id}"
        trades = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{port}{base}/roundtrips?limit=1&sort=pnl_after_commission",
                    headers={"Authorization": f"Token {token}"},
                )
            ).read()
        )["roundtrips"]
        chart = ""
        if trades:
            t = trades[0]
            chart = (
                f"{base}/chart.png?symbol={t['symbol']}&start_ns={t['entry_ts']}"
                f"&end_ns={t['exit_ts']}&direction={t['direction']}&pnl={t['pnl_after_commission']}"
            )
        routes = [
            ("runs list", "/api/runs"),
            ("metrics", f"{base}/metrics"),
            ("metrics ?symbol", f"{base}/metrics?symbol=SYM0"),
            ("round trips, all", f"{base}/roundtrips"),
            (
                "round trips, a sorted page",
                f"{base}/roundtrips?limit=100&sort=max_drawdown&order=desc",
            ),
            ("symbols", f"{base}/symbols"),
            ("equity.png", f"{base}/equity.png"),
            ("equity.png ?symbol", f"{base}/equity.png?symbol=SYM0"),
            ("trade-journey.png", f"{base}/trade-journey.png"),
            ("pnl-summary.png", f"{base}/pnl-summary.png"),
            ("chart.png (one trade)", chart),
        ]
        print(
            f"{'route':30s} {'status':>6s} {'seconds':>8s} {'answer':>12s} {'worker peak RSS':>16s}"
        )
        for name, path in routes:
            if not path:
                continue
            status, size, seconds = _get(port, path, token)
            errors += status != 200
            print(
                f"{name:30s} {status:>6d} {seconds:>8.2f} {size / 1e6:>10.2f} MB "
                f"{_peak_rss_mb(worker):>13,.0f} MB"
            )
        print(f"web worker peak RSS over all routes: {_peak_rss_mb(worker):,.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bars", type=int, default=1_870_000, help="bars over all symbols")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workdir, phase, *rest = args.child
        if phase == "setup":
            out = phase_setup(Path(workdir), int(rest[0]))
        else:
            out = phase_run(Path(workdir), int(rest[0]))
        print(json.dumps(out))
        return

    workdir = Path(tempfile.mkdtemp(prefix="ost-big-run-"))
    (workdir / "strategies").mkdir()
    (workdir / "strategies" / "churn.py").write_text(CHURN)
    try:
        print(f"workdir {workdir}")
        setup = _child(workdir, "setup", str(args.bars))
        print(f"ingested {setup['bars']:,} bars of {SYMBOLS} symbols")
        run = _child(workdir, "run", str(setup["publisher_id"]))
        if run["status"] != "completed":
            sys.exit(f"run ended {run['status']}: {run['error']}")
        print(
            f"run {run['run_id']}: {run['bars']:,} bars, {run['fills']:,} fills, "
            f"{run['trades']:,} round trips; engine {run['engine_seconds']} s, results "
            f"(round trips, metrics, equity) {run['results_seconds']} s, whole run "
            f"(recording and results included) {run['wall_seconds']} s, "
            f"peak RSS {run['peak_rss_mb']:,} MB"
        )
        errors = serve_and_measure(workdir, run, setup["token"])
        print(f"errors: {errors}")
        if errors:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
