"""Benchmark: backtest throughput and memory on a fresh, temporary SQLite setup.

    .venv/bin/python bench/backtest.py            # 10 symbols, >= 1,000,000 1-minute bars
    .venv/bin/python bench/backtest.py --quick    # 100k bars, for a smoke test
    .venv/bin/python bench/backtest.py --fills-only   # step 6 alone

Steps (each measured phase runs in its own process, so its peak RSS is its own):
1. a temporary security master + runs database, both migrated;
2. ~2,000,000 one-minute bars of 10 symbols written as a real DBN file (databento_dbn layout)
   and loaded through the ingest service;
3. SMACrossover(20/100) over the first ~1,000,000 bars with record=full and record=trades:
   bars/s, peak RSS (ru_maxrss);
4. the same full run under tracemalloc: peak of Python allocations;
5. record=full over all ~2,000,000 bars: peak RSS of the run's process plus that of its
   SQLite writer process must stay below 500 MB;
6. fill models (``_fills.py``): RSITrailingStop and BollingerReversion on 1-minute bars of 10
   symbols whose 1-second bars are stored too, ``intrabar`` against ``classic`` (record=trades,
   taking turns, best of 5 each): the time of each, their ratio (limit 1.5x) and how many
   bars were drilled into.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _fills
from _common import FIRST_DAY, ROOT, SYMBOL_COUNT, django_setup, sqlite_env, write_dbn

RSS_LIMIT_MB = 500
ACCOUNT_REPEAT = 7  # runs with and without the account (its cost is a few percent: noise matters)


def _django(workdir: Path) -> None:
    """Point both databases at ``workdir`` (before Django reads its settings) and set up."""
    django_setup(sqlite_env(workdir))


def _max_rss_mb(who: str = "self") -> float:
    """Peak RSS of this process, or of its largest finished child (the SQLite writer)."""
    import resource

    scope = resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN
    return resource.getrusage(scope).ru_maxrss / 1024  # KiB on Linux


# --- phase: setup ------------------------------------------------------------------------


def phase_setup(workdir: Path, minutes: int) -> dict:
    _django(workdir)
    from django.core.management import call_command

    from secmaster.models import Publisher
    from secmaster.services.ingest import ingest_databento_paths

    for alias in ("default", "secmaster"):
        call_command("migrate", database=alias, verbosity=0)
    started = time.perf_counter()
    path = workdir / "bench.ohlcv-1m.dbn"
    bars = write_dbn(path, minutes=minutes)
    written = time.perf_counter() - started
    summary = ingest_databento_paths([path])
    path.unlink()
    return {
        "bars": bars,
        "write_seconds": round(written, 2),
        "ingest_seconds": round(summary.elapsed_seconds, 2),
        "ingest_bars_per_second": round(summary.bars_per_second),
        "publisher_id": Publisher.objects.get().publisher_id,
    }


# --- phase: run --------------------------------------------------------------------------


def phase_run(
    workdir: Path, publisher_id: int, record: str, end: str, trace: bool, mark: bool = True
) -> dict:
    _django(workdir)
    if not mark:  # the cost of the account: the same run without marking bars to market
        from backtests.engine.orchestrator import Orchestrator

        Orchestrator._mark = lambda self, walk, start, end: None
    if trace:
        import tracemalloc

        tracemalloc.start()
    from backtests.services.backtest_spec import backtest_spec_build
    from backtests.services.runs import run_create, run_execute

    spec = backtest_spec_build(
        strategy="SMACrossover",
        strategy_params={"fast_period": 20, "slow_period": 100},
        symbols=[f"SYM{i}" for i in range(SYMBOL_COUNT)],
        rtype=33,
        publisher_id=publisher_id,
        start_date=FIRST_DAY.isoformat(),
        end_date=end,
        record=record,
    )
    run = run_create(spec=spec)
    started = time.perf_counter()
    run = run_execute(run_id=run.run_id)
    wall = time.perf_counter() - started
    result = {
        "status": run.status,
        "error": (run.metadata or {}).get("error"),
        "bars": run.metadata.get("bars"),
        "fills": run.metadata.get("fills"),
        "bars_per_second": run.metadata.get("bars_per_second"),
        "wall_bars_per_second": round(run.metadata.get("bars", 0) / wall),
        "wall_seconds": round(wall, 2),
        "max_rss_mb": round(_max_rss_mb(), 1),
        "writer_rss_mb": round(_max_rss_mb("children"), 1),
    }
    # Both peaks added: an upper bound on what the run held at once.
    result["total_rss_mb"] = round(result["max_rss_mb"] + result["writer_rss_mb"], 1)
    if trace:
        result["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    return result


# --- driver ------------------------------------------------------------------------------


def _child(workdir: Path, *args: str) -> dict:
    command = [sys.executable, __file__, "--child", str(workdir), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"phase {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k bars, no 2M check")
    parser.add_argument("--keep", action="store_true", help="keep the temporary databases")
    parser.add_argument("--fills-only", action="store_true", help="only the fill-model step")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workdir, phase, *rest = args.child
        if phase == "setup":
            out = phase_setup(Path(workdir), int(rest[0]))
        elif phase == "fills-setup":
            _django(Path(workdir))
            out = _fills.phase_fills_setup(Path(workdir), int(rest[0]))
        elif phase == "fills-run":
            _django(Path(workdir))
            out = _fills.phase_fills_run(int(rest[0]), rest[1], int(rest[2]))
        else:
            out = phase_run(
                Path(workdir),
                int(rest[0]),
                rest[1],
                rest[2],
                rest[3] == "trace",
                rest[3] != "nomark",
            )
        print(json.dumps(out))
        return

    run_days = 7 if args.quick else 70  # 10 symbols x 1440 bars a day
    total_days = run_days if args.quick else 140
    workdir = Path(tempfile.mkdtemp(prefix="ost-bench-"))
    end = (FIRST_DAY + dt.timedelta(days=run_days - 1)).isoformat()
    all_end = (FIRST_DAY + dt.timedelta(days=total_days - 1)).isoformat()
    try:
        print(f"workdir {workdir}")
        if args.fills_only:
            fills_ok = _fill_models(workdir, days=3 if args.quick else 10)
            if not fills_ok:
                sys.exit(1)
            return
        setup = _child(workdir, "setup", str(total_days * 1440))
        print(
            f"ingested {setup['bars']:,} bars of {SYMBOL_COUNT} symbols: DBN written in "
            f"{setup['write_seconds']} s, ingested in {setup['ingest_seconds']} s "
            f"({setup['ingest_bars_per_second']:,} bars/s)"
        )
        pid = str(setup["publisher_id"])
        for record in ("full", "trades"):
            r = _child(workdir, "run", pid, record, end, "plain")
            _check(r)
            print(
                f"SMACrossover 20/100 record={record:6s}: {r['bars']:,} bars, {r['fills']} fills, "
                f"{r['bars_per_second']:,.0f} bars/s (engine loop), "
                f"{r['wall_bars_per_second']:,} bars/s (whole run_execute), "
                f"peak RSS {r['max_rss_mb']} MB + writer process {r['writer_rss_mb']} MB"
            )
        # Taking turns, so a slower spell of a shared machine hits both alike.
        marked, unmarked = [], []
        for _ in range(ACCOUNT_REPEAT):
            marked.append(_child(workdir, "run", pid, "trades", end, "plain"))
            unmarked.append(_child(workdir, "run", pid, "trades", end, "nomark"))
        best = max(r["bars_per_second"] for r in marked)
        best_unmarked = max(r["bars_per_second"] for r in unmarked)
        print(
            f"cost of the account (marking to market, equity series), record=trades, "
            f"best of {ACCOUNT_REPEAT} each, taking turns: "
            f"{best_unmarked:,.0f} bars/s without -> {best:,.0f} bars/s with = "
            f"{(1 - best / best_unmarked) * 100:.1f} % slower (target <= 5 %)"
        )
        r = _child(workdir, "run", pid, "full", end, "trace")
        _check(r)
        print(
            f"record=full under tracemalloc: peak Python allocations "
            f"{r['tracemalloc_peak_mb']} MB, peak RSS {r['max_rss_mb']} MB"
        )
        if not args.quick:
            r = _child(workdir, "run", pid, "full", all_end, "plain")
            _check(r)
            verdict = "OK" if r["total_rss_mb"] < RSS_LIMIT_MB else "TOO HIGH"
            print(
                f"memory check, record=full over {r['bars']:,} bars: peak RSS "
                f"{r['max_rss_mb']} MB + writer process {r['writer_rss_mb']} MB = "
                f"{r['total_rss_mb']} MB (limit {RSS_LIMIT_MB} MB) {verdict}; "
                f"{r['wall_bars_per_second']:,} bars/s"
            )
            if r["total_rss_mb"] >= RSS_LIMIT_MB:
                sys.exit(1)
        if not _fill_models(workdir, days=3 if args.quick else 10):
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _fill_models(workdir: Path, *, days: int) -> bool:
    """Step 6: intrabar against classic with 1-second bars present; True within 1.5x."""
    setup = _child(workdir, "fills-setup", str(days))
    print(
        f"fill models: ingested {setup['minute_bars']:,} 1-minute and "
        f"{setup['second_bars']:,} 1-second bars of {_fills.FILL_SYMBOLS} symbols "
        f"({days} sessions) in {setup['ingest_seconds']} s"
    )
    runs = {}
    for strategy in _fills.STRATEGIES:
        r = _child(workdir, "fills-run", str(setup["publisher_id"]), strategy, str(_fills.REPEAT))
        _check(r)
        runs[strategy] = r
    return _fills.report(runs)


def _check(result: dict) -> None:
    if result["status"] != "completed":
        sys.exit(f"run ended {result['status']}: {result.get('error')}")


if __name__ == "__main__":
    main()
