"""Indicators against independent computations on seeded random-walk bars: pandas rolling
windows and ewm, and textbook Wilder smoothing / parabolic SAR written out here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtests.engine.chunks import SymbolBars
from backtests.engine.indicators import (
    ADX,
    RSI,
    AverageTrueRange,
    BollingerBandwidth,
    BollingerLower,
    BollingerUpper,
    Close,
    Detrend,
    ExponentialMovingAverage,
    Indicator,
    MinusDI,
    ParabolicSAR,
    PeriodHighest,
    PeriodLowest,
    PlotHint,
    PlusDI,
    RateOfChange,
    SimpleMovingAverage,
    Volume,
    indicator_registry,
)
from tests.backtests.engine.bars import bar, interleave, random_walk

N = 3000
BARS = random_walk(N, seed=20240611)
FRAME = pd.DataFrame(BARS, columns=list(BARS[0]._fields))


def _values(indicator, bars, symbol):
    out = []
    for b in bars:
        if b.symbol == symbol:
            out.append(indicator.update(b))
        else:
            indicator.update(b)
    return np.array(out, dtype=float)


def assert_series(actual: np.ndarray, expected, rel=1e-9, abs_=1e-9):
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    mask = ~np.isnan(expected)
    assert mask.sum() > N // 2
    np.testing.assert_allclose(actual[mask], expected[mask], rtol=rel, atol=abs_)


# --- independent references ---------------------------------------------------------------


def wilder_average(values: np.ndarray, n: int, start: int) -> np.ndarray:
    """Textbook Wilder: mean of values[start:start+n], then (prev*(n-1) + x)/n."""
    out = np.full(len(values), np.nan)
    first = start + n - 1
    if first >= len(values):
        return out
    out[first] = values[start : start + n].mean()
    for i in range(first + 1, len(values)):
        out[i] = (out[i - 1] * (n - 1) + values[i]) / n
    return out


def wilder_sum(values: np.ndarray, n: int, start: int) -> np.ndarray:
    """Wilder's running sum: sum of the first n, then prev - prev/n + x."""
    out = np.full(len(values), np.nan)
    first = start + n - 1
    out[first] = values[start : start + n].sum()
    for i in range(first + 1, len(values)):
        out[i] = out[i - 1] - out[i - 1] / n + values[i]
    return out


def true_ranges(f: pd.DataFrame) -> np.ndarray:
    prev_close = f.close.shift(1)
    tr = pd.concat(
        [f.high - f.low, (f.high - prev_close).abs(), (f.low - prev_close).abs()], axis=1
    ).max(axis=1)
    tr.iloc[0] = np.nan
    return tr.to_numpy()


def directional(f: pd.DataFrame, n: int):
    up = (f.high - f.high.shift(1)).to_numpy()
    down = (f.low.shift(1) - f.low).to_numpy()
    plus_dm = np.where((up > down) & (up > 0), up, 0.0)
    minus_dm = np.where((down > up) & (down > 0), down, 0.0)
    tr = true_ranges(f)
    s_tr, s_plus, s_minus = (
        wilder_sum(tr, n, 1),
        wilder_sum(plus_dm, n, 1),
        wilder_sum(minus_dm, n, 1),
    )
    plus_di = 100 * s_plus / s_tr
    minus_di = 100 * s_minus / s_tr
    dx = 100 * np.abs(plus_di - minus_di) / (plus_di + minus_di)
    adx = wilder_average(dx, n, n)
    return plus_di, minus_di, adx


def psar_reference(
    high: np.ndarray, low: np.ndarray, start=0.02, step=0.02, maximum=0.2
) -> np.ndarray:
    out = np.full(len(high), np.nan)
    long = high[1] >= high[0]
    sar = low[0] if long else high[0]
    ep = high[1] if long else low[1]
    af = start
    out[1] = sar
    for i in range(2, len(high)):
        candidate = sar + af * (ep - sar)
        if long:
            candidate = min(candidate, low[i - 1], low[i - 2])
            if low[i] < candidate:
                long, candidate, ep, af = False, ep, low[i], start
            elif high[i] > ep:
                ep, af = high[i], min(af + step, maximum)
        else:
            candidate = max(candidate, high[i - 1], high[i - 2])
            if high[i] > candidate:
                long, candidate, ep, af = True, ep, high[i], start
            elif low[i] < ep:
                ep, af = low[i], min(af + step, maximum)
        sar = candidate
        out[i] = sar
    return out


# --- comparisons ---------------------------------------------------------------------------


@pytest.mark.parametrize("period", [5, 20, 100])
def test_sma_matches_pandas_rolling_mean(period):
    assert_series(
        _values(SimpleMovingAverage(period), BARS, "AAA"), FRAME.close.rolling(period).mean()
    )


