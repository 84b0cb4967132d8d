"""A run's account rebuilt from what it recorded: its fills, marked on its bars.

Runs keep the account their engine computed (``backtests.results.services``). Runs from
before that, and one symbol of any run (its own P&L path, for the equity chart of one
symbol), are rebuilt here: the fills are read from the database, the bars from the run's
recorded ``bars`` (else ``bars_processed``, else the security master through the same
symbology as the backtest), and both are fed to the same ``Accounting`` the engine uses, a
stretch of whole timestamps at a time, so memory stays bounded by a stretch.

A fill whose bar is missing (bars deleted or never recorded) is marked at its own price.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from backtests.engine.accounting import DEFAULT_CAPITAL, Accounting, AccountingResult
from backtests.engine.enums import BarPeriod
from backtests.feeds import SecmasterDatafeed
from backtests.models import Fill, ProcessedBar, RecordedBar, Run

STRETCH_ROWS = 50_000
_FILL_COLUMNS = ("ts_event_ns", "symbol", "side", "quantity_filled", "fill_price", "commission")


@dataclass
class _Stretch:
    """Bars of whole timestamps in delivery order, ``symbols[code]`` naming each bar's."""

    ts: np.ndarray
    code: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


def run_capital(run: Run) -> float:
    value = (run.config or {}).get("capital", DEFAULT_CAPITAL)
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_CAPITAL


def run_symbol_list(run: Run) -> list[str]:
    symbols = (run.config or {}).get("symbols") or []
    return [s for s in symbols if isinstance(s, str)]


def _config_date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _config_period(config: dict) -> BarPeriod | None:
    name = config.get("bar_period")
    if isinstance(name, str) and name in BarPeriod.__members__:
        return BarPeriod[name]
    rtype = config.get("rtype")
    try:
        return BarPeriod.from_rtype(rtype) if isinstance(rtype, int) else None
    except ValueError:
        return None


def _recorded_stretches(model, run: Run, symbols: Sequence[str]) -> Iterator[_Stretch]:
    names = tuple(symbols)
    code_of = {s: i for i, s in enumerate(names)}
    rows = (
        model.objects.filter(run=run, symbol__in=list(names))
        .order_by("ts_event_ns", "id")
        .values_list("ts_event_ns", "symbol", "open", "high", "low", "close")
        .iterator(chunk_size=10_000)
    )
    buffer: list[tuple] = []
    for row in rows:
        if len(buffer) >= STRETCH_ROWS and row[0] != buffer[-1][0]:
            yield _stretch_of(buffer, code_of, names)
            buffer = []
        buffer.append(row)
    if buffer:
        yield _stretch_of(buffer, code_of, names)


def _stretch_of(rows: list[tuple], code_of: dict[str, int], names: tuple[str, ...]) -> _Stretch:
    ts, symbol, o, h, low, c = zip(*rows, strict=True)
    return _Stretch(
        ts=np.array(ts, dtype=np.int64),
        code=np.array([code_of[s] for s in symbol], dtype=np.int64),
        symbols=names,
        open=np.array(o, dtype=float),
        high=np.array(h, dtype=float),
        low=np.array(low, dtype=float),
        close=np.array(c, dtype=float),
    )


def _secmaster_stretches(run: Run, symbols: Sequence[str]) -> Iterator[_Stretch]:
    config = run.config or {}
    period = _config_period(config)
    publisher_id = config.get("publisher_id")
    if period is None or not isinstance(publisher_id, int) or not symbols:
        return
    feed = SecmasterDatafeed(
        symbols=list(symbols),
        bar_period=period,
        publisher_id=publisher_id,
        start_date=_config_date(config.get("start_date")),
        end_date=_config_date(config.get("end_date")),
    )
    for chunk in feed.chunks():
        columns = chunk.columns()
        yield _Stretch(
            ts=columns["ts"],
            code=columns["code"],
            symbols=tuple(part.symbol for part in chunk.parts),
            open=columns["open"],
            high=columns["high"],
            low=columns["low"],
            close=columns["close"],
        )
        chunk.release()


def _stretches(run: Run, symbols: Sequence[str]) -> Iterator[_Stretch]:
    if (run.config or {}).get("record") != "trades":
        for model in (RecordedBar, ProcessedBar):
            if model.objects.filter(run=run, symbol__in=list(symbols)).exists():
                yield from _recorded_stretches(model, run, symbols)
                return
    yield from _secmaster_stretches(run, symbols)


