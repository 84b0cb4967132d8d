"""Deterministic demo data: a Databento-format batch zip of OHLCV bars for five US symbols.

The zip looks like a real Databento batch download (zstd-compressed DBN members named like
``xnas-itch-20240102-20240131.ohlcv-1m.dbn.zst``, plus ``metadata.json``, ``symbology.json``
and ``manifest.json``) and is loaded through the ordinary ingest service.

Prices follow a per-second random walk whose drift is itself a slowly mean-reverting process, so
prices trend for hours and then turn: an SMA crossover strategy trades on it. Every bar level is
aggregated from the same one-second path, so 1s, 1m, 1h and 1d bars agree with each other.
Bar timestamps are the start of each bar's interval (Databento's convention).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import databento_dbn
import numpy as np
import zstandard

DATASET = "XNAS.ITCH"
PUBLISHER_ID = 2  # Databento's publisher id of XNAS.ITCH
START = dt.date(2024, 1, 2)
END = dt.date(2024, 2, 1)  # exclusive
HOLIDAYS = frozenset({dt.date(2024, 1, 15)})  # Martin Luther King Jr. Day
SESSION_OPEN_SECONDS = 14 * 3600 + 30 * 60  # 14:30 UTC = 09:30 New York (EST)
SESSION_SECONDS = 6 * 3600 + 30 * 60
SECOND_BAR_SESSIONS = 2  # the last sessions also get one-second bars
SEED = 20240102
NS = 1_000_000_000
CENT = NS // 100

# symbol: (source instrument id, start price, daily volatility, mean shares per second)
SYMBOLS: dict[str, tuple[int, float, float, float]] = {
    "AAPL": (38, 185.0, 0.014, 900.0),
    "MSFT": (10451, 375.0, 0.013, 380.0),
    "NVDA": (11667, 495.0, 0.028, 700.0),
    "QQQ": (13340, 405.0, 0.011, 650.0),
    "SPY": (15144, 475.0, 0.008, 1100.0),
}
SCHEMAS = {32: "ohlcv-1s", 33: "ohlcv-1m", 34: "ohlcv-1h", 35: "ohlcv-1d"}
ZIP_NAME = "XNAS-20240102-DEMO.zip"
# Symbol presets made with the demo data (the README's examples use them).
DEMO_PRESETS: dict[str, list[str]] = {"Tech majors": ["AAPL", "MSFT", "NVDA"]}
MEMBER_PREFIX = f"xnas-itch-{START:%Y%m%d}-{END - dt.timedelta(days=1):%Y%m%d}"
ZIP_TIMESTAMP = (2024, 2, 1, 0, 0, 0)


@dataclass(frozen=True)
class Bars:
    """Columns of one symbol's bars at one resolution; prices in 1e-9 units."""

    ts_event: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def trading_sessions() -> list[dt.date]:
    """Weekdays in [START, END) that are not holidays."""
    days = (START + dt.timedelta(days=i) for i in range((END - START).days))
    return [d for d in days if d.weekday() < 5 and d not in HOLIDAYS]


def _midnight_ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * NS


