"""Walk-forward studies: the machinery's overhead over the studies it runs, and PBO's time.

    .venv/bin/python bench/walkforward.py --small     # 60 sessions, 25-point grid (~1 min)
    .venv/bin/python bench/walkforward.py             # 250 sessions, 100-point grid

On one symbol's one-minute bars (``bench/study.py``'s seeded sessions: 250 weekday sessions of
390 bars = 97,500 bars, written as a real DBN file and ingested), the SMA crossover over
fast 5..50 step 5 x slow 60..150 step 10 (100 points), 8 rolling windows (50 in-sample + 25
out-of-sample trading days; --small: 60 sessions, 20 + 5 days, fast 5..25 x slow 60..100,
25 points):

1. the walk-forward on a real ``manage.py qcluster`` with 2 workers, created -> completed
   (windows' studies in parallel over the workers, then each out-of-sample run);
2. ``run_walkforward --jobs 2`` (local processes, one window after another);
3. the same 8 in-sample studies one after another through ``run_study --jobs 2``;

and prints 1 / 3 and 2 / 3 (each ``--repeat`` times, 2. and 3. alternated, medians; target:
overhead <= 10 %, i.e. ratio <= 1.10), then the time of PBO by CSCV for 1,000 trials x 250
days, S = 16 (target <= 2 s; ``bench/overfitting.py`` measures it in more detail). SQLite
files and the ORM broker, in a folder under bench/.work.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import study as study_bench
from _common import django_setup, sqlite_env

WINDOWS = 8
FULL = {
    "sessions": 250,
    "in_sample": 50,
    "out_of_sample": 25,
    "grid": ["fast_period=5:50:5", "slow_period=60:150:10"],
}
SMALL = {
    "sessions": 60,
    "in_sample": 20,
    "out_of_sample": 5,
    "grid": ["fast_period=5:25:5", "slow_period=60:100:10"],
}
TARGET_RATIO = 1.10
TARGET_PBO_SECONDS = 2.0


def common_args(publisher_id: int, grid: list[str]) -> list[str]:
    args = ["--strategy", "SMACrossover", "--symbols", "SYM0", "--bar-period", "MINUTE"]
    args += ["--publisher-id", str(publisher_id), "--objective", "net_pnl", "--batch-size", "4"]
    for entry in grid:
        args += ["--space", entry]
    return args


def on_cluster(env: dict, workdir: Path, body: dict, repeat: int) -> tuple[list[float], object]:
    """The walk-forward on a 2-worker cluster ``repeat`` times: seconds from create to
    completed, each."""
    from backtests.walkforward.definition import walkforward_definition_build
    from backtests.walkforward.models import WalkForward
    from backtests.walkforward.services import walkforward_create

    cluster = study_bench.Cluster(env, 2, workdir / "qcluster-walkforward.log")
    times = []
    try:
        for _ in range(repeat):
            definition = walkforward_definition_build(**body)
            started = time.perf_counter()
            walkforward = walkforward_create(definition=definition)
            while True:
                status = WalkForward.objects.filter(pk=walkforward.pk).values_list(
                    "status", flat=True
                )
                if status[0] not in ("queued", "running"):
                    break
                time.sleep(0.1)
            times.append(time.perf_counter() - started)
    finally:
        cluster.stop()
    walkforward.refresh_from_db()
    return times, walkforward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="60 sessions, 25-point grid")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of 2. and 3. (median)")
    args = parser.parse_args()
    size = SMALL if args.small else FULL
    study_bench.SESSIONS = size["sessions"]

    study_bench.WORK.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="walkforward-", dir=study_bench.WORK))
    env = sqlite_env(workdir)
    env["OST_QUEUE_NAME"] = f"bench-walkforward-{os.getpid()}"
    django_setup(env)
    from django.core.management import call_command

    from backtests.management.commands.run_study import _space
    from backtests.walkforward.models import WalkForward
    from secmaster.models import Publisher
    from secmaster.services.ingest import ingest_databento_paths

    call_command("migrate", verbosity=0)
    call_command("migrate", database="secmaster", verbosity=0)
    bars, _ = study_bench.write_sessions(workdir / "sessions.dbn")
    ingest_databento_paths([workdir / "sessions.dbn"])
    publisher_id = Publisher.objects.get().publisher_id
    base = common_args(publisher_id, size["grid"])
    windows = ["--mode", "rolling", "--in-sample-days", str(size["in_sample"])]
    windows += ["--out-of-sample-days", str(size["out_of_sample"])]
    print(
        f"data: {bars:,} one-minute bars of one symbol ({size['sessions']} sessions x "
        f"{study_bench.BARS_PER_SESSION}); {WINDOWS} rolling windows of {size['in_sample']} + "
        f"{size['out_of_sample']} trading days; grid {' x '.join(size['grid'])}"
    )

    body = {
        "strategy": "SMACrossover",
        "symbols": ["SYM0"],
        "rtype": 33,
        "publisher_id": publisher_id,
        "space": _space(size["grid"]),
        "objective": "net_pnl",
        "batch_size": 4,
        "mode": "rolling",
        "in_sample_days": size["in_sample"],
        "out_of_sample_days": size["out_of_sample"],
    }
    cluster_times, walkforward = on_cluster(env, workdir, body, args.repeat)
    cluster_seconds = statistics.median(cluster_times)
    laid = list(walkforward.windows.order_by("index"))
    assert len(laid) == WINDOWS, f"{len(laid)} windows laid, expected {WINDOWS}"
    trials = sum(w.study.n_trials for w in laid)
    print(
        f"1. walk-forward on a 2-worker cluster: {walkforward.status}, median "
        f"{cluster_seconds:.2f} s ({', '.join(f'{t:.2f}' for t in cluster_times)}; "
        f"{trials:,} in-sample trials + {WINDOWS} out-of-sample runs)"
    )

    local_times: list[float] = []
    studies_times: list[float] = []
    for _ in range(args.repeat):  # alternated, so that a busy spell hits both alike
        started = time.perf_counter()
        call_command("run_walkforward", *base, *windows, "--jobs", "2", stdout=io.StringIO())
        local_times.append(time.perf_counter() - started)
        local = WalkForward.objects.order_by("-ts_created").first()
        assert local.status == "completed", local.error
        started = time.perf_counter()
        for window in laid:
            call_command(
                "run_study",
                *base,
                "--start",
                window.is_start.isoformat(),
                "--end",
                window.is_end.isoformat(),
                "--jobs",
                "2",
                stdout=io.StringIO(),
            )
        studies_times.append(time.perf_counter() - started)
    local_seconds = statistics.median(local_times)
    studies_seconds = statistics.median(studies_times)
    shown = ", ".join(f"{t:.2f}" for t in local_times)
    print(f"2. run_walkforward --jobs 2: median {local_seconds:.2f} s ({shown})")
    shown = ", ".join(f"{t:.2f}" for t in studies_times)
    print(
        f"3. the same {WINDOWS} studies one after another, run_study --jobs 2: median "
        f"{studies_seconds:.2f} s ({shown})"
    )
    for label, seconds in (("cluster", cluster_seconds), ("run_walkforward", local_seconds)):
        ratio = seconds / studies_seconds
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(
            f"   {label} / studies = {ratio:.3f} (overhead {100 * (ratio - 1):+.1f} %, target "
            f"<= {100 * (TARGET_RATIO - 1):.0f} %: {verdict})"
        )

    import numpy as np

    from backtests.studies.overfitting import probability_of_backtest_overfitting

    rng = np.random.default_rng(11)
    matrix = rng.normal(0.0, 0.01, (250, 1000)) + rng.normal(0.0, 5e-4, 1000)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        probability_of_backtest_overfitting(matrix, n_splits=16)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(
        f"PBO by CSCV, 1,000 trials x 250 days, S = 16: median {median:.2f} s of 3 (target "
        f"<= {TARGET_PBO_SECONDS:.0f} s: {'met' if median <= TARGET_PBO_SECONDS else 'NOT met'})"
    )
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
