"""The trading days a walk-forward is laid over: the UTC days on which the chosen symbols
have at least one bar of the chosen period, within the chosen dates (the same definition of a
trading day as a run's daily equity)."""

from __future__ import annotations

from datetime import date

import numpy as np

from backtests.services.backtest_spec import BacktestSpec
from backtests.services.evaluation import datafeed_build

NS_PER_DAY = 86_400 * 10**9
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def trading_days_of(spec: BacktestSpec) -> list[date]:
    """The spec's trading days, ascending (one pass over its bars' timestamps)."""
    found: list[np.ndarray] = []
    for chunk in datafeed_build(spec).chunks():
        for part in chunk.parts:
            ts = np.asarray(part.ts, dtype=np.int64)
            if ts.size:
                found.append(np.unique(ts // NS_PER_DAY))
    if not found:
        return []
    return [date.fromordinal(_EPOCH_ORDINAL + int(d)) for d in np.unique(np.concatenate(found))]
