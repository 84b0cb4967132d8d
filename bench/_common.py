"""Shared parts of the bench scripts: Django on temporary databases, generated bar data.

The scripts run as ``python bench/NAME.py``, so this folder is on ``sys.path`` and they import
this module as ``_common``. Everything here is set up before Django reads its settings.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYMBOL_COUNT = 10
FIRST_DAY = dt.date(2024, 1, 1)
MINUTE_NS = 60_000_000_000
MINUTES_PER_DAY = 1440


def sqlite_env(workdir: Path) -> dict[str, str]:
    """Settings environment: both databases as SQLite files in ``workdir``, no user plugins."""
    return {
        "DATABASE_URL": "",
        "SECMASTER_DATABASE_URL": "",
        "RUNS_DB_PATH": str(workdir / "runs.db"),
        "SECMASTER_DB_PATH": str(workdir / "secmaster.db"),
        "OST_STRATEGIES_DIR": str(workdir / "no-user-strategies"),
        "OST_INDICATORS_DIR": str(workdir / "no-user-indicators"),
    }


def django_setup(env: Mapping[str, str]) -> None:
    """Apply ``env`` to this process (before Django reads its settings) and set Django up."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ostsite.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def symbol_names(count: int = SYMBOL_COUNT) -> list[str]:
    """The symbols ``write_dbn`` writes: SYM0, SYM1, ..."""
    return [f"SYM{i}" for i in range(count)]


def write_dbn(
    path: Path,
    *,
    minutes: int,
    symbols: int = SYMBOL_COUNT,
    seed: int = 7,
    first_day: dt.date = FIRST_DAY,
) -> int:
    """A DBN file of ``symbols`` x ``minutes`` one-minute bars (ts order) from ``first_day``
    on, symbols SYM0.. mapped to instruments 1001..; returns the number of bars."""
    import databento_dbn
    import numpy as np

    rng = np.random.default_rng(seed)
    start_ns = int(dt.datetime.combine(first_day, dt.time(), dt.UTC).timestamp()) * 10**9
    last_day = first_day + dt.timedelta(days=minutes // MINUTES_PER_DAY + 2)
    names = symbol_names(symbols)

    class Interval:
        def __init__(self, instrument: int) -> None:
            self.start_date, self.end_date, self.symbol = first_day, last_day, str(instrument)

    class Mapping:
        def __init__(self, name: str, instrument: int) -> None:
            self.raw_symbol, self.intervals = name, [Interval(instrument)]

    metadata = databento_dbn.Metadata(
        dataset="XNAS.ITCH",
        start=start_ns,
        end=start_ns + minutes * MINUTE_NS,
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema("ohlcv-1m"),
        symbols=names,
        mappings=[Mapping(n, 1001 + i) for i, n in enumerate(names)],
    )
    record = np.dtype(
        [("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"), ("instrument_id", "<u4"),
         ("ts_event", "<u8"), ("open", "<i8"), ("high", "<i8"), ("low", "<i8"),
         ("close", "<i8"), ("volume", "<u8")]
    )  # fmt: skip
    rows = np.zeros(minutes * symbols, dtype=record)
    rows["length"], rows["rtype"], rows["publisher_id"] = record.itemsize // 4, 33, 2
    for i in range(symbols):
        # A random walk plus a slow oscillating drift, so trends form and SMAs cross.
        period = rng.uniform(300, 3000)
        drift = 3e-4 * np.sin(2 * np.pi * np.arange(minutes) / period + rng.uniform(0, 6.3))
        close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0, 6e-4, minutes)))
        open_ = np.concatenate(([close[0]], close[:-1]))
        wiggle = np.abs(rng.normal(0, 2e-4, minutes)) * close
        cents = np.round(
            np.vstack([open_, np.maximum(open_, close) + wiggle,
                       np.minimum(open_, close) - wiggle, close]) * 100
        ).astype(np.int64) * 10_000_000  # fmt: skip
        part = rows[i::symbols]  # interleaved: ts order, then instrument order
        part["instrument_id"] = 1001 + i
        part["ts_event"] = start_ns + np.arange(minutes, dtype=np.uint64) * MINUTE_NS
        part["open"], part["high"], part["low"], part["close"] = cents
        part["volume"] = rng.integers(100, 10_000, minutes)
    reference = databento_dbn.OHLCVMsg(*(rows[0][f].item() for f in ("rtype", "publisher_id",
        "instrument_id", "ts_event", "open", "high", "low", "close", "volume")))  # fmt: skip
    assert bytes(reference) == rows[:1].tobytes(), "record layout differs from databento_dbn"
    with path.open("wb") as out:
        out.write(metadata.encode())
        out.write(rows.tobytes())
    return len(rows)
