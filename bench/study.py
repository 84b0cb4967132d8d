"""Parameter studies: speed against backtesting.py, overhead, scaling, memory and storage.

    .venv/bin/python bench/study.py [--random-trials 5000] [--skip-random] [--skip-peer]

On one symbol's year of one-minute bars (250 weekday sessions of 390 bars = 97,500 bars,
a seeded random walk, written as a real DBN file and ingested), the SMA crossover over fast
5..50 step 5 x slow 60..150 step 10 (100 points, all with fast < slow):

1. **vs backtesting.py**: our grid study on a real ``manage.py qcluster`` with 2 worker
   processes, end to end (created -> last trial stored), against ``Backtest.optimize`` of
   backtesting.py (installed into bench/.work/backtesting-venv as a peer, never a product
   dependency) on the same bars and grid, in the same run; both times and the ratio.
2. **overhead**: the study's wall time against the sum of its trials' engine time / 2
   (also against the sum of whole trial times, engine + metrics, / 2).
3. **scale**: the same study on a 1-worker cluster; 2 workers' speed-up over 1.
4. **memory and storage**: a random study of ``--random-trials`` trials on 2 workers: each
   worker's peak RSS (VmHWM) and its RSS as the study goes, and the growth of the SQLite
   files per trial (after a WAL checkpoint).

SQLite files with the ORM broker, in a temporary folder under bench/.work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import ROOT, django_setup, sqlite_env

WORK = ROOT / "bench" / ".work"
PEER_VENV = WORK / "backtesting-venv"
PEER_VERSION = "0.6.6"
SESSIONS, BARS_PER_SESSION = 250, 390
FIRST_DAY = dt.date(2024, 1, 1)
GRID = {
    "fast_period": {"min": 5, "max": 50, "step": 5},
    "slow_period": {"min": 60, "max": 150, "step": 10},
}
RANDOM_SPACE = {"fast_period": {"min": 5, "max": 100}, "slow_period": {"min": 10, "max": 500}}

PEER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        n1, n2 = 10, 20
        def init(self):
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)
        def next(self):
            if crossover(self.sma1, self.sma2):
                self.position.close(); self.buy(size=1)
            elif crossover(self.sma2, self.sma1):
                self.position.close(); self.sell(size=1)

    frame = pd.read_csv(sys.argv[1], index_col=0, parse_dates=True)
    bt = Backtest(frame, SmaCross, cash=1_000_000, commission=0.0, finalize_trades=True)
    started = time.perf_counter()
    stats = bt.optimize(n1=range(5, 51, 5), n2=range(60, 151, 10),
                        constraint=lambda p: p.n1 < p.n2, maximize="Equity Final [$]")
    seconds = time.perf_counter() - started
    best = [int(stats._strategy.n1), int(stats._strategy.n2)]
    print(json.dumps({"seconds": seconds, "best": best}))
    """
)


