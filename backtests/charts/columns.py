"""The data behind the interactive charts, as columns (one list per field) ready for the
browser: a window of one symbol's bars with the run's indicators and fills, and a run's
equity curve.

Bars are read as the PNG charts read them (``loading``: the run's recorded bars, else the
security master's through the run's symbology) but a window holds at most
``MAX_CHART_BARS`` bars: a larger one is refused with the limit, never cut or thinned, so
what is drawn is every bar there is. Times are UTC seconds, the unit the chart library
takes (bars are at least a second apart); fills keep their milliseconds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from backtests.charts import loading, price
from backtests.models import ACTIVE_STATUSES, ProcessedBar, RecordedBar, Run
from ostsite.errors import Conflict, InvalidInput

MAX_CHART_BARS = 50_000
MAX_CONTEXT_BARS = 1_000
TOO_MANY_BARS = (
    "The window holds more than {limit:,} bars of {symbol}: choose a shorter one "
    "(at most {limit:,} bars)"
)
CONTEXT_INVALID = f"context must be a whole number from 0 to {MAX_CONTEXT_BARS}"
INVALID_WINDOW = "Invalid chart data request"
PLACEMENTS = ("overlay", "panel")
STYLES = ("line", "dashed", "dots")
_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000


def _seconds(ts: np.ndarray) -> list[int]:
    return (np.asarray(ts, dtype=np.int64) // _NS_PER_S).tolist()


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    """Floats for JSON: NaN and infinities (no value yet, e.g. an indicator warming up) as
    null."""
    return [v if math.isfinite(v) else None for v in np.asarray(values, dtype=float).tolist()]


def _window_count(run: Run, symbol: str, start_ns: int, end_ns: int, limit: int) -> int:
    """Bars of ``symbol`` in [start_ns, end_ns], counted up to ``limit`` + 1 at most."""
    for model in (ProcessedBar, RecordedBar):
        rows = model.objects.filter(run=run, symbol=symbol)
        if rows.exists():
            inside = rows.filter(ts_event_ns__gte=start_ns, ts_event_ns__lte=end_ns)
            return inside.order_by().values("pk")[: limit + 1].count()
    feed = loading._secmaster_feed(run, [symbol])
    if feed is None:
        return 0
    feed.start_ns, feed.end_ns = start_ns, end_ns + 1
    count = 0
    for batch in feed.batches():
        count += len(batch)
        if count > limit:
            break
    return count


def _indicators(run: Run, bars: loading.Bars) -> list[dict[str, Any]]:
    """Each indicator with any value, with its drawing hints: ``overlay`` on the price pane,
    ``panel`` in a pane of its own (the default, as on the PNG charts)."""
    hints = loading.indicator_hints(run)
    shown = []
    for name, values in bars.indicators.items():
        if not np.isfinite(values).any():
            continue
        hint = hints.get(name, {})
        placement = hint.get("placement") if hint.get("placement") in PLACEMENTS else "panel"
        color = hint.get("color") if isinstance(hint.get("color"), str) else None
        line_style = hint.get("style") if hint.get("style") in STYLES else "line"
        shown.append(
            {
                "name": name,
                "placement": placement,
                "color": color,
                "style": line_style,
                "values": _finite_or_none(values),
            }
        )
    return shown


def _fills(run: Run, symbol: str, lo_ns: int, hi_ns: int) -> dict[str, list]:
    fills = loading.fills_frame(run, symbol=symbol, start_ns=lo_ns, end_ns=hi_ns)
    ts = fills["ts"].to_numpy(dtype=np.int64)
    return {
        "time": ((ts // _NS_PER_MS) / 1000.0).tolist(),
        "side": fills["side"].str.upper().tolist(),
        "price": fills["price"].astype(float).tolist(),
        "qty": fills["qty"].astype(float).tolist(),
    }


def chart_columns_get(
    *, run_id: str, symbol: str, start_ns: int, end_ns: int, context: int = 0
) -> dict[str, Any]:
    """Bars of ``symbol`` from ``start_ns`` to ``end_ns`` (UTC ns, inclusive) plus up to
    ``context`` bars either side, the run's indicators on them with their drawing hints, and
    the fills from the first bar shown to the end of the last.

    Raises ``InvalidInput`` for bad arguments or a window of more than ``MAX_CHART_BARS``
    bars (the message says the limit), ``NotFound`` for an unknown run or a symbol that is
    not one of the run's.
    """
    fields = price.span_fields(symbol, start_ns, end_ns)
    whole = isinstance(context, int) and not isinstance(context, bool)
    if not whole or not 0 <= context <= MAX_CONTEXT_BARS:
        fields["context"] = CONTEXT_INVALID
    if fields:
        raise InvalidInput(INVALID_WINDOW, fields=fields)
    run = loading.run_get(run_id)
    loading.symbol_check(run, symbol)
    if _window_count(run, symbol, start_ns, end_ns, MAX_CHART_BARS) > MAX_CHART_BARS:
        message = TOO_MANY_BARS.format(limit=MAX_CHART_BARS, symbol=symbol)
        raise InvalidInput(message, fields={"end_ns": message})
    bars = loading.trade_window_bars(run, symbol, start_ns, end_ns, context)
    period = loading.run_bar_period(run)
    if len(bars):
        step = period.nanoseconds if period is not None else 1
        lo_ns, hi_ns = int(bars.ts[0]), int(bars.ts[-1]) + step - 1
    else:
        lo_ns, hi_ns = start_ns, end_ns
    return {
        "run_id": run.run_id,
        "symbol": symbol,
        "bar_period": period.name if period is not None else None,
        "source": bars.source,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "max_bars": MAX_CHART_BARS,
        "count": len(bars),
        "bars": {
            "time": _seconds(bars.ts),
            "open": _finite_or_none(bars.open),
            "high": _finite_or_none(bars.high),
            "low": _finite_or_none(bars.low),
            "close": _finite_or_none(bars.close),
        },
        "indicators": _indicators(run, bars),
        "fills": _fills(run, symbol, lo_ns, hi_ns),
    }


def equity_columns_get(*, run_id: str, symbol: str | None = None) -> dict[str, Any]:
    """The run's stored equity series (or one symbol's account, replayed from its fills, as
    the equity PNG draws it) as columns: time, equity (each bucket's last), its low and high,
    and the drawdown from the running peak (<= 0, in money).

    A run still queued or running has no stored series yet: ``Conflict`` from the results
    selectors. Raises ``NotFound`` for an unknown run or symbol.
    """
    from backtests.results.replay import run_account_replay
    from backtests.results.selectors import RUN_NOT_FINISHED, equity_series_get

    run = loading.run_get(run_id)
    loading.symbol_check(run, symbol)
    if symbol is None:
        series, attrs = equity_series_get(run)
        capital = float(attrs.get("capital", 0.0) or 0.0)
    else:
        if run.status in ACTIVE_STATUSES:
            raise Conflict(RUN_NOT_FINISHED.format(run_id=run.run_id, status=run.status))
        account = run_account_replay(run, symbols=[symbol])
        buckets = account.series
        series = {"ts": buckets.ts, "last": buckets.last, "low": buckets.low, "high": buckets.high}
        capital = float(account.capital)
    ts = np.asarray(series["ts"], dtype=np.int64)
    last = np.asarray(series["last"], dtype=float)
    low = np.asarray(series.get("low", last), dtype=float)
    high = np.asarray(series.get("high", last), dtype=float)
    peak = np.maximum(np.maximum.accumulate(high), capital) if ts.size else high
    return {
        "run_id": run.run_id,
        "symbol": symbol,
        "capital": capital,
        "time": _seconds(ts),
        "equity": _finite_or_none(last),
        "low": _finite_or_none(low),
        "high": _finite_or_none(high),
        "drawdown": _finite_or_none(np.minimum(low - peak, 0.0)) if ts.size else [],
    }