def test_sma_equals_sum_of_window_over_period_exactly():
    # the original engine's formula, bit for bit (crossover decisions depend on it)
    closes = FRAME.close.to_numpy()
    values = _values(SimpleMovingAverage(20), BARS, "AAA")
    for i in (19, 500, 2999):
        assert values[i] == sum(float(x) for x in closes[i - 19 : i + 1]) / 20


def _batched_values(indicator, bars, symbol, block_sizes):
    """Values of ``symbol``'s bars through ``compute_block``, one chunk per block size."""
    own = [b for b in bars if b.symbol == symbol]
    out, start = [], 0
    for size in block_sizes:
        block = own[start : start + size]
        out += np.asarray(indicator.compute_block(SymbolBars.from_bars(symbol, block))).tolist()
        start += size
    assert start == len(own)
    return out


def _window_means(closes: list, period: int) -> list[float]:
    """The original engine's mean: Python's left-to-right ``sum`` of the window / period."""
    return [
        float("nan") if i + 1 < period else sum(closes[i + 1 - period : i + 1]) / period
        for i in range(len(closes))
    ]


def _same_bits(actual: list[float], expected: list[float]) -> bool:
    return len(actual) == len(expected) and all(
        (math.isnan(a) and math.isnan(e)) or a == e for a, e in zip(actual, expected, strict=True)
    )


@pytest.mark.parametrize("period", [1, 2, 20, 100, 300])
@pytest.mark.parametrize("blocks", [[3000], [1, 1, 98, 900, 2000], [257, 255, 2488], [99, 2901]])
def test_sma_batched_equals_python_sum_bit_for_bit_across_blocks(period, blocks):
    closes = [b.close for b in BARS if b.symbol == "AAA"]
    sma = SimpleMovingAverage(period)
    values = _batched_values(sma, BARS, "AAA", blocks)
    assert _same_bits(values, _window_means(closes, period))


def test_sma_batched_flat_prices_keep_the_float_noise_of_the_original():
    # 0.1 summed left to right is not 0.1 * n: SMA(20) and SMA(100) of a flat price differ,
    # and the original's crossovers depend on exactly that difference.
    flat = [bar(i, 0.1, 0.1, 0.1, 0.1) for i in range(2000)]
    fast = _batched_values(SimpleMovingAverage(20), flat, "AAA", [2000])
    slow = _batched_values(SimpleMovingAverage(100), flat, "AAA", [700, 1300])
    assert fast[-1] == sum([0.1] * 20) / 20 != slow[-1] == sum([0.1] * 100) / 100


def test_sma_batched_missing_close_is_nan_for_its_windows_only():
    series = [bar(i, 10.0 + i, 10.0 + i, 10.0 + i, 10.0 + i) for i in range(600)]
    series[300] = series[300]._replace(close=None)
    values = _batched_values(SimpleMovingAverage(5), series, "AAA", [600])
    assert all(math.isnan(v) for v in values[300:305])
    assert values[299] == sum(10.0 + i for i in range(295, 300)) / 5
    assert values[305] == sum(10.0 + i for i in range(301, 306)) / 5


def test_sma_batched_and_per_bar_paths_continue_each_other():
    closes = [b.close for b in BARS if b.symbol == "AAA"]
    own = [b for b in BARS if b.symbol == "AAA"]
    sma = SimpleMovingAverage(50)
    first = [sma.update(b) for b in own[:70]]  # per bar, then batched from the same state
    rest = _batched_values(sma, own[70:], "AAA", [len(own) - 70])
    assert _same_bits(first + rest, _window_means(closes, 50))


def test_sma_of_high_source():
    assert_series(
        _values(SimpleMovingAverage(10, source="high"), BARS, "AAA"), FRAME.high.rolling(10).mean()
    )


@pytest.mark.parametrize("period", [2, 12, 50])
def test_ema_matches_pandas_ewm_adjust_false(period):
    expected = FRAME.close.ewm(span=period, adjust=False, min_periods=period).mean()
    assert_series(_values(ExponentialMovingAverage(period), BARS, "AAA"), expected)


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (10, 1.5)])
def test_bollinger_bands_match_pandas(period, k):
    mean = FRAME.close.rolling(period).mean()
    std = FRAME.close.rolling(period).std(ddof=0)
    assert_series(_values(BollingerUpper(period, k), BARS, "AAA"), mean + k * std)
    assert_series(_values(BollingerLower(period, k), BARS, "AAA"), mean - k * std)
    assert_series(_values(BollingerBandwidth(period, k), BARS, "AAA"), 2 * k * std / mean * 100)