def session_bars(seed: int = 7):
    """250 weekday sessions of 390 one-minute bars from 2024-01-01, 14:30 UTC (numpy rows)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    days, day = [], FIRST_DAY
    while len(days) < SESSIONS:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    minutes = SESSIONS * BARS_PER_SESSION
    drift = 3e-4 * np.sin(2 * np.pi * np.arange(minutes) / 1700.0)
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0, 6e-4, minutes)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wiggle = np.abs(rng.normal(0, 2e-4, minutes)) * close
    ts = np.concatenate(
        [
            int(dt.datetime.combine(d, dt.time(14, 30), dt.UTC).timestamp()) * 10**9
            + np.arange(BARS_PER_SESSION, dtype=np.int64) * 60 * 10**9
            for d in days
        ]
    )
    high, low = np.maximum(open_, close) + wiggle, np.minimum(open_, close) - wiggle
    prices = [np.round(column * 100) / 100 for column in (open_, high, low, close)]
    volume = rng.integers(100, 10_000, minutes)
    return days, ts, prices, volume


def write_sessions(path: Path) -> tuple[int, Path]:
    """The sessions as a DBN file (ingested later) and a CSV table (for the peer)."""
    import databento_dbn
    import numpy as np
    import pandas as pd

    days, ts, (open_, high, low, close), volume = session_bars()
    record = np.dtype(
        [("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"), ("instrument_id", "<u4"),
         ("ts_event", "<u8"), ("open", "<i8"), ("high", "<i8"), ("low", "<i8"),
         ("close", "<i8"), ("volume", "<u8")]
    )  # fmt: skip
    rows = np.zeros(ts.size, dtype=record)
    rows["length"], rows["rtype"], rows["publisher_id"] = record.itemsize // 4, 33, 2
    rows["instrument_id"], rows["ts_event"] = 1001, ts
    for name, column in zip(
        ("open", "high", "low", "close"), (open_, high, low, close), strict=True
    ):
        rows[name] = np.round(column * 100).astype(np.int64) * 10_000_000
    rows["volume"] = volume

    class Interval:
        start_date, end_date, symbol = days[0], days[-1] + dt.timedelta(days=1), "1001"

    class Mapping:
        raw_symbol, intervals = "SYM0", [Interval()]

    metadata = databento_dbn.Metadata(
        dataset="XNAS.ITCH", start=int(ts[0]), end=int(ts[-1]) + 60 * 10**9,
        stype_in=databento_dbn.SType.RAW_SYMBOL, stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema("ohlcv-1m"), symbols=["SYM0"], mappings=[Mapping()],
    )  # fmt: skip
    with path.open("wb") as out:
        out.write(metadata.encode())
        out.write(rows.tobytes())
    frame = pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume},
        index=pd.to_datetime(ts, utc=True).tz_localize(None),
    )
    table = path.with_suffix(".csv")
    frame.to_csv(table)
    return ts.size, table


def ensure_peer() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEER_VENV} with backtesting=={PEER_VERSION} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"backtesting=={PEER_VERSION}"],
            check=True,
        )
    return python


def run_peer(python: Path, table: Path) -> dict:
    script = table.parent / "peer_optimize.py"
    script.write_text(PEER_SCRIPT)
    done = subprocess.run([str(python), str(script), str(table)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"backtesting.py failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Cluster:
    """A real ``manage.py qcluster`` with ``workers`` worker processes on the bench's files."""

    def __init__(self, env: dict, workers: int, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**os.environ, **env, "OST_MAX_CONCURRENT_RUNS": str(workers), "REDIS_URL": ""},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while "pushing tasks" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                sys.exit(f"the cluster did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(1.0)  # the workers finish their start-up checks

    def worker_pids(self) -> list[int]:
        from backtests.studies.models import Trial

        return sorted(
            {
                int(w.rpartition(":")[2])
                for w in Trial.objects.values_list("worker", flat=True).distinct()
                if w
            }
        )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def rss_mb(pid: int, key: str = "VmRSS") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_study(body: dict, *, watch_rss: bool = False) -> dict:
    """Create the study (its tasks go to the cluster), wait for it; times and figures."""
    from django.db.models import Max, Sum

    from backtests.studies.definition import study_definition_build
    from backtests.studies.models import Study, Trial
    from backtests.studies.services import study_create

    started_ns = time.time_ns()
    study = study_create(definition=study_definition_build(**body))
    samples: list[tuple[int, dict[int, float]]] = []
    peaks: dict[int, float] = {}
    while True:
        status = Study.objects.filter(pk=study.pk).values_list("status", flat=True).first()
        if status not in ("queued", "running"):
            break
        if watch_rss:
            done = Trial.objects.filter(
                study=study, status__in=("complete", "infeasible", "failed")
            ).count()
            pids = {
                int(w.rpartition(":")[2])
                for w in Trial.objects.filter(study=study)
                .exclude(worker="")
                .values_list("worker", flat=True)
                .distinct()
            }
            current = {pid: rss_mb(pid) for pid in pids}
            for pid in pids:
                peak = rss_mb(pid, "VmHWM")
                if peak is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), peak)
            samples.append((done, {p: v for p, v in current.items() if v is not None}))
        time.sleep(1.0 if watch_rss else 0.1)
    study.refresh_from_db()
    trials = Trial.objects.filter(study=study)
    figures = trials.aggregate(
        last=Max("ts_end"), engine=Sum("engine_seconds"), whole=Sum("seconds")
    )
    return {
        "study": study,
        "status": study.status,
        "trials": trials.count(),
        "wall": (figures["last"] - started_ns) / 1e9,
        "engine": figures["engine"] or 0.0,
        "whole": figures["whole"] or 0.0,
        "samples": samples,
        "peaks": peaks,
    }


