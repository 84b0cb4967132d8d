"""Studies for the API fuzzer: a finished grid study and a queued one over the fuzz data,
and the ids and values the fuzzer mixes into its cases for the studies' operations."""

from __future__ import annotations

from typing import Any

from backtests.studies.definition import study_definition_build
from backtests.studies.execution import study_batch_run
from backtests.studies.models import StudyStatus
from backtests.studies.services import study_create


def study_fuzz_values(publisher_id: int, symbols: tuple[str, ...]) -> dict[str, dict]:
    body: dict[str, Any] = {
        "strategy": "SMACrossover",
        "strategy_params": {"quantity": 1.0},
        "symbols": list(symbols),
        "rtype": 33,
        "publisher_id": publisher_id,
        "space": {
            "fast_period": {"values": [5, 10]},
            "slow_period": {"min": 20, "max": 40, "step": 10},
        },
        "constraints": ["fast_period < slow_period"],
        "objective": "net_pnl",
        "sampler": "grid",
    }
    finished = study_create(definition=study_definition_build(**body), enqueue=False)
    while finished.status in (StudyStatus.QUEUED, StudyStatus.RUNNING):
        study_batch_run(study_id=finished.study_id, enqueue=False)
        finished.refresh_from_db()
    queued = study_create(definition=study_definition_build(**body), enqueue=False)
    return {
        "path": {"study_id": [finished.study_id, queued.study_id], "number": [0, 3]},
        "query": {
            "x": ["fast_period"],
            "y": ["slow_period"],
            "param": ["fast_period", "slow_period"],
            "metric": ["net_pnl", "sharpe"],
            "sort": ["value", "param.fast_period", "metric.trades"],
            "pbo_splits": [2, 4],
        },
        "body": {
            ("POST", "/api/studies"): {
                "strategy": ["SMACrossover"],
                "strategy_params": [{"quantity": 1.0}],
                "symbols": [list(symbols)],
                "rtype": [33],
                "publisher_id": [publisher_id],
                "space": [body["space"], {"fast_period": {"min": 5, "max": 15}}],
                "constraints": [body["constraints"]],
                "sampler": ["grid", "random", "tpe"],
                "n_trials": [3],
                "objective": ["net_pnl"],
            },
            ("POST", "/api/studies/{study_id}/extend"): {"n_trials": [1, 2]},
            ("DELETE", "/api/studies"): {"study_ids": [[finished.study_id], ["no-such-study"]]},
        },
        "known_path": {"study_id": finished.study_id, "number": 0},
    }
