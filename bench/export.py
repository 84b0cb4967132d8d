"""Benchmark: exporting a run of a million fills streams it in bounded memory.

    .venv/bin/python bench/export.py                  # 1,000,000 fills, 500,000 round trips
    .venv/bin/python bench/export.py --fills 100000   # a smaller run, for a smoke test

Steps: temporary SQLite databases; a completed run with ``--fills`` fill rows and half as
many stored round trips written straight into its tables (no engine: only the export is
measured), its stored result row; then, each in a fresh child process, the fills table as
CSV and as Parquet and the whole export as a zip of Parquet, written to files: rows, seconds,
output size and the child's peak RSS (VmHWM), next to a child that only loads the run
(baseline). Memory bounded means the peak stays near the baseline whatever the fill count.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import django_setup, sqlite_env

RUN_ID = "bench-export"
BATCH = 50_000


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase_setup(workdir: Path, fills: int) -> None:
    django_setup(sqlite_env(workdir))
    import numpy as np
    from django.core.management import call_command

    from backtests.models import Fill, Run, RunStatus
    from backtests.results.codec import arrays_encode
    from backtests.results.models import RoundTrip, RunResult
    from backtests.results.services import ANALYSIS_VERSION

    for alias in ("default", "secmaster"):
        call_command("migrate", database=alias, verbosity=0)
    base = 1_704_186_000_000_000_000
    run = Run.objects.create(
        run_id=RUN_ID,
        name="bench export",
        ts_start=base,
        ts_end=base + 1,
        status=RunStatus.COMPLETED,
        config={"strategy": "SMACrossover", "symbols": ["AAPL", "MSFT"], "capital": 100_000},
        metadata={},
    )
    for start in range(0, fills, BATCH):
        Fill.objects.bulk_create(
            Fill(
                run=run,
                ts_event_ns=base + i * 60_000_000_000,
                ts_created_ns=base + i * 60_000_000_000,
                ts_broker_ns=base + i * 60_000_000_000,
                associated_order_id=f"O{i:08d}",
                broker_order_id=f"B{i:08d}",
                symbol="AAPL" if i % 2 else "MSFT",
                fill_id=f"F{i:08d}",
                side="BUY" if i % 4 < 2 else "SELL",
                quantity_filled=1.0,
                fill_price=100.0 + (i % 97) / 8,
                commission=0.35,
                exchange="SIMULATED",
            )
            for i in range(start, min(fills, start + BATCH))
        )
    trips = fills // 2
    fields = dict(
        symbol="AAPL", direction="LONG", duration_bars=2, max_position=1.0, high_watermark=1.0,
        low_watermark=-1.0, max_drawdown=1.0, pnl_before_commission=0.5,
        pnl_after_commission=-0.2, quantity=1.0, entry_price=100.0, exit_price=100.5,
        commission=0.7, n_fills=2,
    )  # fmt: skip
    for start in range(0, trips, BATCH):
        RoundTrip.objects.bulk_create(
            RoundTrip(run=run, number=n + 1, entry_ts=base + n, exit_ts=base + n + 1, **fields)
            for n in range(start, min(trips, start + BATCH))
        )
    ts = np.arange(20_000, dtype=np.int64) + base
    level = np.full(ts.size, 100_000.0)
    series = {"ts": ts, "last": level, "low": level, "high": level, "benchmark": level}
    RunResult.objects.create(
        run=run,
        version=ANALYSIS_VERSION,
        complete=True,
        metrics={"capital": 100_000.0, "net_pnl": 0.0, "per_symbol": {}, "notes": {}},
        series=arrays_encode({**series, "gross": level * 0}, capital=100_000.0),
        daily=arrays_encode(
            {"day": np.array([19724]), "equity": level[:1], "benchmark": level[:1]},
            capital=100_000.0,
        ),
        computed_ns=base,
    )


def phase_measure(workdir: Path, what: str) -> dict:
    django_setup(sqlite_env(workdir))
    from backtests.export.archive import export_zip_write, table_write
    from backtests.export.tables import EXPORT_TABLES
    from backtests.models import Run

    run = Run.objects.get(run_id=RUN_ID)
    out = workdir / f"out-{what}"
    started = time.perf_counter()
    rows = 0
    if what == "fills.csv" or what == "fills.parquet":
        with out.open("wb") as sink:
            rows = table_write(EXPORT_TABLES["fills"], run, what.split(".")[1], sink)
    elif what == "export.zip":
        with out.open("wb") as sink:
            rows = export_zip_write(run, export_format="parquet", sink=sink)["tables"]["fills"][
                "rows"
            ]
    seconds = time.perf_counter() - started
    size = out.stat().st_size if out.exists() else 0
    return {
        "what": what,
        "rows": rows,
        "seconds": seconds,
        "mib": size / 2**20,
        "rss": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        workdir = Path(args.workdir)
        if args.phase == "setup":
            phase_setup(workdir, args.fills)
        else:
            print(json.dumps(phase_measure(workdir, args.phase)))
        return
    workdir = Path(tempfile.mkdtemp(prefix="ost-bench-export-"))
    me = [sys.executable, __file__, "--workdir", str(workdir), "--fills", str(args.fills)]
    try:
        started = time.perf_counter()
        subprocess.run([*me, "--phase", "setup"], check=True)
        print(f"setup: {args.fills:,} fills, {args.fills // 2:,} round trips written in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        for what in ("baseline", "fills.csv", "fills.parquet", "export.zip"):
            out = subprocess.run([*me, "--phase", what], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['what']:>14}: {r['rows']:>10,} fill rows  {r['seconds']:6.1f} s  "
                  f"{r['mib']:7.1f} MiB out  peak RSS {r['rss']:6.0f} MiB")  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