@pytest.mark.parametrize("period", [5, 20])
def test_period_highest_lowest_match_pandas(period):
    assert_series(_values(PeriodHighest(period), BARS, "AAA"), FRAME.high.rolling(period).max())
    assert_series(_values(PeriodLowest(period), BARS, "AAA"), FRAME.low.rolling(period).min())
    assert_series(
        _values(PeriodHighest(period, source="close"), BARS, "AAA"),
        FRAME.close.rolling(period).max(),
    )


@pytest.mark.parametrize("period", [1, 14])
def test_rate_of_change_matches_pandas(period):
    assert_series(_values(RateOfChange(period), BARS, "AAA"), FRAME.close.pct_change(period) * 100)


def test_detrend_is_short_minus_long_sma():
    expected = FRAME.close.rolling(3).mean() - FRAME.close.rolling(7).mean()
    assert_series(_values(Detrend(3, 7), BARS, "AAA"), expected, abs_=1e-8)


@pytest.mark.parametrize("period", [14, 5])
def test_rsi_matches_textbook_wilder(period):
    change = FRAME.close.diff().to_numpy()
    gains = np.where(change > 0, change, 0.0)
    losses = np.where(change < 0, -change, 0.0)
    avg_gain, avg_loss = wilder_average(gains, period, 1), wilder_average(losses, period, 1)
    expected = 100 - 100 / (1 + avg_gain / avg_loss)
    assert_series(_values(RSI(period), BARS, "AAA"), expected)


def test_rsi_without_losses_is_100_and_flat_is_50():
    rising = [bar(i, 10 + i, 10 + i, 10 + i, 10 + i) for i in range(6)]
    assert _values(RSI(3), rising, "AAA").tolist()[3:] == [100.0, 100.0, 100.0]
    flat = [bar(i, 10, 10, 10, 10) for i in range(5)]
    assert _values(RSI(3), flat, "AAA").tolist()[3:] == [50.0, 50.0]


@pytest.mark.parametrize("period", [14, 3])
def test_atr_matches_textbook_wilder(period):
    assert_series(
        _values(AverageTrueRange(period), BARS, "AAA"),
        wilder_average(true_ranges(FRAME), period, 1),
    )


def test_atr_hand_computed():
    bars = [
        bar(0, 10, 11, 9, 10),
        bar(1, 10, 12, 10, 11),
        bar(2, 11, 11.5, 8, 9),
        bar(3, 9, 10, 9, 9.5),
    ]
    # TR: bar1 max(2, 2, 0) = 2; bar2 max(3.5, 0.5, 3) = 3.5; bar3 max(1, 1, 0) = 1
    # ATR(2): NaN, NaN, (2 + 3.5)/2 = 2.75, (2.75*1 + 1)/2 = 1.875
    values = _values(AverageTrueRange(2), bars, "AAA")
    assert math.isnan(values[0]) and math.isnan(values[1])
    assert values[2:].tolist() == [2.75, 1.875]


@pytest.mark.parametrize("period", [14, 7])
def test_directional_indicators_match_textbook_wilder(period):
    plus_di, minus_di, adx = directional(FRAME, period)
    assert_series(_values(PlusDI(period), BARS, "AAA"), plus_di)
    assert_series(_values(MinusDI(period), BARS, "AAA"), minus_di)
    assert_series(_values(ADX(period), BARS, "AAA"), adx)


def test_adx_first_value_on_bar_two_times_period():
    values = _values(ADX(14), BARS, "AAA")
    assert np.isnan(values[:27]).all() and not np.isnan(values[27])


def test_parabolic_sar_matches_reference():
    expected = psar_reference(FRAME.high.to_numpy(), FRAME.low.to_numpy())
    assert_series(_values(ParabolicSAR(), BARS, "AAA"), expected)


def test_parabolic_sar_hand_computed_start():
    bars = [bar(0, 10, 11, 9, 10), bar(1, 10, 12, 10, 11.5), bar(2, 11.5, 13, 11, 12.5)]
    # bar1 high 12 >= 11: long, SAR = bar0 low 9, EP = 12, af 0.02
    # bar2: 9 + 0.02 * (12 - 9) = 9.06, min(9.06, lows 9, 10) = 9.0
    assert _values(ParabolicSAR(), bars, "AAA")[1:].tolist() == [9.0, 9.0]


# --- history access and bookkeeping ----------------------------------------------------------


