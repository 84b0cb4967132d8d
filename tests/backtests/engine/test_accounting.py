"""The run's account, marked stretch by stretch in numpy, against a plain per-bar ledger.

The reference below walks bars one at a time in Python with nothing but dicts and floats; the
``Accounting`` under test sees the same bars cut into arbitrary stretches (also in the middle
of a timestamp) and must agree on every figure.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtests.engine.accounting import NS_PER_DAY, Accounting
from backtests.engine.enums import TradeSide
from backtests.engine.events import FillEvent

T0 = 1_704_186_000_000_000_000  # 2024-01-02 09:00 UTC
HOUR = 3_600_000_000_000


def fill(ts: int, symbol: str, side: TradeSide, qty: float, price: float, commission: float = 0.0):
    return FillEvent(
        ts_event_ns=ts,
        ts_created_ns=ts,
        ts_broker_ns=ts,
        associated_order_id="O1",
        broker_order_id="B1",
        symbol=symbol,
        fill_id="F1",
        broker_fill_id=None,
        side=side,
        quantity_filled=qty,
        fill_price=price,
        commission=commission,
    )


def reference(bars, fills, capital):
    """Per bar: book its fills, mark the bar's symbol at its close; per timestamp: equity."""
    symbols = sorted({b[1] for b in bars})
    weight = capital / len(symbols)
    pos = dict.fromkeys(symbols, 0.0)
    close = {}
    first_open = {}
    cash = capital
    sym_cash = dict.fromkeys(symbols, 0.0)
    sym_peak = dict.fromkeys(symbols, 0.0)
    sym_dd = dict.fromkeys(symbols, 0.0)
    by_bar = {}
    for f in fills:
        by_bar.setdefault((f.ts_event_ns, f.symbol), []).append(f)
    points = []
    for i, (ts, symbol, o, _high, _low, c) in enumerate(bars):
        for f in by_bar.get((ts, symbol), []):
            signed = f.quantity_filled * f.side.sign
            pos[symbol] += signed
            cash -= signed * f.fill_price + f.commission
            sym_cash[symbol] -= signed * f.fill_price + f.commission
        close[symbol] = c
        first_open.setdefault(symbol, o)
        pnl = sym_cash[symbol] + pos[symbol] * c
        sym_peak[symbol] = max(sym_peak[symbol], pnl)
        sym_dd[symbol] = max(sym_dd[symbol], sym_peak[symbol] - pnl)
        if i + 1 == len(bars) or bars[i + 1][0] != ts:
            equity = cash + sum(pos[s] * close[s] for s in close)
            bench = sum(
                weight * close[s] / first_open[s] if s in close else weight for s in symbols
            )
            gross = sum(abs(pos[s] * close[s]) for s in close)
            points.append((ts, equity, bench, gross, any(pos[s] != 0 for s in symbols)))
    peak, max_dd, max_pct = capital, 0.0, 0.0
    for _, equity, *_ in points:
        peak = max(peak, equity)
        max_dd = max(max_dd, peak - equity)
        max_pct = max(max_pct, (peak - equity) / peak)
    days = {}
    for ts, equity, bench, *_ in points:
        days[ts // NS_PER_DAY] = (equity, bench)
    return {
        "points": points,
        "max_drawdown": max_dd,
        "max_drawdown_pct": max_pct,
        "days": days,
        "sym_pnl": {s: sym_cash[s] + pos[s] * close.get(s, 0.0) for s in symbols},
        "sym_dd": sym_dd,
        "cash": cash,
    }


def market(seed: int, symbols=("AAA", "BBB", "CCC"), steps: int = 300, gaps: float = 0.2):
    """Bars on an hourly grid over several days; each symbol skips a share ``gaps`` of the
    hours; fills on random bars of random size, side and price (inside the bar)."""
    rng = np.random.default_rng(seed)
    bars, fills = [], []
    price = dict.fromkeys(symbols, 100.0)
    for step in range(steps):
        ts = T0 + step * HOUR * 5
        for symbol in symbols:
            if rng.random() < gaps:
                continue
            o = price[symbol]
            c = max(1.0, o * (1 + rng.normal(0, 0.01)))
            h, lo = max(o, c) * 1.002, min(o, c) * 0.998
            price[symbol] = c
            bars.append((ts, symbol, o, h, lo, c))
            if rng.random() < 0.15:
                side = TradeSide.BUY if rng.random() < 0.5 else TradeSide.SELL
                qty = float(rng.integers(1, 4))
                fills.append(fill(ts, symbol, side, qty, float(rng.uniform(lo, h)), 0.5))
    return bars, fills


def feed(account: Accounting, bars, fills, cuts):
    """Hand ``bars`` to the account in stretches ending at ``cuts``, each stretch's fills
    booked first (as the engine does: fills happen while the stretch is walked)."""
    symbols = tuple(sorted({b[1] for b in bars}))
    code_of = {s: i for i, s in enumerate(symbols)}
    start = 0
    for end in [*cuts, len(bars)]:
        part = bars[start:end]
        keys = {(b[0], b[1]) for b in part}
        for f in fills:
            if (f.ts_event_ns, f.symbol) in keys:
                account.on_fill(f)
        account.on_bars(
            ts=np.array([b[0] for b in part], dtype=np.int64),
            code=np.array([code_of[b[1]] for b in part], dtype=np.int32),
            symbols=symbols,
            open=np.array([b[2] for b in part]),
            high=np.array([b[3] for b in part]),
            low=np.array([b[4] for b in part]),
            close=np.array([b[5] for b in part]),
        )
        start = end
    return account.finish()


# Markets laid out the ways the account groups bars by symbol: symbols missing some hours
# (sorted), every symbol every hour (a fixed cycle: reshaped), and more symbols a timestamp
# than the account scans for a fill's bar (searched by key).
MARKETS = {
    "gaps": {"symbols": ("AAA", "BBB", "CCC"), "gaps": 0.2},
    "every-hour": {"symbols": ("AAA", "BBB", "CCC"), "gaps": 0.0},
    "wide": {"symbols": tuple(f"S{i:02d}" for i in range(70)), "gaps": 0.1, "steps": 30},
}


@pytest.mark.parametrize("kind", MARKETS)
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("stretch", [1, 7, 64, 100_000])
def test_account_equals_a_per_bar_ledger_whatever_the_stretches(kind, seed, stretch) -> None:
    bars, fills = market(seed, **MARKETS[kind])
    expected = reference(bars, fills, 50_000.0)
    cuts = list(range(stretch, len(bars), stretch))
    symbols = MARKETS[kind]["symbols"]
    result = feed(Accounting(symbols=symbols, capital=50_000.0), bars, fills, cuts)

    points = expected["points"]
    assert result.timestamps == len(points)
    assert result.bars == len(bars)
    assert result.equity == pytest.approx(points[-1][1], abs=1e-6)
    assert result.cash == pytest.approx(expected["cash"], abs=1e-6)
    assert result.benchmark == pytest.approx(points[-1][2], abs=1e-6)
    assert result.max_drawdown == pytest.approx(expected["max_drawdown"], abs=1e-6)
    assert result.max_drawdown_pct == pytest.approx(expected["max_drawdown_pct"], abs=1e-9)
    assert result.max_gross_exposure == pytest.approx(max(p[3] for p in points), abs=1e-6)
    assert result.timestamps_in_position == sum(p[4] for p in points)
    assert result.first_ts == points[0][0] and result.last_ts == points[-1][0]
    days = expected["days"]
    assert result.days.tolist() == sorted(days)
    assert result.daily_equity == pytest.approx([days[d][0] for d in sorted(days)], abs=1e-6)
    assert result.daily_benchmark == pytest.approx([days[d][1] for d in sorted(days)], abs=1e-6)
    # Few enough points: the series keeps every timestamp.
    assert result.series.ts.tolist() == [p[0] for p in points]
    assert result.series.last == pytest.approx([p[1] for p in points], abs=1e-6)
    for symbol, account in result.per_symbol.items():
        assert account.pnl == pytest.approx(expected["sym_pnl"][symbol], abs=1e-6)
        assert account.max_drawdown == pytest.approx(expected["sym_dd"][symbol], abs=1e-6)
    # Realised + open = net, after every commission.
    net = result.realised_before_commission - result.commission + result.open_pnl
    assert net == pytest.approx(result.net_pnl, abs=1e-6)


@pytest.mark.parametrize("kind", MARKETS)
@pytest.mark.parametrize("seed", [1, 2])
def test_account_is_the_same_to_the_last_bit_however_the_bars_are_cut(kind, seed) -> None:
    """Sub-batches are sized by time, so the same run is cut differently each time: its
    account (equity series, drawdowns, per-symbol figures) must not change by one bit."""
    bars, fills = market(seed, **{"steps": 400, **MARKETS[kind]})
    symbols = MARKETS[kind]["symbols"]
    whole = feed(Accounting(symbols=symbols, capital=50_000.0), bars, fills, [])
    rng = np.random.default_rng(seed)
    for _ in range(3):
        cuts = sorted({int(c) for c in rng.integers(1, len(bars), size=40)})
        cut = feed(Accounting(symbols=symbols, capital=50_000.0), bars, fills, cuts)
        assert repr(cut) == repr(whole)
        assert cut.series.last.tobytes() == whole.series.last.tobytes()
        assert cut.daily_equity.tobytes() == whole.daily_equity.tobytes()


def test_account_by_hand_one_long_trade() -> None:
    """Capital 1,000; buy 10 @ 10 (commission 1) on bar 1 (close 11): cash 899, equity 1,009;
    bar 2 closes at 9: 989; sell 10 @ 9.5 (commission 1) on bar 3: cash 993, flat. Drawdown 20
    from the 1,009 peak; realised (9.5 - 10) x 10 = -5 before the 2 of commission."""
    bars = [
        (T0, "AAA", 10.0, 11.0, 10.0, 11.0),
        (T0 + HOUR, "AAA", 11.0, 11.0, 9.0, 9.0),
        (T0 + 2 * HOUR, "AAA", 9.0, 9.6, 9.0, 9.2),
    ]
    fills = [
        fill(T0, "AAA", TradeSide.BUY, 10, 10.0, 1.0),
        fill(T0 + 2 * HOUR, "AAA", TradeSide.SELL, 10, 9.5, 1.0),
    ]
    result = feed(Accounting(symbols=("AAA",), capital=1_000.0), bars, fills, [1, 2])
    assert result.series.last.tolist() == pytest.approx([1_009.0, 989.0, 993.0])
    assert result.equity == pytest.approx(993.0)
    assert result.max_drawdown == pytest.approx(20.0)
    assert result.max_drawdown_pct == pytest.approx(20.0 / 1_009.0)
    assert result.max_drawdown_duration_ns == 2 * HOUR  # from bar 1 to the end, not recovered
    assert result.realised_before_commission == pytest.approx(-5.0)
    assert result.commission == pytest.approx(2.0)
    assert result.open_pnl == 0.0
    assert result.timestamps_in_position == 2  # after bar 3 the position is flat
    assert result.per_symbol["AAA"].bars_in_position == 2
    assert result.per_symbol["AAA"].max_drawdown == pytest.approx(20.0)  # the account's
    # Buy and hold: 1,000 at the first open 10, valued at 11, 9, 9.2.
    assert result.daily_benchmark[-1] == pytest.approx(920.0)
    assert result.position_bars["AAA"]["ts"].tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR]


