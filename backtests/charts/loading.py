"""What the charts read: the run, its bars (recorded or from the security master), its fills.

Everything leaves as numpy arrays or pandas frames, ready for vectorised drawing.
Bars come from the run's ``bars_processed`` (with indicator values), else its ``bars``; a run
recorded with ``record="trades"`` has neither, so its bars are read back from the security
master through the same symbology join the backtest used (``SecmasterDatafeed``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from backtests.engine.enums import BarPeriod
from backtests.feeds import SecmasterDatafeed
from backtests.models import Fill, ProcessedBar, RecordedBar, Run
from ostsite.errors import NotFound

RUN_NOT_FOUND = "Run not found: {run_id}"
SYMBOL_NOT_IN_RUN = "Symbol not in run: {symbol}"

# How far back/forward to look for context bars in the security master, in bar periods;
# widened step by step when nights, weekends or holidays leave too few bars.
_SEARCH_FACTORS = (3, 30, 300, 3000)


@dataclass(frozen=True)
class Bars:
    """Bars of one symbol in time order; ``indicators`` maps a name to one value per bar."""

    ts: np.ndarray  # int64 UTC ns
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    indicators: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "recorded"  # "recorded" | "secmaster"

    def __len__(self) -> int:
        return int(self.ts.size)

    @classmethod
    def from_rows(cls, rows: list[tuple], *, source: str, with_indicators: bool) -> Bars:
        """Rows of (ts, open, high, low, close[, indicators JSON text])."""
        n = len(rows)
        ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        ohlc = np.array([r[1:5] for r in rows], dtype=float).reshape(n, 4)
        indicators = _indicator_arrays([r[5] for r in rows]) if with_indicators else {}
        return cls(ts, ohlc[:, 0], ohlc[:, 1], ohlc[:, 2], ohlc[:, 3], indicators, source)


def _indicator_arrays(texts: list[str | None]) -> dict[str, np.ndarray]:
    parsed = [json.loads(t) if t else {} for t in texts]
    names: dict[str, None] = {}
    for values in parsed:
        names.update(dict.fromkeys(values))
    return {
        name: np.array([_as_float(values.get(name)) for values in parsed], dtype=float)
        for name in names
    }


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


# --- Run and symbols ------------------------------------------------------------------------
def run_get(run_id: str) -> Run:
    """The run, or ``NotFound`` naming the id."""
    run = None
    if isinstance(run_id, str) and "\x00" not in run_id:  # PostgreSQL refuses NUL in text
        run = Run.objects.filter(run_id=run_id).first()
    if run is None:
        raise NotFound(RUN_NOT_FOUND.format(run_id=str(run_id).replace("\x00", "\\x00")))
    return run


def run_symbols(run: Run) -> list[str]:
    symbols = (run.config or {}).get("symbols") or []
    return [str(s) for s in symbols]


def symbol_check(run: Run, symbol: str | None) -> None:
    """``NotFound`` unless ``symbol`` is None or one of the run's configured symbols."""
    if symbol is not None and symbol not in run_symbols(run):
        raise NotFound(SYMBOL_NOT_IN_RUN.format(symbol=symbol))


def run_bar_period(run: Run) -> BarPeriod | None:
    config = run.config or {}
    name = config.get("bar_period")
    if isinstance(name, str) and name in BarPeriod.__members__:
        return BarPeriod[name]
    try:
        return BarPeriod.from_rtype(int(config.get("rtype")))
    except (TypeError, ValueError):
        return None


def indicator_hints(run: Run) -> dict[str, dict]:
    """name -> {"placement", "color", "style"} from the run's metadata."""
    hints = (run.metadata or {}).get("indicators") or []
    return {h["name"]: h for h in hints if isinstance(h, dict) and "name" in h}


# --- Round trips ----------------------------------------------------------------------------


TRADE_CHART_FIELDS = (
    "pnl_before_commission",
    "pnl_after_commission",
    "high_watermark",
    "low_watermark",
    "max_drawdown",
    "duration_bars",
)


def roundtrips_frame(run: Run, symbol: str | None) -> pd.DataFrame:
    """The run's round trips (of ``symbol`` if given) in the order they closed, as a frame of
    ``TRADE_CHART_FIELDS`` (numeric columns, read in chunks: a run may have many)."""
    from backtests.results.selectors import roundtrip_columns, roundtrips_queryset

    trips = roundtrips_queryset(run, symbol=symbol).order_by("exit_ts", "entry_ts", "symbol")
    return pd.DataFrame(roundtrip_columns(trips, *TRADE_CHART_FIELDS))


def chart_trades(run_id: str, symbol: str | None, title: str) -> tuple[pd.DataFrame, str]:
    """Round trips for a trade-level chart and the chart's title (naming the symbol if any).

    Raises NotFound for an unknown run, or a symbol the run does not trade.
    """
    run = run_get(run_id)
    symbol_check(run, symbol)
    return roundtrips_frame(run, symbol), (title if symbol is None else f"{title} · {symbol}")


