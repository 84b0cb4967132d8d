"""The engine must never import Django: checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import importlib, pkgutil, sys
import backtests.engine as engine
names = [m.name for m in pkgutil.walk_packages(engine.__path__, prefix="backtests.engine.")]
for name in names:
    importlib.import_module(name)
from backtests.engine.broker import SimulatedBroker
from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from backtests.engine.memory import ListDatafeed, MemoryRecorder
from backtests.engine.orchestrator import Orchestrator
from backtests.engine.registry import get_strategy
bars = [BarReceived(i, i, "AAA", BarPeriod.SECOND, 10.0 + (i % 7), 11.0 + (i % 7), 9.0 + (i % 7),
        10.5 + (i % 7), 1) for i in range(300)]
params = {"fast_period": 5, "slow_period": 10}
strategy = get_strategy("SMACrossover")(symbols=["AAA"], params=params)
outcome = Orchestrator(strategy=strategy, datafeed=ListDatafeed(bars), broker=SimulatedBroker(),
                       recorder=MemoryRecorder()).run()
assert outcome.bars == 300 and outcome.fills > 0, outcome
print(len(names), outcome.fills)
web = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "rest_framework"))
print("django" in sys.modules, web)
"""


def test_engine_imports_and_runs_without_django():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    modules, fills = result.stdout.splitlines()[0].split()
    assert int(modules) >= 20 and int(fills) > 0
    assert result.stdout.splitlines()[1] == "False []"