def report_grid(results: dict) -> None:
    two, one = results[2], results[1]
    overhead = two["wall"] / (two["engine"] / 2) - 1
    overhead_whole = two["wall"] / (two["whole"] / 2) - 1
    print(
        f"overhead (2 workers): wall {two['wall']:.2f} s vs engine time / 2 = "
        f"{two['engine'] / 2:.2f} s -> {overhead:+.1%} (target <= 10 %); vs whole trial time "
        f"(engine + metrics) / 2 = {two['whole'] / 2:.2f} s -> {overhead_whole:+.1%}"
    )
    print(f"scale: 2 workers {one['wall'] / two['wall']:.2f}x one worker (target >= 1.8x)")


def database_bytes(workdir: Path) -> int:
    from django.db import connections

    for alias in ("default", "secmaster"):
        with connections[alias].cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(f.stat().st_size for f in workdir.glob("*.db*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-trials", type=int, default=5000)
    parser.add_argument("--skip-random", action="store_true")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-grid", action="store_true", help="only the random study")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="study-", dir=WORK))
    env = sqlite_env(workdir)
    env["OST_QUEUE_NAME"] = f"bench-study-{os.getpid()}"
    django_setup(env)
    from django.core.management import call_command

    from secmaster.models import Publisher
    from secmaster.services.ingest import ingest_databento_paths

    call_command("migrate", verbosity=0)
    call_command("migrate", database="secmaster", verbosity=0)
    bars, table = write_sessions(workdir / "sessions.dbn")
    ingest_databento_paths([workdir / "sessions.dbn"])
    publisher_id = Publisher.objects.get().publisher_id
    print(
        f"data: {bars:,} one-minute bars of one symbol ({SESSIONS} sessions x {BARS_PER_SESSION})"
    )
    base = {
        "strategy": "SMACrossover",
        "symbols": ["SYM0"],
        "rtype": 33,
        "publisher_id": publisher_id,
        "objective": "net_pnl",
        "batch_size": 4,
    }
    grid = {**base, "space": GRID, "sampler": "grid"}
    logs = workdir

    results = {}
    for workers in () if args.skip_grid else (2, 1):
        cluster = Cluster(env, workers, logs / f"qcluster-{workers}.log")
        try:
            results[workers] = run_study(grid)
        finally:
            cluster.stop()
        r = results[workers]
        print(
            f"grid study, {workers} worker(s): {r['trials']} trials {r['status']} in "
            f"{r['wall']:.2f} s (created -> last trial stored); trials' engine time "
            f"{r['engine']:.2f} s, whole trials {r['whole']:.2f} s"
        )
    if args.skip_grid:
        args.skip_peer = True
    else:
        report_grid(results)
    if not args.skip_peer:
        two = results[2]
        peer = run_peer(ensure_peer(), table)
        ratio = peer["seconds"] / two["wall"]
        print(
            f"backtesting.py {PEER_VERSION} Backtest.optimize, same bars and grid: "
            f"{peer['seconds']:.2f} s (best n1/n2 {peer['best']}); ours {two['wall']:.2f} s "
            f"-> {ratio:.1f}x faster (target >= 5x)"
        )

    if not args.skip_random:
        before = database_bytes(workdir)
        cluster = Cluster(env, 2, logs / "qcluster-random.log")
        try:
            body = {
                **base,
                "space": RANDOM_SPACE,
                "sampler": "random",
                "n_trials": args.random_trials,
                "seed": 1,
            }
            r = run_study(body, watch_rss=True)
        finally:
            cluster.stop()
        grown = database_bytes(workdir) - before
        print(
            f"random study: {r['trials']:,} trials {r['status']} in {r['wall']:.1f} s; database "
            f"grew {grown / 1e6:.1f} MB = {grown / max(1, r['trials']) / 1024:.1f} KB per trial "
            f"(target <= 20 KB)"
        )
        for pid, peak in sorted(r["peaks"].items()):
            series = [(done, rss[pid]) for done, rss in r["samples"] if pid in rss]
            marks = []
            for share in (0.1, 0.5, 0.9):
                target = share * r["trials"]
                near = min(series, key=lambda s: abs(s[0] - target)) if series else None
                if near:
                    marks.append(f"{near[1]:.0f} MB at {near[0]:,}")
            shown = ", ".join(marks)
            print(f"worker {pid}: peak RSS {peak:.0f} MB (target < 300 MB); RSS {shown} trials")
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