def test_history_access_latest_and_offsets():
    sma = SimpleMovingAverage(2, max_history=3)
    for i, c in enumerate([1.0, 3.0, 5.0, 7.0, 9.0]):
        sma.update(bar(i, c, c, c, c))
    # values 2, 4, 6, 8 with only the last 3 kept
    assert sma.latest("AAA") == 8.0
    assert (sma["AAA", -1], sma["AAA", -2], sma["AAA", -3]) == (8.0, 6.0, 4.0)
    assert math.isnan(sma["AAA", -4])
    assert math.isnan(sma.latest("ZZZ")) and math.isnan(sma["ZZZ", -1])
    assert sma.history("AAA") == [4.0, 6.0, 8.0]


def test_symbols_kept_apart():
    a, b = random_walk(300, seed=1, symbol="AAA"), random_walk(300, seed=2, symbol="BBB")
    together = ADX(10)
    mixed = interleave(a, b)
    values_a = _values(together, mixed, "AAA")
    assert_series_equal = np.testing.assert_array_equal
    assert_series_equal(values_a, _values(ADX(10), a, "AAA"))
    assert together.latest("BBB") == _values(ADX(10), b, "BBB")[-1]


def test_market_fields_and_missing_volume_is_nan():
    close, volume = Close(), Volume()
    b = bar(0, 1.0, 2.0, 0.5, 1.5, volume=None)
    assert close.update(b) == 1.5 and math.isnan(volume.update(b))


def test_names_and_plot_hints():
    assert SimpleMovingAverage(20).name == "SMA(20)"
    assert SimpleMovingAverage(20, source="high").name == "SMA(20, high)"
    assert BollingerUpper(20, 2.0).name == "BB upper(20, 2)"
    assert RSI(14).plot.placement == "panel"
    assert ParabolicSAR().plot.style == "dots"
    assert SimpleMovingAverage(5, color="#000000").plot == PlotHint("overlay", "#000000", "line")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"placement": "below"}, "placement must be one of overlay, panel, got 'below'"),
        ({"style": "wavy"}, "style must be one of line, dashed, dots, got 'wavy'"),
    ],
)
def test_plot_hint_invalid_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PlotHint(**kwargs)


def test_unknown_source_raises():
    with pytest.raises(
        ValueError, match="source must be one of open, high, low, close, volume, got 'mid'"
    ):
        SimpleMovingAverage(5, source="mid")


def test_registry_lists_indicator_classes_by_subclassing():
    registry = indicator_registry()
    for name in ("SimpleMovingAverage", "RSI", "ADX", "ParabolicSAR", "PeriodHighest", "Close"):
        assert name in registry
    assert not any(name.startswith("_") for name in registry)

    class MidPrice(Indicator, register=False):
        def _compute(self, b):
            return (b.high + b.low) / 2

    assert "MidPrice" not in indicator_registry()


@pytest.mark.parametrize(
    "make",
    [lambda: SimpleMovingAverage(3), lambda: RSI(3), lambda: ADX(4), lambda: ParabolicSAR()],
)
@pytest.mark.parametrize("blocks", [[40], [1, 39], [7, 13, 20]])
def test_compute_block_gives_the_values_of_update_per_symbol(make, blocks):
    bars = interleave(random_walk(40, seed=3, symbol="AAA"), random_walk(40, seed=4, symbol="BBB"))
    plain, ahead = make(), make()
    expected = {"AAA": [], "BBB": []}
    for b in bars:  # one pass, bars of both symbols interleaved
        expected[b.symbol].append(plain.update(b))
    for symbol in ("AAA", "BBB"):
        got = _batched_values(ahead, bars, symbol, blocks)
        assert np.array_equal(got, expected[symbol], equal_nan=True)


def test_attached_indicator_reads_the_shared_rows_of_its_column():
    from collections import deque

    rows = {"AAA": deque(maxlen=5)}
    fast, slow = SimpleMovingAverage(2, max_history=2), SimpleMovingAverage(3)
    fast.attach(rows, 0)
    slow.attach(rows, 1)
    for values in [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]:  # what the engine does per bar
        rows["AAA"].append(values)
    assert (fast.latest("AAA"), slow.latest("AAA")) == (3.0, 30.0)
    assert math.isnan(fast.latest("BBB"))
    assert (fast["AAA", -2], slow["AAA", -3]) == (2.0, 10.0)
    assert fast["AAA", -3] == 1.0  # the rows keep what the longest history needs
    assert math.isnan(fast["AAA", -4]) and math.isnan(fast["BBB", -1])
    assert fast.history("AAA") == [2.0, 3.0] and slow.history("AAA") == [10.0, 20.0, 30.0]
    assert (fast["AAA", 0], slow["AAA", 0]) == (1.0, 10.0)
    with pytest.raises(RuntimeError, match="updated by the engine"):
        fast.update(bar(9, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="already belongs to a strategy"):
        fast.attach({}, 0)
