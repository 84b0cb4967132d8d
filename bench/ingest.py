"""Ingest benchmark: Databento zip -> fresh SQLite security master, against a bare executemany.

Generates a batch zip of >= 1,000,000 one-minute bars (10 symbols, a year of sessions), ingests it
with the real service into a fresh SQLite security master in a temporary folder, then inserts the
very same rows into the same (freshly migrated) table of a second database with one bare
``executemany`` and prints both rates and their ratio. Target: ingest >= 85% of the bare rate.
A third database without the BEFORE INSERT trigger of migration 0007 (``INSERT OR REPLACE``
drops the replaced bar's block) shows what that trigger costs a plain insert.

    .venv/bin/python bench/ingest.py [--symbols 10] [--sessions 257]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sqlite3
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from _common import django_setup, sqlite_env

NS = 1_000_000_000
DATASET = "XNAS.ITCH"


def _sessions(count: int) -> list[dt.date]:
    days, day = [], dt.date(2023, 1, 2)
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _records(symbols: int, sessions: int) -> np.ndarray:
    """One-minute OHLCV records ordered by (ts_event, instrument), as Databento writes them."""
    from secmaster.dbn_reading import ohlcv_record_dtype

    rng = np.random.default_rng(7)
    days = _sessions(sessions)
    midnight = np.array(
        [int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) for d in days]
    )
    minute_ts = ((midnight[:, None] + 14 * 3600 + 1800 + np.arange(390)[None, :] * 60) * NS).ravel()
    n_ts = minute_ts.size
    out = np.zeros(n_ts * symbols, dtype=ohlcv_record_dtype())
    out["length"] = 14
    out["rtype"] = 33
    out["publisher_id"] = 2
    out["ts_event"] = np.repeat(minute_ts, symbols)
    out["instrument_id"] = np.tile(np.arange(1, symbols + 1) * 100, n_ts)
    steps = rng.standard_normal((n_ts, symbols)) * 0.0008
    close = (np.exp(np.cumsum(steps, axis=0)) * rng.uniform(50, 500, symbols) * 100).round()
    open_ = np.vstack([close[:1], close[:-1]])
    wick = np.abs(rng.standard_normal((2, n_ts, symbols))).round()
    cent = NS // 100
    out["open"] = (open_ * cent).astype(np.int64).ravel()
    out["close"] = (close * cent).astype(np.int64).ravel()
    out["high"] = ((np.maximum(open_, close) + wick[0]) * cent).astype(np.int64).ravel()
    out["low"] = (
        ((np.maximum(np.minimum(open_, close) - wick[1], 1)) * cent).astype(np.int64).ravel()
    )
    out["volume"] = rng.integers(1, 5000, out.size)
    return out


def _write_zip(path: Path, records: np.ndarray, symbols: int) -> None:
    import databento_dbn
    import zstandard

    first, last = int(records["ts_event"][0]), int(records["ts_event"][-1])
    metadata = databento_dbn.Metadata(
        dataset=DATASET,
        start=first,
        end=last + 60 * NS,
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema.OHLCV_1M,
    )
    header = metadata.encode()
    # Sanity: databento_dbn reads the numpy-built records back identically.
    decoder = databento_dbn.DBNDecoder()
    decoder.write(header + records[:3].tobytes())
    decoded = decoder.decode()[1:]
    assert [(r.instrument_id, r.ts_event, r.close) for r in decoded] == [
        (int(r["instrument_id"]), int(r["ts_event"]), int(r["close"])) for r in records[:3]
    ]
    start = dt.datetime.fromtimestamp(first / NS, tz=dt.UTC).date()
    end = dt.datetime.fromtimestamp(last / NS, tz=dt.UTC).date() + dt.timedelta(days=1)
    symbology = {
        "result": {
            f"SYM{i:02d}": [{"d0": str(start), "d1": str(end), "s": str(i * 100)}]
            for i in range(1, symbols + 1)
        }
    }
    compressed = zstandard.ZstdCompressor(level=3, threads=-1).compress(header + records.tobytes())
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"xnas-itch-{start:%Y%m%d}-{end:%Y%m%d}.ohlcv-1m.dbn.zst", compressed)
        archive.writestr("metadata.json", json.dumps({"query": {"dataset": DATASET}}))
        archive.writestr("symbology.json", json.dumps(symbology))


def _bare_seconds(
    db_path: Path, records: np.ndarray, internal_ids: dict[int, int]
) -> tuple[float, float]:
    """(wall, CPU) seconds of one plain executemany of the prepared rows, and its commit."""
    ids = np.vectorize(internal_ids.__getitem__)(records["instrument_id"]).astype(np.int64)
    rows = list(
        zip(
            ids.tolist(),
            records["rtype"].tolist(),
            records["ts_event"].tolist(),
            records["open"].tolist(),
            records["high"].tolist(),
            records["low"].tolist(),
            records["close"].tolist(),
            records["volume"].tolist(),
            strict=True,
        )
    )
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("BEGIN")
    con.execute(
        "INSERT INTO publishers (publisher_id, name, dataset, venue) VALUES (1, 'b', 'X.Y', 'X')"
    )
    con.executemany(
        "INSERT INTO instruments (instrument_id, publisher_ref, source_instrument_id)"
        " VALUES (?, 1, ?)",
        [(internal, source) for source, internal in internal_ids.items()],
    )
    con.execute("COMMIT")
    started, cpu_started = time.perf_counter(), time.process_time()
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO ohlcv (instrument_id, rtype, ts_event, open, high, low, close, volume)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    (count,) = con.execute("SELECT COUNT(*) FROM ohlcv").fetchone()
    con.close()
    assert count == len(rows)
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=257)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ost-bench-ingest-"))
    try:
        django_setup(sqlite_env(work))
        from django.core.management import call_command
        from django.db import connections

        from secmaster.bar_block_triggers import SQLITE_REPLACE_TRIGGER
        from secmaster.services.ingest import ingest_databento_paths

        call_command("migrate", database="secmaster", verbosity=0)
        connections["secmaster"].close()
        shutil.copy(work / "secmaster.db", work / "bare.db")
        shutil.copy(work / "secmaster.db", work / "bare-no-trigger.db")
        with sqlite3.connect(work / "bare-no-trigger.db") as con:  # as before migration 0007
            con.execute(f"DROP TRIGGER {SQLITE_REPLACE_TRIGGER}")

        records = _records(args.symbols, args.sessions)
        zip_path = work / "bench.zip"
        _write_zip(zip_path, records, args.symbols)
        print(
            f"batch: {len(records):,} one-minute bars, {args.symbols} symbols, "
            f"zip {zip_path.stat().st_size / 1e6:.1f} MB"
        )

        started, cpu_started = time.perf_counter(), time.process_time()
        summary = ingest_databento_paths([zip_path])
        ingest = (time.perf_counter() - started, time.process_time() - cpu_started)
        assert summary.new_bars == len(records), summary
        with connections["secmaster"].cursor() as cursor:
            cursor.execute("SELECT source_instrument_id, instrument_id FROM instruments")
            internal_ids = dict(cursor.fetchall())
        connections["secmaster"].close()

        bare = _bare_seconds(work / "bare.db", records, internal_ids)
        untriggered = _bare_seconds(work / "bare-no-trigger.db", records, internal_ids)
        n = len(records)
        for label, (wall, cpu) in (
            ("ingest (zip, zstd, DBN decode, SQLite, coverage)", ingest),
            ("bare executemany of the same rows, same table", bare),
            ("the same without the INSERT OR REPLACE trigger", untriggered),
        ):
            print(
                f"{label:50s} wall {wall:6.2f} s = {n / wall:>9,.0f} bars/s"
                f" | CPU {cpu:6.2f} s = {n / cpu:>9,.0f} bars/s"
            )
        print(
            f"ratio ingest / bare rate: wall {bare[0] / ingest[0]:.1%},"
            f" CPU {bare[1] / ingest[1]:.1%} (target >= 85%; CPU time is the steadier"
            " figure on a busy machine)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
