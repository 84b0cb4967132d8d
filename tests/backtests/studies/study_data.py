"""Small security-master data for study tests: one symbol, weekday sessions of minute bars.

Forty sessions of 30 one-minute bars (1,200 bars) whose closes trend and swing by a seeded
random walk: enough trading days for ratios (20) and for PBO with 16 blocks (32), small enough
that a trial takes milliseconds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from tests.backtests.market_data import P, ingest_bars, ns

SESSIONS = 40
BARS_PER_SESSION = 30
FIRST_DAY = dt.date(2024, 1, 2)
INSTRUMENT = 38


def session_days(count: int = SESSIONS) -> list[dt.date]:
    days, day = [], FIRST_DAY
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def session_bars(
    instrument: int = INSTRUMENT,
    *,
    sessions: int = SESSIONS,
    per_session: int = BARS_PER_SESSION,
    seed: int = 7,
) -> list[tuple[int, int, int, int, int, int, int]]:
    rng = np.random.default_rng(seed)
    price = 100.0
    rows = []
    for day in session_days(sessions):
        first = ns(f"{day.isoformat()}T14:30")
        drift = rng.normal(0, 0.4)
        for i in range(per_session):
            o = price
            price = max(1.0, price + drift + rng.normal(0, 0.6))
            c = price
            hi, lo = max(o, c) + 0.1, min(o, c) - 0.1
            rows.append(
                (
                    instrument,
                    first + i * 60 * P,
                    int(o * P),
                    int(hi * P),
                    int(lo * P),
                    int(c * P),
                    100 + i,
                )
            )
    return rows


def ingest_sessions(folder: Path, *, symbol: str = "AAPL", sessions: int = SESSIONS) -> int:
    """Ingest the sessions through the real ingest path; returns the publisher id."""
    days = session_days(sessions)
    last = days[-1] + dt.timedelta(days=1)
    return ingest_bars(
        folder,
        bars=session_bars(sessions=sessions),
        mappings={symbol: [(days[0].isoformat(), last.isoformat(), INSTRUMENT)]},
        name="sessions",
    )
