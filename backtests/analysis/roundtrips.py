"""Round trips: fills grouped into flat-to-flat trades, with their P&L path over the bars.

Definitions (each a deliberate choice, see also the tests):

- A round trip starts when a symbol's position leaves 0 and ends when it returns to 0.
  Scale-ins and partial exits stay inside it. A fill that crosses through 0 (a reversal) is
  split in two legs: the part that closes the position ends this round trip, the remainder
  opens the opposite one; the fill's commission is split pro rata to the legs' quantities.
- ``pnl_before_commission`` is the trade's cash result, sum(exit value) - sum(entry value)
  for a long (the opposite for a short), which equals average-entry-price accounting over a
  flat-to-flat trade. ``pnl_after_commission`` subtracts every commission of the trade's legs.
- The P&L path is marked on every bar of the symbol whose ``ts_event_ns`` lies in
  [entry_ts, exit_ts] (inclusive, as the original); ``duration_bars`` counts those bars.
  On each bar the state is the one after the trade's fills with a timestamp <= the bar's
  (a fill's timestamp is the bar it filled on, at that bar's open or inside it). The P&L on a
  bar is realised + unrealised before commission: ``position * price - net cash paid``.
  Like the original, bars' HIGH and LOW (not close) give the best and worst P&L of the bar,
  and the high is assumed to come before the low (worst case for the drawdown).
  Unlike the original, the position and average price are those held at that bar (scale-ins
  and partial exits are followed), and the exit bar counts with the position already closed,
  i.e. at the final realised P&L, so low_watermark <= pnl_before_commission <= high_watermark.
- ``high_watermark`` = max(0, best P&L over the bars), ``low_watermark`` = min(0, worst P&L),
  ``max_drawdown`` = largest (running peak of best P&L, starting at 0) - worst P&L, >= 0.
  A trade without bars (none recorded, none in the security master) has 0 for all three.
- A position still open at the end of the run is not a round trip and is left out
  (``trades_from_frames`` keeps it with ``closed`` False for callers that want to count it).
- Order: by symbol, then entry time, as the original lists them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from backtests.analysis.frames import empty_bars_frame
from backtests.analysis.roundtrip_columns import ROUNDTRIP_COLUMNS
from backtests.engine.accounting import AccountingResult

UNKNOWN_SIDE = "Unknown fill side(s) {sides}; expected BUY or SELL"

# Positions are sums of float quantities; anything closer to 0 than this is flat.
_POSITION_DECIMALS = 9
_MONEY_KEYS = (
    "high_watermark",
    "low_watermark",
    "max_drawdown",
    "pnl_before_commission",
    "pnl_after_commission",
    "commission",
)


def empty_trades() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in ROUNDTRIP_COLUMNS})
    for name in ("symbol", "direction"):
        frame[name] = frame[name].astype("object")
    for name in ("duration_bars", "entry_ts", "exit_ts", "n_fills"):
        frame[name] = frame[name].astype("int64")
    frame["closed"] = frame["closed"].astype("bool")
    return frame


def _fill_legs(fills: pd.DataFrame) -> dict[str, np.ndarray]:
    """Fills sorted by (symbol, time), reversals split in two legs, with positions and trade ids.

    Rows with the same symbol and timestamp keep their incoming order (the loader orders them
    by id), so the sort is stable.
    """
    ordered = fills.sort_values(["symbol", "ts_event_ns"], kind="stable")
    side = ordered["side"].to_numpy(dtype=object)
    is_buy = side == "BUY"
    bad = ~is_buy & (side != "SELL")
    if bad.any():
        raise ValueError(UNKNOWN_SIDE.format(sides=sorted({str(s) for s in side[bad]})))
    symbol = ordered["symbol"].to_numpy(dtype=object)
    ts = ordered["ts_event_ns"].to_numpy(dtype=np.int64)
    qty = ordered["quantity_filled"].to_numpy(dtype=float)
    price = ordered["fill_price"].to_numpy(dtype=float)
    commission = ordered["commission"].to_numpy(dtype=float)
    signed = np.where(is_buy, qty, -qty)

    pos_after = pd.Series(signed).groupby(symbol).cumsum().to_numpy().round(_POSITION_DECIMALS)
    pos_before = (pos_after - signed).round(_POSITION_DECIMALS)
    reversal = pos_before * pos_after < 0

    # Split each reversal into a closing leg (-> 0) and an opening leg (0 -> remainder).
    repeats = np.where(reversal, 2, 1)
    src = np.repeat(np.arange(len(ts)), repeats)
    first_leg = np.zeros(len(src), dtype=bool)
    second_leg = np.zeros(len(src), dtype=bool)
    rev_first = (np.cumsum(repeats) - repeats)[reversal]
    first_leg[rev_first] = True
    second_leg[rev_first + 1] = True

    leg_before = np.where(second_leg, 0.0, pos_before[src])
    leg_after = np.where(first_leg, 0.0, pos_after[src])
    # Reversal legs take their size from the positions; other fills keep their exact quantity.
    leg_qty = np.where(reversal[src], np.abs(leg_after - leg_before), qty[src])
    leg_signed = np.sign(signed[src]) * leg_qty
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(qty[src] > 0, leg_qty / qty[src], 0.0)
    leg_commission = np.where(reversal[src], commission[src] * share, commission[src])

    starts = leg_before == 0
    trade_id = np.cumsum(starts) - 1
    return {
        "symbol": symbol[src],
        "ts": ts[src],
        "qty": leg_qty,
        "price": price[src],
        "signed": leg_signed,
        "commission": leg_commission,
        "pos_before": leg_before,
        "pos_after": leg_after,
        "trade_id": trade_id,
    }


def _bar_paths(
    legs: dict[str, np.ndarray],
    first: np.ndarray,
    last: np.ndarray,
    bars: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per trade: number of bars, high watermark, low watermark and max drawdown."""
    n_trades = len(first)
    duration = np.zeros(n_trades, dtype=np.int64)
    high_wm = np.zeros(n_trades)
    low_wm = np.zeros(n_trades)
    max_dd = np.zeros(n_trades)
    if n_trades == 0 or bars.empty:
        return duration, high_wm, low_wm, max_dd

    # Net cash paid into the trade after each leg: P&L at price m = position * m - cash.
    cash = pd.Series(legs["signed"] * legs["price"]).groupby(legs["trade_id"]).cumsum().to_numpy()
    trade_symbol = legs["symbol"][first]
    entry_ts = legs["ts"][first]
    exit_ts = legs["ts"][last]

    pair_trade, pair_best, pair_worst = [], [], []
    bars_by_symbol = {
        sym: group.sort_values("ts_event_ns", kind="stable")
        for sym, group in bars.groupby("symbol", sort=False)
    }
    for sym in pd.unique(trade_symbol):
        sym_bars = bars_by_symbol.get(sym)
        if sym_bars is None:
            continue
        bar_ts = sym_bars["ts_event_ns"].to_numpy(dtype=np.int64)
        bar_high = sym_bars["high"].to_numpy(dtype=float)
        bar_low = sym_bars["low"].to_numpy(dtype=float)
        trades = np.flatnonzero(trade_symbol == sym)
        lo = np.searchsorted(bar_ts, entry_ts[trades], side="left")
        hi = np.searchsorted(bar_ts, exit_ts[trades], side="right")
        counts = hi - lo
        duration[trades] = counts
        total = int(counts.sum())
        if total == 0:
            continue
        owner = np.repeat(trades, counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        bar_idx = np.repeat(lo, counts) + offsets

        # The leg that defines the state on each bar: the trade's last leg at or before it.
        sym_legs = np.flatnonzero(legs["symbol"] == sym)
        sym_leg_ts = legs["ts"][sym_legs]
        pos_in_sym = np.searchsorted(sym_leg_ts, bar_ts[bar_idx], side="right") - 1
        leg = np.minimum(sym_legs[pos_in_sym], last[owner])

        position = legs["pos_after"][leg]
        paid = cash[leg]
        at_high = position * bar_high[bar_idx] - paid
        at_low = position * bar_low[bar_idx] - paid
        pair_trade.append(owner)
        pair_best.append(np.maximum(at_high, at_low))
        pair_worst.append(np.minimum(at_high, at_low))

    if not pair_trade:
        return duration, high_wm, low_wm, max_dd
    owner = np.concatenate(pair_trade)
    best = pd.Series(np.concatenate(pair_best))
    worst = pd.Series(np.concatenate(pair_worst))
    peak = best.groupby(owner).cummax().clip(lower=0.0)
    per_trade = pd.DataFrame(
        {"best": best, "worst": worst, "drawdown": peak - worst, "owner": owner}
    ).groupby("owner")
    seen = per_trade["best"].max()
    idx = seen.index.to_numpy()
    high_wm[idx] = np.maximum(seen.to_numpy(), 0.0)
    low_wm[idx] = np.minimum(per_trade["worst"].min().to_numpy(), 0.0)
    max_dd[idx] = np.maximum(per_trade["drawdown"].max().to_numpy(), 0.0)
    return duration, high_wm, low_wm, max_dd


def trades_from_frames(fills: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """All trades of the fills, closed ones and a still-open last one per symbol (``closed``).

    ``fills`` needs frames.FILL_COLUMNS (rows of one timestamp in execution order), ``bars``
    frames.BAR_COLUMNS. Values are unrounded; open trades have NaN P&L and exit fields.
    """
    fills = fills[fills["quantity_filled"] > 0]
    if fills.empty:
        return empty_trades()
    legs = _fill_legs(fills)
    first = np.flatnonzero(np.r_[True, np.diff(legs["trade_id"]) != 0])
    last = np.r_[first[1:] - 1, len(legs["ts"]) - 1]

    increase = np.abs(legs["pos_after"]) > np.abs(legs["pos_before"])
    value = legs["qty"] * legs["price"]
    entry_qty = np.add.reduceat(np.where(increase, legs["qty"], 0.0), first)
    entry_value = np.add.reduceat(np.where(increase, value, 0.0), first)
    exit_qty = np.add.reduceat(np.where(increase, 0.0, legs["qty"]), first)
    exit_value = np.add.reduceat(np.where(increase, 0.0, value), first)
    commission = np.add.reduceat(legs["commission"], first)
    max_position = np.maximum.reduceat(np.abs(legs["pos_after"]), first)
    direction_sign = np.sign(legs["pos_after"][first])
    closed = legs["pos_after"][last] == 0

    pnl_before = np.where(closed, direction_sign * (exit_value - entry_value), np.nan)
    duration, high_wm, low_wm, max_dd = _bar_paths(legs, first, last, bars)
    with np.errstate(invalid="ignore", divide="ignore"):
        entry_price = entry_value / entry_qty
        exit_price = np.where(exit_qty > 0, exit_value / exit_qty, np.nan)

    return pd.DataFrame(
        {
            "symbol": legs["symbol"][first],
            "direction": np.where(direction_sign > 0, "LONG", "SHORT").astype(object),
            "duration_bars": duration,
            "max_position": max_position,
            "high_watermark": high_wm,
            "low_watermark": low_wm,
            "max_drawdown": max_dd,
            "pnl_before_commission": pnl_before,
            "pnl_after_commission": pnl_before - commission,
            "entry_ts": legs["ts"][first],
            "exit_ts": legs["ts"][last],
            "quantity": entry_qty,
            "entry_price": entry_price,
            "exit_price": exit_price,
            "commission": commission,
            "n_fills": last - first + 1,
            "closed": closed,
        }
    )


def roundtrips_from_frames(fills: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Closed round trips of the fills (see the module docstring), unrounded, in list order."""
    trades = trades_from_frames(fills, bars)
    return trades[trades["closed"]].reset_index(drop=True)


def roundtrips_to_records(roundtrips: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready dicts: money rounded to cents and positions to 4 decimals, as the original."""
    records: list[dict[str, Any]] = []
    for row in roundtrips.itertuples(index=False):
        record = {
            "symbol": str(row.symbol),
            "direction": str(row.direction),
            "duration_bars": int(row.duration_bars),
            "max_position": round(float(row.max_position), 4),
            "entry_ts": int(row.entry_ts),
            "exit_ts": int(row.exit_ts),
            "quantity": round(float(row.quantity), 4),
            "entry_price": round(float(row.entry_price), 6),
            "exit_price": round(float(row.exit_price), 6),
            "n_fills": int(row.n_fills),
        }
        for key in _MONEY_KEYS:
            record[key] = round(float(getattr(row, key)), 2) + 0.0  # +0.0 turns -0.0 into 0.0
        records.append({key: record[key] for key in ROUNDTRIP_COLUMNS if key in record})
    return records


def trades_from_account(account: AccountingResult) -> pd.DataFrame:
    """All trades of a run's account (closed and open, ``trades_from_frames``), computed one
    symbol at a time over that symbol's fills and the bars it held a position on, so memory
    stays bounded by the largest symbol."""
    fills = account.fills
    if fills["ts"].size == 0:
        return empty_trades()
    parts = []
    symbols = np.asarray(account.symbols, dtype=object)
    for index in np.unique(fills["symbol"]).tolist():
        mine = fills["symbol"] == index
        symbol = str(symbols[index])
        fill_frame = pd.DataFrame(
            {
                "ts_event_ns": fills["ts"][mine],
                "symbol": np.full(int(mine.sum()), symbol, dtype=object),
                "side": np.where(fills["side_sign"][mine] > 0, "BUY", "SELL").astype(object),
                "quantity_filled": fills["quantity"][mine],
                "fill_price": fills["price"][mine],
                "commission": fills["commission"][mine],
            }
        )
        held = account.position_bars.get(symbol)
        bar_frame = (
            empty_bars_frame()
            if held is None
            else pd.DataFrame(
                {
                    "ts_event_ns": held["ts"],
                    "symbol": np.full(held["ts"].size, symbol, dtype=object),
                    "high": held["high"],
                    "low": held["low"],
                }
            )
        )
        parts.append(trades_from_frames(fill_frame, bar_frame))
    parts.sort(key=lambda frame: str(frame["symbol"].iloc[0]) if len(frame) else "")
    return pd.concat(parts, ignore_index=True) if parts else empty_trades()
