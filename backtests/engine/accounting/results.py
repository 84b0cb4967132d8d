"""What an account ends with: per symbol, the equity series and the whole account."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from backtests.engine.accounting.running import lengths_of, stable_order, starts_of


@dataclass(eq=False)
class SymbolAccount:
    """One symbol's share of the account at the end (or so far)."""

    symbol: str
    position: float = 0.0
    avg_price: float = 0.0
    last_close: float = math.nan
    realised: float = 0.0  # before commission
    commission: float = 0.0
    traded_notional: float = 0.0
    fills: int = 0
    bars: int = 0
    bars_in_position: int = 0
    pnl: float = 0.0  # marked to market at the last close, after commission
    pnl_peak: float = 0.0
    max_drawdown: float = 0.0

    def __eq__(self, other: object) -> bool:
        return _same(self, other)

    @property
    def open_pnl(self) -> float:
        """The position valued at its last close against its average entry price."""
        if self.position == 0.0 or not math.isfinite(self.last_close):
            return 0.0
        return self.position * (self.last_close - self.avg_price)


def _same(a: object, b: object) -> bool:
    """Equal, with arrays compared element-wise and NaN equal to NaN (a run is
    deterministic: two runs of one spec must compare equal)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__") and type(a) is type(b):
        return all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@dataclass(eq=False)
class EquityBuckets:
    """The equity series downsampled: per bucket its last timestamp, last, lowest and highest
    equity, last benchmark value and last gross exposure (Σ |position × close|)."""

    ts: np.ndarray
    last: np.ndarray
    low: np.ndarray
    high: np.ndarray
    benchmark: np.ndarray
    gross: np.ndarray
    points_per_bucket: int = 1

    def __len__(self) -> int:
        return int(self.ts.size)

    def __eq__(self, other: object) -> bool:
        return _same(self, other)


@dataclass(eq=False)
class AccountingResult:
    """What a run's account ends with; every money figure a user sees derives from it."""

    capital: float
    symbols: tuple[str, ...]
    equity: float  # at the last timestamp (capital when there was no bar)
    cash: float
    benchmark: float
    commission: float
    realised_before_commission: float
    open_pnl: float
    traded_notional: float
    bars: int
    timestamps: int
    timestamps_in_position: int
    first_ts: int | None
    last_ts: int | None
    max_drawdown: float  # money, >= 0, of the equity at every timestamp
    max_drawdown_pct: float  # of the running peak, >= 0
    max_drawdown_duration_ns: int  # longest time from a peak until equity regained it
    max_gross_exposure: float
    max_leverage: float | None  # max over timestamps of gross exposure / equity
    min_equity: float
    days: np.ndarray  # int64 UTC day numbers (days since 1970-01-01) of trading days
    daily_equity: np.ndarray
    daily_benchmark: np.ndarray
    series: EquityBuckets
    per_symbol: dict[str, SymbolAccount]
    fills: dict[str, np.ndarray]  # ts, symbol (index), side_sign, quantity, price, commission
    position_bars: Mapping[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def net_pnl(self) -> float:
        return self.equity - self.capital

    def __eq__(self, other: object) -> bool:
        return _same(self, other)


class PositionBars(Mapping[str, dict[str, np.ndarray]]):
    """The bars each symbol spent in, entered or left a position, by symbol: ``ts``, ``high``
    and ``low`` in time order. Kept as the stretches of bars the account marked, and grouped
    by symbol when first read (by the round trips' watermarks, after the run)."""

    def __init__(self, symbols: tuple[str, ...], parts: list[tuple[np.ndarray, ...]]) -> None:
        self._symbols = symbols
        self._parts: list[tuple[np.ndarray, ...]] | None = parts
        self._by_symbol: dict[str, dict[str, np.ndarray]] = {}

    def _grouped(self) -> dict[str, dict[str, np.ndarray]]:
        if self._parts is not None:
            parts, self._parts = self._parts, None
            if parts:
                g, ts, high, low = (np.concatenate(c) for c in zip(*parts, strict=True))
                order = stable_order(g, len(self._symbols))  # stretches came in time order
                g, ts, high, low = g[order], ts[order], high[order], low[order]
                starts = starts_of(g)
                ends = starts + lengths_of(starts, g.size)
                self._by_symbol = {
                    self._symbols[int(g[a])]: {"ts": ts[a:b], "high": high[a:b], "low": low[a:b]}
                    for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
                }
        return self._by_symbol

    def __getitem__(self, symbol: str) -> dict[str, np.ndarray]:
        return self._grouped()[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._grouped())

    def __len__(self) -> int:
        return len(self._grouped())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PositionBars):
            other = other._grouped()
        return isinstance(other, dict) and _same(self._grouped(), other)

    def __repr__(self) -> str:
        return repr(self._grouped())
