"""Benchmark: overfitting statistics on a study-sized matrix (no database, no Django).

    .venv/bin/python bench/overfitting.py                  # 1,000 trials x 250 days, S = 16
    .venv/bin/python bench/overfitting.py --trials 240 --days 500 --splits 12 --repeat 3

Prints the wall time of PBO by CSCV (target <= 2 s for 1,000 trials x 250 days, S = 16: 12,870
splits), the peak of its numpy/Python allocations (tracemalloc), and the time of the DSR: from
summary figures, and from the whole matrix (each trial's Sharpe ratio, their variance, the best
trial's moments). The returns are seeded noise with a small drift per trial.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backtests.studies.overfitting import (  # noqa: E402
    deflated_sharpe_for_trials,
    deflated_sharpe_ratio,
    overfitting_verdict,
    probability_of_backtest_overfitting,
)

TARGET_PBO_SECONDS = 2.0


def _timed(function, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--splits", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(13)
    matrix = rng.normal(0.0, 0.01, size=(args.days, args.trials))
    matrix += rng.normal(0.0, 0.0005, size=args.trials)  # each trial its own small drift

    pbo_times, pbo = _timed(
        lambda: probability_of_backtest_overfitting(matrix, n_splits=args.splits), args.repeat
    )
    tracemalloc.start()
    probability_of_backtest_overfitting(matrix, n_splits=args.splits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ok = "ok" if min(pbo_times) <= TARGET_PBO_SECONDS else "OVER TARGET"
    print(
        f"PBO, {args.trials:,} trials x {args.days:,} days, S={args.splits} "
        f"({pbo.n_combinations:,} splits): best {min(pbo_times):.3f} s, median "
        f"{statistics.median(pbo_times):.3f} s of {args.repeat} (target <= "
        f"{TARGET_PBO_SECONDS} s: {ok}); peak allocations {peak / 2**20:.1f} MiB"
    )

    summary_times, _ = _timed(
        lambda: deflated_sharpe_ratio(
            sharpe=0.08,
            n_obs=args.days,
            skewness=-0.5,
            kurtosis=5.0,
            n_trials=args.trials,
            sharpe_variance=0.003,
        ),
        1000,
    )
    print(f"DSR from summary figures: {statistics.median(summary_times) * 1e6:.1f} µs per call")
    matrix_times, dsr = _timed(lambda: deflated_sharpe_for_trials(matrix), args.repeat)
    print(
        f"DSR from the {args.days:,} x {args.trials:,} matrix: best "
        f"{min(matrix_times) * 1e3:.1f} ms, median {statistics.median(matrix_times) * 1e3:.1f} ms"
    )
    print("Verdict on this study of seeded noise:", overfitting_verdict(dsr=dsr, pbo=pbo))


if __name__ == "__main__":
    main()
