"""The account: cash, positions and their marks, fed fills and walked bars (see the
package's docstring)."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

import numpy as np

from backtests.engine.accounting.layout import symbol_layout
from backtests.engine.accounting.results import AccountingResult, PositionBars, SymbolAccount
from backtests.engine.accounting.running import (
    changes,
    ends_of,
    running_from,
    running_max,
)
from backtests.engine.accounting.series import Downsampler
from backtests.engine.events import FillEvent
from backtests.engine.positions import PositionBook

NS_PER_DAY = 86_400 * 1_000_000_000
DEFAULT_CAPITAL = 100_000.0
DEFAULT_MAX_POINTS = 10_000

FILL_OUTSIDE_BARS = "fill #{index} of {symbol} at {ts} has no bar in the stretch it was booked in"


_SCAN_WIDTH = 64  # timestamps with at most this many bars are scanned, wider ones sorted


def _bars_of_fills(ts: np.ndarray, g: np.ndarray, f_ts: np.ndarray, f_g: np.ndarray) -> np.ndarray:
    """The bar (index into the stretch) each fill belongs to: the bar of its symbol ``f_g``
    at its timestamp ``f_ts``; -1 where there is none. The stretch's timestamps are sorted."""
    n = ts.size
    lo = np.searchsorted(ts, f_ts, side="left")
    hi = np.searchsorted(ts, f_ts, side="right")
    bar = np.full(f_ts.size, -1, dtype=np.int64)
    width = int((hi - lo).max())
    if width <= _SCAN_WIDTH:  # a few bars a timestamp: look at each of them at once
        candidates = lo[:, None] + np.arange(width)
        mine = (candidates < hi[:, None]) & (g[np.minimum(candidates, n - 1)] == f_g[:, None])
        found = mine.any(axis=1)
        if found.any():
            bar[found] = lo[found] + mine[found].argmax(axis=1)
        return bar
    # Many bars a timestamp: key the bars by (timestamp's rank, symbol) and search the keys.
    change = changes(ts)
    rank = np.cumsum(change) - 1
    width = int(g.max()) + 1
    bar_key = rank * width + g
    key_order = np.argsort(bar_key, kind="stable")
    sorted_keys = bar_key[key_order]
    f_key = rank[np.minimum(lo, n - 1)] * width + f_g
    where = np.minimum(np.searchsorted(sorted_keys, f_key), n - 1)
    found = (lo < hi) & (sorted_keys[where] == f_key)
    bar[found] = key_order[where[found]]
    return bar


def _timestamp_ends(ts: np.ndarray) -> slice | np.ndarray:
    """Where each timestamp's last bar is (``ts`` sorted): a slice when the timestamps have
    the same number of bars each (no copies then), else their indices."""
    n = ts.size
    ends = ends_of(ts)
    step = n // ends.size
    if ends.size * step == n and bool((ends[:-1] + step == ends[1:]).all()):
        return slice(step - 1, n, step)
    return ends