def _second_path(rng: np.random.Generator, sessions: int, price: float, vol: float) -> np.ndarray:
    """Log prices at every second boundary of every session, shape (sessions, seconds + 1)."""
    minutes = SESSION_SECONDS // 60
    sigma_minute = vol / np.sqrt(minutes)
    # Drift regime: an AR(1) per minute with a half-life of ~90 minutes, strong enough to trend.
    phi = 0.5 ** (1 / 90)
    drift_sd = sigma_minute * 0.12
    log_price = np.log(price)
    anchor = log_price
    closes = np.empty((sessions, minutes + 1))
    drift = 0.0
    shocks = rng.standard_normal((sessions, minutes))
    drift_shocks = rng.standard_normal((sessions, minutes)) * drift_sd * np.sqrt(1 - phi**2)
    gaps = rng.standard_normal(sessions) * vol * 0.4
    for s in range(sessions):
        log_price += gaps[s]
        closes[s, 0] = log_price
        for m in range(minutes):
            drift = phi * drift + drift_shocks[s, m]
            pull = -0.002 * (log_price - anchor)  # keeps the walk near plausible prices
            log_price += drift + pull + sigma_minute * shocks[s, m]
            closes[s, m + 1] = log_price
    # One-second steps inside each minute: a Brownian bridge between the minute's end points.
    steps = rng.standard_normal((sessions, minutes, 60)) * (sigma_minute / np.sqrt(60))
    walk = np.concatenate([np.zeros((sessions, minutes, 1)), np.cumsum(steps, axis=2)], axis=2)
    frac = np.arange(61) / 60
    start, end = closes[:, :-1, None], closes[:, 1:, None]
    bridge = start + (end - start) * frac + walk - walk[:, :, -1:] * frac
    path = np.concatenate([bridge[:, :, :-1].reshape(sessions, -1), closes[:, -1:]], axis=1)
    return path


def _to_price(log_prices: np.ndarray) -> np.ndarray:
    """Round to whole cents, in 1e-9 units."""
    return np.round(np.exp(log_prices) * 100).astype(np.int64) * CENT


def _aggregate(bars: Bars, groups: np.ndarray, starts: np.ndarray) -> Bars:
    """Combine consecutive bars with the same group number; ``starts`` = ts of each group."""
    edges = np.flatnonzero(np.diff(groups)) + 1
    first = np.concatenate([[0], edges])
    last = np.concatenate([edges, [len(groups)]]) - 1
    return Bars(
        ts_event=starts,
        open=bars.open[first],
        high=np.maximum.reduceat(bars.high, first),
        low=np.minimum.reduceat(bars.low, first),
        close=bars.close[last],
        volume=np.add.reduceat(bars.volume, first),
    )


def symbol_bars(
    rng: np.random.Generator, sessions: list[dt.date], price: float, vol: float, rate: float
) -> dict[int, Bars]:
    """Bars of one symbol per rtype (32 only for the last SECOND_BAR_SESSIONS sessions)."""
    n = len(sessions)
    path = _second_path(rng, n, price, vol)
    prices = _to_price(path)
    opens, closes = prices[:, :-1].ravel(), prices[:, 1:].ravel()
    wick = (np.abs(rng.standard_normal((2, opens.size))) * 1.2).round().astype(np.int64) * CENT
    intraday = np.arange(SESSION_SECONDS)
    u_shape = 1.0 + 2.0 * ((intraday / SESSION_SECONDS - 0.5) * 2) ** 2
    volume = rng.poisson(np.tile(rate * u_shape, n)).astype(np.int64) + 1
    session_ns = np.array([_midnight_ns(d) for d in sessions], dtype=np.int64)
    ts = (session_ns[:, None] + (SESSION_OPEN_SECONDS + intraday)[None, :] * NS).ravel()
    seconds = Bars(
        ts,
        opens,
        np.maximum(opens, closes) + wick[0],
        np.maximum(np.minimum(opens, closes) - wick[1], CENT),
        closes,
        volume,
    )
    minute_of = ts // (60 * NS)
    minutes = _aggregate(seconds, minute_of, np.unique(minute_of) * 60 * NS)
    hour_of = minutes.ts_event // (3600 * NS)
    hours = _aggregate(minutes, hour_of, np.unique(hour_of) * 3600 * NS)
    day_of = hours.ts_event // (86_400 * NS)
    days = _aggregate(hours, day_of, np.unique(day_of) * 86_400 * NS)
    keep = ts >= session_ns[-SECOND_BAR_SESSIONS]
    seconds = Bars(*(getattr(seconds, f)[keep] for f in Bars.__dataclass_fields__))
    return {32: seconds, 33: minutes, 34: hours, 35: days}


