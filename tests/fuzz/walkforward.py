"""Walk-forwards for the API fuzzer: a finished one (stitched results from two hand-made
windows) and a running one, and the ids and values the fuzzer mixes into its cases for the
walk-forward operations. The fuzz data holds one trading day, too few for windows, so the
rows are written directly; creating one through the API is fuzzed for its refusals."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np

from backtests.results.codec import arrays_encode
from backtests.walkforward.analysis import WindowResult, walkforward_summary
from backtests.walkforward.models import (
    WalkForward,
    WalkForwardStatus,
    WalkForwardWindow,
    WindowStatus,
)

CAPITAL = 100_000.0


def _walkforward(walkforward_id: str, status: str, owner: Any, windows: list[WindowResult]) -> None:
    walkforward = WalkForward.objects.create(
        walkforward_id=walkforward_id,
        name=f"fuzz {walkforward_id}",
        owner=owner,
        status=status,
        strategy="SMACrossover",
        config={"capital": CAPITAL, "symbols": ["AAPL"], "start_date": None, "end_date": None},
        definition={"strategy": "SMACrossover"},
        mode="rolling",
        in_sample_days=3,
        out_of_sample_days=2,
        step_days=2,
        objective="net_pnl",
        direction="maximize",
        ts_created=time.time_ns(),
        analysis=walkforward_summary(windows, CAPITAL) if windows else None,
    )
    first = dt.date(2024, 1, 2)
    for index in range(2):
        result = windows[index] if windows else None
        WalkForwardWindow.objects.create(
            walkforward=walkforward,
            index=index,
            is_start=first + dt.timedelta(days=2 * index),
            is_end=first + dt.timedelta(days=2 * index + 2),
            oos_start=first + dt.timedelta(days=2 * index + 3),
            oos_end=first + dt.timedelta(days=2 * index + 4),
            warmup_start=first + dt.timedelta(days=2 * index),
            status=WindowStatus.COMPLETE if result else WindowStatus.IN_SAMPLE,
            params=result.params if result else None,
            oos_metrics={"net_pnl": float(result.equity[-1] - CAPITAL)} if result else None,
            oos_daily=arrays_encode(
                {
                    "day": result.days.astype(np.int32),
                    "equity": result.equity,
                    "benchmark": result.benchmark,
                },
                capital=CAPITAL,
            )
            if result
            else None,
        )


def walkforward_fuzz_values(
    publisher_id: int, symbols: tuple[str, ...], owner: Any
) -> dict[str, dict]:
    day0 = (dt.date(2024, 1, 5) - dt.date(1970, 1, 1)).days
    windows = [
        WindowResult(
            index=i,
            days=np.array([day0 + 2 * i, day0 + 2 * i + 1]),
            equity=np.array([CAPITAL * (1.01 + i / 100), CAPITAL * (1.0 + i / 50)]),
            benchmark=np.array([CAPITAL * 1.002, CAPITAL * 1.004]),
            capital=CAPITAL,
            params={"fast_period": 5 + 5 * i, "slow_period": 20},
            is_annual_return=0.2,
        )
        for i in range(2)
    ]
    _walkforward("fuzz-wf-done", WalkForwardStatus.COMPLETED, owner, windows)
    _walkforward("fuzz-wf-running", WalkForwardStatus.RUNNING, owner, [])
    return {
        "path": {"walkforward_id": ["fuzz-wf-done", "fuzz-wf-running"]},
        "query": {},
        "body": {
            ("POST", "/api/walkforwards"): {
                "strategy": ["SMACrossover"],
                "symbols": [list(symbols)],
                "rtype": [33],
                "publisher_id": [publisher_id],
                "space": [{"fast_period": {"values": [5, 10]}, "slow_period": {"values": [20]}}],
                "sampler": ["grid"],
                "objective": ["net_pnl"],
                "mode": ["rolling", "anchored"],
                "in_sample_days": [1, 3],
                "out_of_sample_days": [1, 2],
                "step_days": [1, 2, None],
            },
            ("DELETE", "/api/walkforwards"): {
                "walkforward_ids": [["fuzz-wf-done"], ["no-such-walkforward"]]
            },
        },
        "known_path": {"walkforward_id": "fuzz-wf-done"},
    }
