"""The account: cash, positions and their marks, fed fills and walked bars (see the
package's docstring)."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

import numpy as np

from backtests.engine.accounting.results import AccountingResult, SymbolAccount
from backtests.engine.accounting.series import Downsampler
from backtests.engine.events import FillEvent
from backtests.engine.positions import PositionBook

NS_PER_DAY = 86_400 * 1_000_000_000
DEFAULT_CAPITAL = 100_000.0
DEFAULT_MAX_POINTS = 10_000

FILL_OUTSIDE_BARS = "fill #{index} of {symbol} at {ts} has no bar in the stretch it was booked in"


_SMALL_INT = {True: np.int16, False: np.int64}  # radix sort for few symbols


def _starts(sorted_groups: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts."""
    return np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])


def _running_max(values: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(values)


def _running_max_in_groups(values: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Running maxima restarting at each group (groups are contiguous and numbered 0, 1, ...
    in order): each group is lifted above every earlier one, so one pass serves all."""
    if groups == 1:
        return _running_max(values)
    low = float(values.min())
    span = float(values.max()) - low + 1.0
    lift = group * span - low
    return _running_max(values + lift) - lift


def _running_from(carry: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sums of each row of ``values`` (2-D) started from that row's ``carry``.

    Added one after the other from the carry (``((carry + v0) + v1) + ...``), so a run cut
    into stretches at other places gives the same sums to the last bit: marking does not
    depend on how the bars were batched (sub-batches are sized by time)."""
    return np.cumsum(np.column_stack((carry, values)), axis=1)[:, 1:]


def _group_running(
    values: np.ndarray, carry: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Running sums restarting at each group (contiguous runs), each from its ``carry``, in
    the same order of additions as ``_running_from`` (independent of the batching)."""
    if not values.any():  # no fill in the stretch: every sum stays at its carry, exactly
        return np.repeat(carry, lengths)
    if starts.size == 1:
        return _running_from(carry[:1], values[None, :])[0]
    width = int(lengths.max())
    if starts.size * width <= 4 * values.size:  # a padded rectangle: one vectorised scan
        column = np.arange(values.size) - np.repeat(starts, lengths)
        row = np.repeat(np.arange(starts.size), lengths)
        grid = np.zeros((starts.size, width))
        grid[row, column] = values
        return _running_from(carry, grid)[row, column]
    out = np.empty_like(values)
    for i, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        out[start : start + length] = _running_from(
            carry[i : i + 1], values[None, start : start + length]
        )[0]
    return out


def _shift_in_groups(values: np.ndarray, first: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each element's predecessor in its group; a group's first element gets ``first``."""
    shifted = np.empty_like(values)
    shifted[1:] = values[:-1]
    shifted[starts] = first
    return shifted


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
        self.market_value = 0.0
        self.marked_cash = self.capital  # cash as marked bar by bar (the fills' cash per bar)
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

        # Per symbol, in time order (a stretch of one symbol is in that order already).
        single = bool((g == g[0]).all())
        order = (
            None
            if single
            else np.argsort(g.astype(_SMALL_INT[len(self.symbols) < 32_767]), kind="stable")
        )

        def by_symbol(values: np.ndarray) -> np.ndarray:
            return values if order is None else values[order]

        gs = by_symbol(g)
        starts = np.zeros(1, dtype=np.int64) if single else _starts(gs)
        lengths = np.diff(np.r_[starts, n])
        first_g = gs[starts]
        group = (
            np.zeros(n, dtype=np.int64) if single else np.repeat(np.arange(starts.size), lengths)
        )
        pos_before = self.positions[first_g]
        pos = _group_running(by_symbol(dq), pos_before, starts, lengths)
        pos[np.abs(pos) < 1e-9] = 0.0
        cs = by_symbol(close)
        value = pos * cs
        prev_value = _shift_in_groups(
            value, np.nan_to_num(pos_before * self.last_close[first_g]), starts
        )
        prev_pos = _shift_in_groups(pos, pos_before, starts)
        # Benchmark: a symbol's part is invested at the open of its first bar.
        new = np.isnan(self.first_open[first_g])
        if new.any():
            self.first_open[first_g[new]] = by_symbol(np.asarray(open, dtype=float))[starts[new]]
        scale = (self.weight / self.first_open[first_g])[group]
        bench_value = scale * cs
        prev_bench = _shift_in_groups(
            bench_value,
            np.where(
                new,
                self.weight,
                (self.weight / self.first_open[first_g]) * self.last_close[first_g],
            ),
            starts,
        )
        flows = _group_running(by_symbol(dcash), self.cashflow[first_g], starts, lengths)
        pnl = flows + value
        held = pos != 0.0
        was_held = prev_pos != 0.0

        # The account after each bar, in delivery order.
        deltas = np.stack(
            (
                value - prev_value,
                np.abs(value) - np.abs(prev_value),
                bench_value - prev_bench,
                held.astype(float) - was_held,
            )
        )
        if order is not None:
            unsorted = np.empty_like(deltas)
            unsorted[:, order] = deltas
            deltas = unsorted
        carry = np.array(
            [self.market_value, self.gross, self.bench_value, self.n_open, self.marked_cash]
        )
        market, gross, bench, n_open, cash = _running_from(carry, np.vstack((deltas, dcash)))
        equity = cash + market

        # Per-symbol state and statistics.
        ends = starts + lengths - 1
        self.positions[first_g] = pos[ends]
        self.last_close[first_g] = cs[ends]
        self.cashflow[first_g] = flows[ends]
        if len(self.symbols) > 1:  # with one symbol, its drawdown is the account's
            peaks = np.maximum(_running_max_in_groups(pnl, group, starts.size), self.pnl_peak[gs])
            worst = np.maximum.reduceat(peaks - pnl, starts)
            self.max_dd[first_g] = np.maximum(self.max_dd[first_g], worst)
            self.pnl_peak[first_g] = peaks[ends]
        self.bars_per_symbol[first_g] += lengths
        self.bars_in_position[first_g] += np.add.reduceat(held.astype(np.int64), starts)
        in_trade = held | was_held
        if in_trade.any():
            keep = np.empty(n, dtype=bool)
            if order is None:
                keep = in_trade
            else:
                keep[order] = in_trade
            self._keep_position_bars(ts, high, low, g, keep)

        self.marked_cash = float(cash[-1])
        self.market_value = float(market[-1])
        self.gross = float(gross[-1])
        self.bench_value = float(bench[-1])
        self.n_open = int(round(n_open[-1]))
        self.bars += n
        self._timestamps(ts, equity, bench, gross, n_open > 0.5)

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
        # The stretch's timestamps are sorted: rank them, then key bars by (rank, symbol).
        unique_ts, rank = np.unique(ts, return_inverse=True)
        width = len(self.symbols) + 1
        bar_key = rank.astype(np.int64) * width + g
        key_order = np.argsort(bar_key, kind="stable")
        sorted_keys = bar_key[key_order]
        f_rank = np.minimum(np.searchsorted(unique_ts, f_ts), unique_ts.size - 1)
        f_key = f_rank * width + f_g
        where = np.minimum(np.searchsorted(sorted_keys, f_key), n - 1)
        found = (unique_ts[f_rank] == f_ts) & (sorted_keys[where] == f_key)
        if not found.all():
            self._fail_fill(start + int(np.flatnonzero(~found)[0]))
        bar = key_order[where]
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
        if keep.any():
            self._position_bars.append(
                (
                    g[keep],
                    ts[keep],
                    np.asarray(high, dtype=float)[keep],
                    np.asarray(low, dtype=float)[keep],
                )
            )

    def _timestamps(self, ts, equity, bench, gross, in_position) -> None:
        """Reduce bars to timestamps (the account after a timestamp's last bar) and feed the
        drawdown, exposure, daily and series statistics. A stretch may end in the middle of
        a timestamp: its last timestamp waits for the next stretch (or ``finish``)."""
        last = np.flatnonzero(np.r_[ts[1:] != ts[:-1], True])
        point_ts = ts[last]
        if self._pending_point is not None and self._pending_point[0] != int(point_ts[0]):
            p = self._pending_point
            self._points(
                np.array([p[0]], dtype=np.int64),
                np.array([p[1]]),
                np.array([p[2]]),
                np.array([p[3]]),
                np.array([p[4]]),
            )
        self._pending_point = (
            int(point_ts[-1]),
            float(equity[last[-1]]),
            float(bench[last[-1]]),
            float(gross[last[-1]]),
            bool(in_position[last[-1]]),
        )
        if last.size > 1:
            keep = last[:-1]
            self._points(ts[keep], equity[keep], bench[keep], gross[keep], in_position[keep])

    def _points(self, ts, equity, bench, gross, in_position) -> None:
        if self.first_ts is None:
            self.first_ts = int(ts[0])
            self.peak_ts = int(ts[0])
        self.last_ts = int(ts[-1])
        self.timestamps += int(ts.size)
        self.timestamps_in_position += int(np.count_nonzero(in_position))
        # Drawdown from the running peak (which starts at the capital).
        peak = np.maximum(_running_max(equity), self.peak)
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
        ends = np.flatnonzero(np.r_[day[1:] != day[:-1], True])
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
        previous_ts = np.r_[self.peak_ts, ts[at[:-1]]]
        previous_at = np.r_[-1, at[:-1]]
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
        return self.cash + self.market_value

    def finish(self) -> AccountingResult:
        """The account after the last bar handled (call once, when the run is over)."""
        if self._pending_point is not None:
            p = self._pending_point
            self._pending_point = None
            self._points(
                np.array([p[0]], dtype=np.int64),
                np.array([p[1]]),
                np.array([p[2]]),
                np.array([p[3]]),
                np.array([p[4]]),
            )
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
        equity = self.cash + self.market_value
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
            position_bars=self._position_bars_by_symbol(),
        )

    def _position_bars_by_symbol(self) -> dict[str, dict[str, np.ndarray]]:
        if not self._position_bars:
            return {}
        g, ts, high, low = (np.concatenate(c) for c in zip(*self._position_bars, strict=True))
        order = np.argsort(g, kind="stable")  # stretches came in time order
        g, ts, high, low = g[order], ts[order], high[order], low[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        ends = np.r_[starts[1:], g.size]
        return {
            self.symbols[int(g[a])]: {"ts": ts[a:b], "high": high[a:b], "low": low[a:b]}
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        }