@dataclass
class _Interval:
    start_date: dt.date
    end_date: dt.date
    symbol: str


@dataclass
class _SymbolMapping:
    raw_symbol: str
    intervals: list[_Interval]


def _dbn_member(rtype: int, per_symbol: dict[str, Bars]) -> bytes:
    """DBN bytes of one schema: metadata, then records ordered by ts_event, then instrument."""
    columns = {f: [] for f in ("instrument", *Bars.__dataclass_fields__)}
    for symbol, bars in per_symbol.items():
        columns["instrument"].append(np.full(len(bars.ts_event), SYMBOLS[symbol][0]))
        for f in Bars.__dataclass_fields__:
            columns[f].append(getattr(bars, f))
    merged = {f: np.concatenate(v) for f, v in columns.items()}
    order = np.lexsort((merged["instrument"], merged["ts_event"]))
    metadata = databento_dbn.Metadata(
        dataset=DATASET,
        start=_midnight_ns(START),
        end=_midnight_ns(END),
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema(SCHEMAS[rtype]),
        symbols=sorted(SYMBOLS),
        mappings=[
            _SymbolMapping(s, [_Interval(START, END, str(SYMBOLS[s][0]))]) for s in sorted(SYMBOLS)
        ],
    )
    out = io.BytesIO()
    out.write(metadata.encode())
    rows = zip(*(merged[f][order].tolist() for f in columns), strict=True)
    for instrument, ts, o, h, low, c, v in rows:
        out.write(
            bytes(databento_dbn.OHLCVMsg(rtype, PUBLISHER_ID, instrument, ts, o, h, low, c, v))
        )
    return out.getvalue()


def _json_members(sessions: list[dt.date]) -> dict[str, str]:
    query = {
        "dataset": DATASET,
        "schema": "ohlcv-1m",
        "symbols": sorted(SYMBOLS),
        "stype_in": "raw_symbol",
        "stype_out": "instrument_id",
        "start": _midnight_ns(START),
        "end": _midnight_ns(END),
        "encoding": "dbn",
        "compression": "zstd",
        "split_duration": "month",
    }
    symbology = {
        "result": {
            s: [{"d0": START.isoformat(), "d1": END.isoformat(), "s": str(SYMBOLS[s][0])}]
            for s in sorted(SYMBOLS)
        },
        "symbols": sorted(SYMBOLS),
        "stype_in": "raw_symbol",
        "stype_out": "instrument_id",
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "partial": [],
        "not_found": [],
        "message": "OK",
        "status": 0,
    }
    return {
        "metadata.json": json.dumps({"query": query, "job_id": "XNAS-20240102-DEMO"}, indent=2),
        "symbology.json": json.dumps(symbology, indent=2),
    }


def demo_zip_write(out: Path) -> Path:
    """Write the demo batch zip to ``out`` (a .zip path) and return it; same bytes every time."""
    rng = np.random.default_rng(SEED)
    sessions = trading_sessions()
    per_rtype: dict[int, dict[str, Bars]] = {r: {} for r in SCHEMAS}
    for symbol, (_, price, vol, rate) in SYMBOLS.items():
        for rtype, bars in symbol_bars(rng, sessions, price, vol, rate).items():
            per_rtype[rtype][symbol] = bars
    members: dict[str, bytes | str] = {}
    compressor = zstandard.ZstdCompressor(level=3)
    for rtype, per_symbol in per_rtype.items():
        name = f"{MEMBER_PREFIX}.{SCHEMAS[rtype]}.dbn.zst"
        members[name] = compressor.compress(_dbn_member(rtype, per_symbol))
    members.update(_json_members(sessions))
    members["manifest.json"] = json.dumps({"files": sorted(members)}, indent=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed into place: a reader (a second make_demo_data, an ingest)
    # never sees a half-written zip.
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, content in members.items():
                archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP), content)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out