class Accounting:
    """Marks a run's positions to market; see the module docstring."""

    def __init__(
        self,
        *,
        symbols: Sequence[str],
        capital: float = DEFAULT_CAPITAL,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> None:
        if not (isinstance(capital, int | float) and math.isfinite(capital) and capital > 0):
            raise ValueError(f"capital must be a positive finite number, got {capital!r}")
        self.capital = float(capital)
        self.symbols = tuple(dict.fromkeys(symbols))
        self.index = {symbol: i for i, symbol in enumerate(self.symbols)}
        n = len(self.symbols)
        self.book = PositionBook()
        self.cash = self.capital
        self.positions = np.zeros(n)
        self.last_close = np.full(n, np.nan)
        self.first_open = np.full(n, np.nan)
        self.cashflow = np.zeros(n)  # per symbol: Σ cash moves of its fills
        self.pnl_peak = np.zeros(n)
        self.max_dd = np.zeros(n)
        self.bars_per_symbol = np.zeros(n, dtype=np.int64)
        self.bars_in_position = np.zeros(n, dtype=np.int64)
        self.realised = np.zeros(n)
        self.commission = np.zeros(n)
        self.notional = np.zeros(n)
        self.fill_counts = np.zeros(n, dtype=np.int64)
        self.weight = self.capital / n if n else 0.0
        # The account at the end of the last bar handled.
        self.marked_equity = self.capital  # the equity after the last bar marked
        self.marked_cash = self.capital  # the cash of the fills marked so far, in bar order
        self.gross = 0.0
        self.bench_value = self.capital
        self.n_open = 0
        # Fills booked since the last stretch of bars, and all fills of the run.
        self._pending_from = 0  # fills from this index on await their bar
        self._fill_cash = array("d")
        self._fill_ts = array("q")
        self._fill_sym = array("q")
        self._fill_side = array("b")
        self._fill_qty = array("d")
        self._fill_price = array("d")
        self._fill_commission = array("d")
        # Timestamp statistics.
        self.bars = 0
        self.timestamps = 0
        self.timestamps_in_position = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        # The last timestamp marked (ts, equity, benchmark, gross, in position): the next
        # stretch may hold more of its bars.
        self._pending_point: tuple[int, float, float, float, bool] | None = None
        self.peak = self.capital
        self.peak_ts: int | None = None
        self.underwater = False
        self.max_drawdown = 0.0
        self.max_drawdown_pct = 0.0
        self.max_duration = 0
        self.max_gross = 0.0
        self.max_leverage: float | None = 0.0
        self.min_equity = self.capital
        self._days = array("q")
        self._daily_equity = array("d")
        self._daily_bench = array("d")
        self._series = Downsampler(max_points)
        self._position_bars: list[tuple[np.ndarray, ...]] = []

    # --- fills ---------------------------------------------------------------------------

    def on_fill(self, fill: FillEvent) -> None:
        """Book a fill: cash, position, realised P&L; marked with its bar in ``on_bars``."""
        self.book_fill(
            ts=fill.ts_event_ns,
            symbol=fill.symbol,
            side_sign=1 if fill.side.sign > 0 else -1,
            quantity=fill.quantity_filled,
            price=fill.fill_price,
            commission=fill.commission,
        )

    def book_fill(
        self,
        *,
        ts: int,
        symbol: str,
        side_sign: int,
        quantity: float,
        price: float,
        commission: float,
    ) -> None:
        """``on_fill`` from plain values (a fill read back from the database)."""
        g = self.index.get(symbol)
        if g is None:
            raise ValueError(f"fill of {symbol!r}, which is not one of {self.symbols}")
        signed = side_sign * quantity
        self.realised[g] += self.book.apply(symbol, signed, price)
        self.commission[g] += commission
        self.notional[g] += abs(signed) * price
        self.fill_counts[g] += 1
        cash = -signed * price - commission
        self.cash += cash
        self._fill_cash.append(cash)
        self._fill_ts.append(ts)
        self._fill_sym.append(g)
        self._fill_side.append(side_sign)
        self._fill_qty.append(quantity)
        self._fill_price.append(price)
        self._fill_commission.append(commission)

    # --- bars ----------------------------------------------------------------------------

    def on_bars(
        self,
        *,
        ts: np.ndarray,
        code: np.ndarray,
        symbols: Sequence[str],
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
    ) -> None:
        """Mark the bars just walked (delivery order; ``symbols[code[i]]`` is bar i's symbol)
        with the fills booked since the previous call, which all belong to these bars."""
        n = int(ts.size)
        if n == 0:
            if self._pending_from < len(self._fill_ts):
                self._fail_fill(self._pending_from)
            return
        ts = np.asarray(ts, dtype=np.int64)
        lookup = np.array([self.index.get(s, -1) for s in symbols], dtype=np.int64)
        g = lookup[np.asarray(code, dtype=np.int64)]
        if (g < 0).any():
            raise ValueError("bars of a symbol the account does not hold")
        close = np.asarray(close, dtype=float)
        dq, dcash = self._fills_at_bars(ts, g)

        # Per symbol, in time order (the layout's order).
        layout = symbol_layout(g, len(self.symbols))
        by_symbol, first_g = layout.by_symbol, layout.first
        pos_before = self.positions[first_g]
        pos, flows = layout.running(
            np.vstack((by_symbol(dq), by_symbol(dcash))),
            np.vstack((pos_before, self.cashflow[first_g])),
        )
        pos[np.abs(pos) < 1e-9] = 0.0
        cs = by_symbol(close)
        value = pos * cs
        prev_value = layout.previous(value, np.nan_to_num(pos_before * self.last_close[first_g]))
        prev_pos = layout.previous(pos, pos_before)
        # Benchmark: a symbol's part is invested at the open of its first bar.
        new = np.isnan(self.first_open[first_g])
        if new.any():
            opens = layout.first_of(by_symbol(np.asarray(open, dtype=float)))
            self.first_open[first_g[new]] = opens[new]
        scale = self.weight / self.first_open[first_g]
        bench_value = layout.times(cs, scale)
        prev_bench = layout.previous(
            bench_value, np.where(new, self.weight, scale * self.last_close[first_g])
        )
        held = pos != 0.0
        was_held = prev_pos != 0.0

        # The account after each bar, in delivery order: equity moves by the change of the
        # bar's position value and the cash of its fills.
        deltas = layout.in_delivery_order(
            np.stack(
                (value - prev_value, np.abs(value) - np.abs(prev_value), bench_value - prev_bench)
            )
        )
        deltas[0] += dcash
        equity, gross, bench = running_from(
            np.array([self.marked_equity, self.gross, self.bench_value]), deltas
        )
        # Positions open: whole numbers, so any order of additions gives the same count.
        opened = layout.in_delivery_order(held.view(np.int8) - was_held.view(np.int8))
        n_open = self.n_open + np.cumsum(opened, dtype=np.int64)

        # Per-symbol state and statistics.
        self.positions[first_g] = layout.last_of(pos)
        self.last_close[first_g] = layout.last_of(cs)
        self.cashflow[first_g] = layout.last_of(flows)
        if len(self.symbols) > 1:  # with one symbol, its drawdown is the account's
            pnl = flows + value
            peaks = layout.running_max(pnl, self.pnl_peak[first_g])
            worst = layout.max_of(peaks - pnl)
            self.max_dd[first_g] = np.maximum(self.max_dd[first_g], worst)
            self.pnl_peak[first_g] = layout.last_of(peaks)
        self.bars_per_symbol[first_g] += layout.lengths
        self.bars_in_position[first_g] += layout.count_of(held)
        in_trade = layout.in_delivery_order(held | was_held)
        if in_trade.any():
            self._keep_position_bars(ts, high, low, g, in_trade)

        fill_cash = dcash[dcash != 0]
        if fill_cash.size:  # added in bar order, as the equity's running sum adds them
            self.marked_cash = float(
                running_from(np.array([self.marked_cash]), fill_cash[None])[0, -1]
            )
        self.marked_equity = float(equity[-1])
        self.gross = float(gross[-1])
        self.bench_value = float(bench[-1])
        self.n_open = int(n_open[-1])
        self.bars += n
        self._timestamps(ts, equity, bench, gross, n_open > 0)

    def _fills_at_bars(self, ts: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signed quantity and cash of the pending fills, summed per bar they filled on."""
        n = ts.size
        dq = np.zeros(n)
        dcash = np.zeros(n)
        start, end = self._pending_from, len(self._fill_ts)
        if start == end:
            return dq, dcash
        self._pending_from = end
        f_ts = np.frombuffer(self._fill_ts, dtype=np.int64)[start:end]
        f_g = np.frombuffer(self._fill_sym, dtype=np.int64)[start:end]
        signed = (
            np.frombuffer(self._fill_side, dtype=np.int8)[start:end]
            * np.frombuffer(self._fill_qty, dtype=float)[start:end]
        )
        cash = np.frombuffer(self._fill_cash, dtype=float)[start:end]
        bar = _bars_of_fills(ts, g, f_ts, f_g)
        missing = np.flatnonzero(bar < 0)
        if missing.size:
            self._fail_fill(start + int(missing[0]))
        np.add.at(dq, bar, signed)
        np.add.at(dcash, bar, cash)
        return dq, dcash

    def _fail_fill(self, index: int) -> None:
        symbol = self.symbols[self._fill_sym[index]]
        raise ValueError(
            FILL_OUTSIDE_BARS.format(index=index, symbol=symbol, ts=self._fill_ts[index])
        )

    def _keep_position_bars(self, ts, high, low, g, keep) -> None:
        """Keep (ts, high, low) of the bars a symbol spent in, entered or left a position."""
        columns = (g, ts, np.asarray(high, dtype=float), np.asarray(low, dtype=float))
        if keep.all():  # always in a position: copies, cheaper than picking every bar
            self._position_bars.append(tuple(column.copy() for column in columns))
        elif keep.any():
            self._position_bars.append(tuple(column[keep] for column in columns))

    def _timestamps(self, ts, equity, bench, gross, in_position) -> None:
        """Reduce bars to timestamps (the account after a timestamp's last bar) and feed the
        drawdown, exposure, daily and series statistics. A stretch may end in the middle of
        a timestamp: its last timestamp waits for the next stretch (or ``finish``)."""
        ends = _timestamp_ends(ts)
        points = [ts[ends], equity[ends], bench[ends], gross[ends], in_position[ends]]
        pending = self._pending_point
        self._pending_point = tuple(p[-1].item() for p in points)
        done = [p[:-1] for p in points]  # every timestamp but the last, which may go on
        if pending is not None and pending[0] != int(ts[0]):  # its timestamp is over
            done = [np.concatenate(([before], p)) for before, p in zip(pending, done, strict=True)]
        if done[0].size:
            self._points(*done)

    def _points(self, ts, equity, bench, gross, in_position) -> None:
        if self.first_ts is None:
            self.first_ts = int(ts[0])
            self.peak_ts = int(ts[0])
        self.last_ts = int(ts[-1])
        self.timestamps += int(ts.size)
        self.timestamps_in_position += int(np.count_nonzero(in_position))
        # Drawdown from the running peak (which starts at the capital).
        peak = np.maximum(running_max(equity), self.peak)
        drawdown = peak - equity
        self.max_drawdown = max(self.max_drawdown, float(drawdown.max()))
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(peak > 0, drawdown / peak, 0.0)
        self.max_drawdown_pct = max(self.max_drawdown_pct, float(pct.max()))
        self._durations(ts, equity, peak)
        self.peak = float(peak[-1])
        self.min_equity = min(self.min_equity, float(equity.min()))
        self.max_gross = max(self.max_gross, float(gross.max()))
        if self.max_leverage is not None:
            if ((equity <= 0) & (gross > 0)).any():
                self.max_leverage = None  # equity at or below zero with positions open
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    leverage = np.where(equity > 0, gross / equity, 0.0)
                self.max_leverage = max(self.max_leverage, float(leverage.max()))
        # Daily: the equity after the last timestamp of each UTC day.
        day = ts // NS_PER_DAY
        ends = ends_of(day)
        for d, e, b in zip(
            day[ends].tolist(), equity[ends].tolist(), bench[ends].tolist(), strict=True
        ):
            if self._days and self._days[-1] == d:
                self._daily_equity[-1], self._daily_bench[-1] = e, b
            else:
                self._days.append(d)
                self._daily_equity.append(e)
                self._daily_bench.append(b)
        self._series.add(ts, equity, bench, gross)

    def _durations(self, ts: np.ndarray, equity: np.ndarray, peak: np.ndarray) -> None:
        """Longest time from a peak until the equity is back at it (or until now)."""
        at = np.flatnonzero(equity >= peak)  # points at a peak (a new one or level with it)
        if at.size == 0:  # under water the whole stretch, since the last peak
            self.max_duration = max(self.max_duration, int(ts[-1]) - self.peak_ts)
            self.underwater = True
            return
        # A point at a peak right after points under water ends a stretch that began at the
        # previous peak point (or the carried one, for the first).
        previous_ts = np.concatenate(([self.peak_ts], ts[at[:-1]]))
        previous_at = np.concatenate(([-1], at[:-1]))
        gap = at - previous_at > 1
        if at[0] == 0:
            gap[0] = self.underwater
        if gap.any():
            self.max_duration = max(self.max_duration, int((ts[at[gap]] - previous_ts[gap]).max()))
        self.peak_ts = int(ts[at[-1]])
        self.underwater = bool(at[-1] != ts.size - 1)
        if self.underwater:
            self.max_duration = max(self.max_duration, int(ts[-1]) - self.peak_ts)

    # --- reading -------------------------------------------------------------------------

    @property
    def equity(self) -> float:
        """Cash plus every position at its last close (as of the bars handled so far)."""
        return self.marked_equity + (self.cash - self.marked_cash)

    def finish(self) -> AccountingResult:
        """The account after the last bar handled (call once, when the run is over)."""
        if self._pending_point is not None:
            self._points(*(np.array([value]) for value in self._pending_point))
            self._pending_point = None
        if len(self.symbols) == 1:  # the one symbol's P&L is the equity less the capital
            self.max_dd[0], self.pnl_peak[0] = self.max_drawdown, self.peak - self.capital
        per_symbol = {}
        for i, symbol in enumerate(self.symbols):
            account = SymbolAccount(
                symbol=symbol,
                position=self.book.position(symbol),
                avg_price=self.book.avg_price(symbol),
                last_close=float(self.last_close[i]),
                realised=float(self.realised[i]),
                commission=float(self.commission[i]),
                traded_notional=float(self.notional[i]),
                fills=int(self.fill_counts[i]),
                bars=int(self.bars_per_symbol[i]),
                bars_in_position=int(self.bars_in_position[i]),
                max_drawdown=float(self.max_dd[i]),
                pnl_peak=float(self.pnl_peak[i]),
            )
            value = account.position * account.last_close if account.position else 0.0
            account.pnl = float(self.cashflow[i]) + value
            per_symbol[symbol] = account
        equity = self.equity
        return AccountingResult(
            capital=self.capital,
            symbols=self.symbols,
            equity=equity,
            cash=self.cash,
            benchmark=self.bench_value,
            commission=float(self.commission.sum()),
            realised_before_commission=float(self.realised.sum()),
            open_pnl=float(sum(a.open_pnl for a in per_symbol.values())),
            traded_notional=float(self.notional.sum()),
            bars=self.bars,
            timestamps=self.timestamps,
            timestamps_in_position=self.timestamps_in_position,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            max_drawdown=self.max_drawdown,
            max_drawdown_pct=self.max_drawdown_pct,
            max_drawdown_duration_ns=self.max_duration,
            max_gross_exposure=self.max_gross,
            max_leverage=self.max_leverage,
            min_equity=self.min_equity,
            days=np.frombuffer(self._days, dtype=np.int64).copy(),
            daily_equity=np.frombuffer(self._daily_equity, dtype=float).copy(),
            daily_benchmark=np.frombuffer(self._daily_bench, dtype=float).copy(),
            series=self._series.result(),
            per_symbol=per_symbol,
            fills={
                "ts": np.frombuffer(self._fill_ts, dtype=np.int64).copy(),
                "symbol": np.frombuffer(self._fill_sym, dtype=np.int64).copy(),
                "side_sign": np.frombuffer(self._fill_side, dtype=np.int8).astype(np.int64),
                "quantity": np.frombuffer(self._fill_qty, dtype=float).copy(),
                "price": np.frombuffer(self._fill_price, dtype=float).copy(),
                "commission": np.frombuffer(self._fill_commission, dtype=float).copy(),
            },
            position_bars=PositionBars(self.symbols, self._position_bars),
        )
