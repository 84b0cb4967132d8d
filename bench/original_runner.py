"""Runs the ORIGINAL onesecondtrader 0.75 on a Databento zip; executed by its own virtualenv.

    <ost075-venv>/bin/python bench/original_runner.py ZIP WORKDIR SYMBOLS RTYPE FAST SLOW

Ingests the zip with the original's own ``ingest_databento_zip`` into WORKDIR/secmaster.db,
runs its SMACrossover through its Orchestrator / SimulatedDatafeed / SimulatedBroker (as its
dashboard does), and prints one JSON line: bars, seconds, bars_per_second, fills.
Never imports this project: it must run against the original package only.
"""

from __future__ import annotations

import json
import pathlib
import sqlite3
import sys
import time

RTYPE_TO_PERIOD = {32: "SECOND", 33: "MINUTE", 34: "HOUR", 35: "DAY"}


def main() -> None:
    zip_path, workdir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    symbols = sys.argv[3].split(",")
    rtype, fast, slow = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])

    from onesecondtrader.brokers.simulated import SimulatedBroker
    from onesecondtrader.datafeeds.simulated import SimulatedDatafeed
    from onesecondtrader.models import BarPeriod
    from onesecondtrader.orchestrator import Orchestrator
    from onesecondtrader.secmaster.utils import (
        create_secmaster_db,
        ingest_databento_zip,
        rebuild_symbol_coverage,
    )
    from onesecondtrader.strategies.base import ParamSpec
    from onesecondtrader.strategies.examples import SMACrossover

    secmaster = workdir / "secmaster.db"
    runs_db = workdir / "runs.db"
    for path in (secmaster, runs_db):
        path.unlink(missing_ok=True)
    create_secmaster_db(secmaster)
    ingest_databento_zip(zip_path, secmaster)
    rebuild_symbol_coverage(secmaster)
    with sqlite3.connect(secmaster) as con:
        name, dataset = con.execute("SELECT name, dataset FROM publishers").fetchone()

    period = BarPeriod[RTYPE_TO_PERIOD[rtype]]
    params = dict(SMACrossover.parameters)
    params["bar_period"] = ParamSpec(default=period)
    params["fast_period"] = ParamSpec(default=fast, min=5, max=100, step=1)
    params["slow_period"] = ParamSpec(default=slow, min=10, max=500, step=1)
    strategy = type(
        "BenchSMACrossover", (SMACrossover,), {"symbols": symbols, "parameters": params}
    )
    feed = type(
        "BenchDatafeed",
        (SimulatedDatafeed,),
        {"publisher_name": name, "dataset": dataset, "symbol_type": "raw_symbol",
         "db_path": str(secmaster)},
    )  # fmt: skip
    orchestrator_cls = type("BenchOrchestrator", (Orchestrator,), {"db_path": str(runs_db)})
    orchestrator = orchestrator_cls(strategies=[strategy], broker=SimulatedBroker, datafeed=feed)
    started = time.perf_counter()
    orchestrator.run()
    seconds = time.perf_counter() - started

    with sqlite3.connect(runs_db) as con:
        (run_id,) = con.execute("SELECT run_id FROM runs").fetchone()
        fills = con.execute(
            "SELECT ts_event_ns, symbol, side, quantity_filled, fill_price FROM fills "
            "WHERE run_id = ? ORDER BY ts_event_ns, symbol, id",
            (run_id,),
        ).fetchall()
    bars = orchestrator._datafeed._bars_total if orchestrator._datafeed else 0
    print(json.dumps({
        "bars": bars, "seconds": seconds, "bars_per_second": bars / seconds if seconds else 0,
        "fills": [list(f) for f in fills],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