def no_trades_message(symbol: str | None) -> str:
    return f"No trades for {symbol}" if symbol is not None else "No trades in this run"


# --- Fills ------------------------------------------------------------------------------------
def fills_frame(
    run: Run,
    *,
    symbol: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> pd.DataFrame:
    """Fills in time order: ts (event time, ns), symbol, side, qty, price, commission, signed."""
    qs = Fill.objects.filter(run=run)
    if symbol is not None:
        qs = qs.filter(symbol=symbol)
    if start_ns is not None:
        qs = qs.filter(ts_event_ns__gte=start_ns)
    if end_ns is not None:
        qs = qs.filter(ts_event_ns__lte=end_ns)
    rows = list(
        qs.order_by("ts_event_ns", "id").values_list(
            "ts_event_ns", "symbol", "side", "quantity_filled", "fill_price", "commission"
        )
    )
    frame = pd.DataFrame(rows, columns=["ts", "symbol", "side", "qty", "price", "commission"])
    frame = frame.astype(
        {"ts": "int64", "qty": "float64", "price": "float64", "commission": "float64"}
    )
    frame["signed"] = np.where(frame["side"].str.upper() == "BUY", frame["qty"], -frame["qty"])
    return frame


# --- Bars around one trade ----------------------------------------------------------------------
def trade_window_bars(run: Run, symbol: str, start_ns: int, end_ns: int, context: int) -> Bars:
    """The bars from ``start_ns`` to ``end_ns`` plus up to ``context`` bars either side."""
    for model, with_ind in ((ProcessedBar, True), (RecordedBar, False)):
        if model.objects.filter(run=run, symbol=symbol).exists():
            return _recorded_window(model, run, symbol, start_ns, end_ns, context, with_ind)
    return _secmaster_window(run, symbol, start_ns, end_ns, context)


def window_bars(run: Run, symbol: str, start_ns: int, end_ns: int) -> Bars:
    """Exactly the bars from ``start_ns`` to ``end_ns`` (inclusive), no context."""
    return trade_window_bars(run, symbol, start_ns, end_ns, 0)


def _recorded_window(model, run, symbol, start_ns, end_ns, context, with_ind) -> Bars:
    cols = ["ts_event_ns", "open", "high", "low", "close"] + (["indicators"] if with_ind else [])
    base = model.objects.filter(run=run, symbol=symbol)
    before = list(
        base.filter(ts_event_ns__lt=start_ns).order_by("-ts_event_ns").values_list(*cols)[:context]
    )
    inside = list(
        base.filter(ts_event_ns__gte=start_ns, ts_event_ns__lte=end_ns)
        .order_by("ts_event_ns")
        .values_list(*cols)
    )
    after = list(
        base.filter(ts_event_ns__gt=end_ns).order_by("ts_event_ns").values_list(*cols)[:context]
    )
    return Bars.from_rows(
        before[::-1] + inside + after, source="recorded", with_indicators=with_ind
    )


def _secmaster_feed(run: Run, symbols: list[str]) -> SecmasterDatafeed | None:
    config = run.config or {}
    period = run_bar_period(run)
    publisher_id = config.get("publisher_id")
    if period is None or publisher_id is None or not symbols:
        return None
    return SecmasterDatafeed(
        symbols=symbols,
        bar_period=period,
        publisher_id=int(publisher_id),
        start_date=_config_date(config.get("start_date")),
        end_date=_config_date(config.get("end_date")),
    )


def _config_date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _feed_rows(feed: SecmasterDatafeed, lo_ns: int | None, hi_ns: int | None) -> list[tuple]:
    """(ts, symbol, o, h, l, c) of the feed, narrowed to [lo_ns, hi_ns)."""
    feed.start_ns, feed.end_ns = lo_ns, hi_ns
    return [
        (bar[0], bar[2], bar[4], bar[5], bar[6], bar[7])
        for batch in feed.batches()
        for bar in batch
    ]


def _secmaster_window(run: Run, symbol: str, start_ns: int, end_ns: int, context: int) -> Bars:
    feed = _secmaster_feed(run, [symbol])
    if feed is None:
        return Bars.from_rows([], source="secmaster", with_indicators=False)
    step = feed.bar_period.nanoseconds
    inside = _feed_rows(feed, start_ns, end_ns + 1)
    before: list[tuple] = []
    after: list[tuple] = []
    for factor in _SEARCH_FACTORS:
        span = factor * context * step
        if len(before) < context:
            before = _feed_rows(feed, start_ns - span, start_ns)[-context:]
        if len(after) < context:
            after = _feed_rows(feed, end_ns + 1, end_ns + 1 + span)[:context]
        if len(before) >= context and len(after) >= context:
            break
    rows = [(r[0], *r[2:]) for r in before + inside + after]
    return Bars.from_rows(rows, source="secmaster", with_indicators=False)