def test_account_recovery_ends_a_drawdown_stretch() -> None:
    closes = [100.0, 90.0, 95.0, 101.0, 99.0]
    bars = [(T0 + i * HOUR, "AAA", c, c, c, c) for i, c in enumerate(closes)]
    result = feed(
        Accounting(symbols=("AAA",), capital=100.0),
        bars,
        [fill(T0, "AAA", TradeSide.BUY, 1, 100.0)],
        [2],
    )
    # Peak 100 at bar 0, under water until bar 3 (3 hours); then 101 -> 99 (1 hour, open).
    assert result.max_drawdown_duration_ns == 3 * HOUR
    assert result.max_drawdown == pytest.approx(10.0)


def test_account_with_no_bars_is_its_capital() -> None:
    result = Accounting(symbols=("AAA",), capital=5_000.0).finish()
    assert result.equity == 5_000.0 and result.net_pnl == 0.0
    assert result.timestamps == 0 and result.first_ts is None
    assert result.days.size == 0 and len(result.series) == 0


def test_account_series_stays_bounded_and_keeps_extremes() -> None:
    n = 10_000
    closes = 100 + np.sin(np.arange(n) / 50.0) * 10
    closes[4_321] = 50.0  # one deep dip must survive downsampling
    bars = [
        (T0 + i * HOUR, "AAA", float(c), float(c), float(c), float(c)) for i, c in enumerate(closes)
    ]
    account = Accounting(symbols=("AAA",), capital=1_000.0, max_points=100)
    result = feed(
        account, bars, [fill(T0, "AAA", TradeSide.BUY, 1, 100.0)], list(range(333, n, 333))
    )
    assert 100 <= len(result.series) <= 201
    assert result.series.low.min() == pytest.approx(1_000.0 - 100.0 + 50.0)
    assert result.series.ts[-1] == T0 + (n - 1) * HOUR
    assert result.series.last[-1] == pytest.approx(1_000.0 - 100.0 + float(closes[-1]))


def test_account_refuses_a_fill_without_its_bar() -> None:
    account = Accounting(symbols=("AAA",), capital=1_000.0)
    account.on_fill(fill(T0 + HOUR, "AAA", TradeSide.BUY, 1, 10.0))
    with pytest.raises(ValueError, match="has no bar in the stretch"):
        account.on_bars(
            ts=np.array([T0]),
            code=np.array([0]),
            symbols=("AAA",),
            open=np.array([1.0]),
            high=np.array([1.0]),
            low=np.array([1.0]),
            close=np.array([1.0]),
        )


@pytest.mark.parametrize("capital", [0, -1, math.inf, math.nan])
def test_account_refuses_a_capital_that_is_not_positive(capital) -> None:
    with pytest.raises(ValueError, match="capital must be a positive finite number"):
        Accounting(symbols=("AAA",), capital=capital)
