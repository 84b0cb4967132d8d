"""The fill-model part of ``bench/backtest.py``: ``intrabar`` against ``classic`` on 1-minute
bars whose 1-second bars are in the security master too.

Data: ``FILL_SYMBOLS`` symbols (FIL0..) of dataset DBEQ.BASIC, ``days`` sessions of 6.5 hours;
a per-second random walk with a slowly turning drift, 1-second bars from it (open, close, and
wicks of a few cents) and 1-minute bars aggregated from those, so both agree. Written as two
real DBN files and ingested through the ingest service.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from _common import FIRST_DAY

FILL_SYMBOLS = 10
DATASET = "DBEQ.BASIC"
PUBLISHER = 39  # Databento's id of DBEQ.BASIC
SESSION_OPEN_S = 14 * 3600 + 30 * 60
SESSION_S = 6 * 3600 + 30 * 60
NS = 1_000_000_000
CENT = 10_000_000  # 1e-9 units
STRATEGIES = ("RSITrailingStop", "BollingerReversion")
MODELS = ("classic", "intrabar")
REPEAT = 5


def _names() -> list[str]:
    return [f"FIL{i}" for i in range(FILL_SYMBOLS)]


def _record_dtype():
    import numpy as np

    return np.dtype(
        [("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"), ("instrument_id", "<u4"),
         ("ts_event", "<u8"), ("open", "<i8"), ("high", "<i8"), ("low", "<i8"),
         ("close", "<i8"), ("volume", "<u8")]
    )  # fmt: skip


def _series(rng, days: int):
    """One symbol's 1-second and 1-minute bars as column dicts (1e-9 prices)."""
    import numpy as np

    seconds = days * SESSION_S
    drift = np.zeros(seconds)
    turn = rng.normal(0, 1e-6, seconds // 60)
    regime = np.zeros(seconds // 60)
    for i in range(1, len(regime)):  # AR(1) drift per minute: trends that turn
        regime[i] = 0.99 * regime[i - 1] + turn[i]
    drift[:] = np.repeat(regime, 60)
    log_price = np.log(rng.uniform(50, 400)) + np.cumsum(drift + rng.normal(0, 1.2e-4, seconds))
    price = np.round(np.exp(log_price) * 100).astype(np.int64) * CENT
    open_ = np.concatenate(([price[0]], price[:-1]))
    wick = np.round(np.abs(rng.normal(0, 1.0, (2, seconds)))).astype(np.int64) * CENT
    high = np.maximum(open_, price) + wick[0]
    low = np.maximum(np.minimum(open_, price) - wick[1], CENT)
    volume = rng.poisson(300, seconds).astype(np.int64) + 1
    first_day = int(dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC).timestamp()) * NS
    day_start = first_day + np.arange(days, dtype=np.int64) * 86_400 * NS
    ts = (day_start[:, None] + (SESSION_OPEN_S + np.arange(SESSION_S))[None, :] * NS).ravel()
    per_second = dict(ts=ts, open=open_, high=high, low=low, close=price, volume=volume)
    first = np.arange(0, seconds, 60)
    per_minute = {
        "ts": ts[first],
        "open": open_[first],
        "high": np.maximum.reduceat(high, first),
        "low": np.minimum.reduceat(low, first),
        "close": price[first + 59],
        "volume": np.add.reduceat(volume, first),
    }
    return per_second, per_minute


def write_fill_files(workdir: Path, *, days: int, seed: int = 11) -> tuple[list[Path], int, int]:
    """The two DBN files (1-second, 1-minute); counts of minute and second bars."""
    import databento_dbn
    import numpy as np

    rng = np.random.default_rng(seed)
    names = _names()
    series = [_series(rng, days) for _ in names]
    start_ns = int(series[0][0]["ts"][0])
    last_day = FIRST_DAY + dt.timedelta(days=days + 1)

    class Interval:
        def __init__(self, instrument: int) -> None:
            self.start_date, self.end_date, self.symbol = FIRST_DAY, last_day, str(instrument)

    class Mapping:
        def __init__(self, name: str, instrument: int) -> None:
            self.raw_symbol, self.intervals = name, [Interval(instrument)]

    paths, counts = [], []
    for rtype, schema, which in ((32, "ohlcv-1s", 0), (33, "ohlcv-1m", 1)):
        parts = [s[which] for s in series]
        n = len(parts[0]["ts"])
        rows = np.zeros(n * len(names), dtype=_record_dtype())
        rows["length"] = rows.dtype.itemsize // 4
        rows["rtype"], rows["publisher_id"] = rtype, PUBLISHER
        for i, part in enumerate(parts):
            view = rows[i :: len(names)]  # ts order, then instrument order
            view["instrument_id"] = 2001 + i
            for column in ("open", "high", "low", "close", "volume"):
                view[column] = part[column]
            view["ts_event"] = part["ts"]
        metadata = databento_dbn.Metadata(
            dataset=DATASET,
            start=start_ns,
            end=int(parts[0]["ts"][-1]) + NS,
            stype_in=databento_dbn.SType.RAW_SYMBOL,
            stype_out=databento_dbn.SType.INSTRUMENT_ID,
            schema=databento_dbn.Schema(schema),
            symbols=names,
            mappings=[Mapping(name, 2001 + i) for i, name in enumerate(names)],
        )
        path = workdir / f"fills.{schema}.dbn"
        with path.open("wb") as out:
            out.write(metadata.encode())
            out.write(rows.tobytes())
        paths.append(path)
        counts.append(len(rows))
    return paths, counts[1], counts[0]


def phase_fills_setup(workdir: Path, days: int) -> dict:
    from django.core.management import call_command

    from secmaster.models import Publisher
    from secmaster.services.ingest import ingest_databento_paths

    for alias in ("default", "secmaster"):
        call_command("migrate", database=alias, verbosity=0)
    paths, minutes, seconds = write_fill_files(workdir, days=days)
    started = time.perf_counter()
    ingest_databento_paths(paths)
    for path in paths:
        path.unlink()
    return {
        "minute_bars": minutes,
        "second_bars": seconds,
        "ingest_seconds": round(time.perf_counter() - started, 1),
        "publisher_id": Publisher.objects.get(dataset=DATASET).publisher_id,
    }


def phase_fills_run(publisher_id: int, strategy: str, repeat: int) -> dict:
    """``classic`` and ``intrabar`` runs of ``strategy`` (record=trades), taking turns
    ``repeat`` times (the machine's load then weighs on both alike); each model's fastest."""
    from backtests.services.backtest_spec import backtest_spec_build
    from backtests.services.runs import run_create, run_execute

    best: dict[str, dict] = {}
    for _ in range(repeat):
        for model in MODELS:
            spec = backtest_spec_build(
                strategy=strategy,
                strategy_params={},
                symbols=_names(),
                rtype=33,
                publisher_id=publisher_id,
                record="trades",
                fill_model=model,
            )
            started = time.perf_counter()
            run = run_execute(run_id=run_create(spec=spec).run_id)
            wall = time.perf_counter() - started
            if run.status != "completed":
                return {"status": run.status, "error": run.metadata.get("error")}
            meta = run.metadata
            result = {
                "bars": meta["bars"],
                "fills": meta["fills"],
                "net_pnl": round(meta["net_pnl"], 2),
                "engine_seconds": meta["duration_seconds"],
                "wall_seconds": round(wall, 3),
                "ambiguous_bars": meta.get("ambiguous_bars"),
                "resolved_bars": meta.get("resolved_bars"),
                "unresolved_bars": meta.get("unresolved_bars"),
            }
            if model not in best or result["wall_seconds"] < best[model]["wall_seconds"]:
                best[model] = result
    return {"status": "completed", **best}


def report(runs: dict[str, dict]) -> bool:
    """Print classic vs intrabar per strategy; True when every ratio is within 1.5."""
    ok = True
    for strategy in STRATEGIES:
        classic, intrabar = runs[strategy]["classic"], runs[strategy]["intrabar"]
        ratio = intrabar["wall_seconds"] / classic["wall_seconds"]
        engine_ratio = intrabar["engine_seconds"] / classic["engine_seconds"]
        verdict = "OK" if ratio <= 1.5 else "TOO SLOW"
        ok = ok and ratio <= 1.5
        share = intrabar["ambiguous_bars"] / intrabar["bars"] * 100
        print(
            f"{strategy} on {classic['bars']:,} 1-minute bars with 1-second bars present:"
            f" classic {classic['wall_seconds']:.3f} s ({classic['fills']} fills, net"
            f" {classic['net_pnl']:,.2f}), intrabar {intrabar['wall_seconds']:.3f} s"
            f" ({intrabar['fills']} fills, net {intrabar['net_pnl']:,.2f}) = {ratio:.2f}x"
            f" (engine loop {engine_ratio:.2f}x; limit 1.5x) {verdict};"
            f" drilled into {intrabar['ambiguous_bars']:,} bars ({share:.2f} % of all):"
            f" {intrabar['resolved_bars']:,} resolved, {intrabar['unresolved_bars']:,} unresolved"
        )
    return ok