def _fills(run: Run, symbols: Sequence[str] | None) -> dict[str, np.ndarray]:
    """The run's fills (of ``symbols`` when given) in execution order, as columns."""
    fills = Fill.objects.filter(run=run, quantity_filled__gt=0)
    if symbols is not None:
        fills = fills.filter(symbol__in=list(symbols))
    rows = list(fills.order_by("ts_event_ns", "id").values_list(*_FILL_COLUMNS))
    if not rows:
        return {"ts": np.empty(0, dtype=np.int64), "symbol": np.empty(0, dtype=object)}
    ts, symbol, side, qty, price, commission = zip(*rows, strict=True)
    return {
        "ts": np.array(ts, dtype=np.int64),
        "symbol": np.array(symbol, dtype=object),
        "sign": np.where(np.array(side, dtype=object) == "BUY", 1, -1),
        "quantity": np.array(qty, dtype=float),
        "price": np.array(price, dtype=float),
        "commission": np.array(commission, dtype=float),
    }


def _with_missing_fill_bars(stretch: _Stretch, fills: dict, lo: int, hi: int) -> _Stretch:
    """``stretch`` plus a bar at the fill's price for fills ``lo:hi`` that have none."""
    if hi <= lo:
        return stretch
    names = list(stretch.symbols)
    code_of = {s: i for i, s in enumerate(names)}
    have = set(zip(stretch.ts.tolist(), stretch.code.tolist(), strict=True))
    extra = []
    for i in range(lo, hi):
        symbol = str(fills["symbol"][i])
        if symbol not in code_of:
            code_of[symbol] = len(names)
            names.append(symbol)
        key = (int(fills["ts"][i]), code_of[symbol])
        if key not in have:
            have.add(key)
            extra.append((*key, float(fills["price"][i])))
    if not extra:
        return stretch
    ts = np.r_[stretch.ts, [e[0] for e in extra]].astype(np.int64)
    order = np.argsort(ts, kind="stable")
    prices = np.array([e[2] for e in extra])
    return _Stretch(
        ts=ts[order],
        code=np.r_[stretch.code, [e[1] for e in extra]].astype(np.int64)[order],
        symbols=tuple(names),
        open=np.r_[stretch.open, prices][order],
        high=np.r_[stretch.high, prices][order],
        low=np.r_[stretch.low, prices][order],
        close=np.r_[stretch.close, prices][order],
    )


def run_account_replay(run: Run, *, symbols: Sequence[str] | None = None) -> AccountingResult:
    """The run's account (of ``symbols`` only, when given) rebuilt from its fills and bars;
    without ``symbols``, of the run's symbols and any other its fills name."""
    fills = _fills(run, symbols)
    if symbols is not None:
        chosen = list(symbols)
    else:
        chosen = list(dict.fromkeys([*run_symbol_list(run), *sorted(set(fills["symbol"]))]))
    account = Accounting(symbols=chosen, capital=run_capital(run))
    if not chosen:
        return account.finish()
    n_fills = int(fills["ts"].size)
    booked = 0

    def book(until: int) -> None:
        nonlocal booked
        for i in range(booked, until):
            account.book_fill(
                ts=int(fills["ts"][i]),
                symbol=str(fills["symbol"][i]),
                side_sign=int(fills["sign"][i]),
                quantity=float(fills["quantity"][i]),
                price=float(fills["price"][i]),
                commission=float(fills["commission"][i]),
            )
        booked = until

    def mark(stretch: _Stretch) -> None:
        account.on_bars(
            ts=stretch.ts,
            code=stretch.code,
            symbols=stretch.symbols,
            open=stretch.open,
            high=stretch.high,
            low=stretch.low,
            close=stretch.close,
        )

    for stretch in _stretches(run, chosen):
        if stretch.ts.size == 0:
            continue
        until = int(np.searchsorted(fills["ts"], stretch.ts[-1], side="right")) if n_fills else 0
        stretch = _with_missing_fill_bars(stretch, fills, booked, until)
        book(until)
        mark(stretch)
    if booked < n_fills:  # fills after the last bar: marked at their own prices
        names = tuple(chosen)
        empty = np.empty(0)
        tail = _Stretch(
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int64),
            names,
            empty,
            empty,
            empty,
            empty,
        )
        tail = _with_missing_fill_bars(tail, fills, booked, n_fills)
        book(n_fills)
        mark(tail)
    return account.finish()
