"""The chart page's window chart: exactly the window's bars, its fills marked, no P&L band,
a message when the window is empty, and the same argument checks as the trade chart.

Fixtures and pixel helpers come from test_charts (same runs: AAPL trades a long from bar 60
to 80 and a short from 120 to 140; "empty" has the same AAPL bars and no fills).
"""

# ruff: noqa: F811  (test_charts' fixtures are imported, then named as test arguments)

from __future__ import annotations

import numpy as np
import pytest

from backtests.charts import loading, trade_chart_png, window_chart_png
from ostsite.errors import InvalidInput, NotFound
from tests.backtests.test_charts import (  # noqa: F401  (fixtures)
    DBS,
    DOWN_RGB,
    MINUTE,
    T0,
    UP_RGB,
    _walk,
    colour_share,
    empty_run,
    full_run,
    pixels,
    png_size,
    saturated_share,
    trades_run,
)

# The trade chart's shading of the holding period (style.TRADE_SPAN, #fff5d9) and its P&L
# band (style.BAND, #54aeff, drawn at alpha 0.45 over that shading), worked out by hand.
SPAN_RGB = (0xFF / 255, 0xF5 / 255, 0xD9 / 255)
BAND_RGB = tuple(
    0.45 * b / 255 + 0.55 * s for b, s in zip((0x54, 0xAE, 0xFF), SPAN_RGB, strict=True)
)
PLOT = (slice(62, 600), slice(96, 960))  # rows, columns of the price axes (header to panel)


def _window(run_id: str, first_bar: int, last_bar: int, symbol: str = "AAPL") -> bytes:
    return window_chart_png(
        run_id, symbol=symbol, start_ns=T0 + first_bar * MINUTE, end_ns=T0 + last_bar * MINUTE
    )


def _column_groups(columns: np.ndarray) -> list[np.ndarray]:
    """Runs of adjacent column indices (gaps of more than 3 px split them)."""
    return np.split(columns, np.where(np.diff(columns) > 3)[0] + 1) if columns.size else []


# --- Bars ---------------------------------------------------------------------------------------
@pytest.mark.django_db(databases=DBS)
def test_window_bars_recorded_exactly_the_window(full_run):
    bars = loading.window_bars(full_run, "AAPL", T0 + 40 * MINUTE, T0 + 159 * MINUTE)
    assert bars.ts.tolist() == [T0 + i * MINUTE for i in range(40, 160)]  # no context bars
    assert bars.close[0] == pytest.approx(_walk(1)["close"][40])
    assert set(bars.indicators) == {"SMA(10)", "SMA(30)", "RSI(14)"}


@pytest.mark.django_db(databases=DBS)
def test_window_bars_trades_run_reads_secmaster(trades_run):
    bars = loading.window_bars(trades_run, "AAPL", T0 + 90 * MINUTE, T0 + 130 * MINUTE)
    assert bars.source == "secmaster"
    assert bars.ts.tolist() == [T0 + i * MINUTE for i in range(90, 131)]
    expected = np.round(_walk(3)["low"][90:131].to_numpy() * 1e9) / 1e9
    assert np.allclose(bars.low, expected, rtol=0, atol=1e-9)


# --- Pictures -----------------------------------------------------------------------------------
@pytest.mark.django_db(databases=DBS)
def test_window_chart_recorded_bars_png_with_indicator_panel_no_pnl_band(full_run):
    png = _window("full", 40, 159)
    # the RSI panel adds one panel height to the 1200 x 700 base; no P&L panel
    assert png_size(png) == (1200, 850)
    assert colour_share(png, UP_RGB) > 0.001 and colour_share(png, DOWN_RGB) > 0.001
    # (a few anti-aliased edges of the blue SMA line come near the band's colour)
    assert colour_share(png, BAND_RGB, tol=0.01) < 0.0002 and colour_share(png, SPAN_RGB) == 0
    trade = trade_chart_png(
        "full", symbol="AAPL", start_ns=T0 + 60 * MINUTE, end_ns=T0 + 80 * MINUTE,
        direction="LONG", pnl=1.0,
    )  # fmt: skip
    assert colour_share(trade, BAND_RGB, tol=0.01) > 0.005  # the checks can see band and span
    assert colour_share(trade, SPAN_RGB) > 0.01


@pytest.mark.django_db(databases=DBS)
def test_window_chart_marks_each_fill_in_the_window(full_run, empty_run):
    with_fills, without = pixels(_window("full", 40, 159)), pixels(_window("empty", 40, 159))
    changed = np.any(np.abs(with_fills - without) > 0.02, axis=2)[PLOT]
    groups = _column_groups(np.where(changed.any(axis=0))[0])
    # fills at bars 60 (buy), 80 (sell), 120 (sell), 140 (buy): four separate marks, in order
    assert len(groups) == 4
    plot = with_fills[PLOT]
    up, down = (np.all(np.abs(plot - np.array(rgb)) <= 0.04, axis=2) for rgb in (UP_RGB, DOWN_RGB))
    colours = []
    for cols in groups:
        mask = changed[:, cols]
        colours.append("buy" if up[:, cols][mask].sum() > down[:, cols][mask].sum() else "sell")
    assert colours == ["buy", "sell", "sell", "buy"]


@pytest.mark.django_db(databases=DBS)
def test_window_chart_without_fills_in_window_same_as_run_without_fills(full_run, empty_run):
    # bars 90..110 lie between the two AAPL trades: nothing of the fills may show
    assert _window("full", 90, 110) == _window("empty", 90, 110)
    assert _window("full", 55, 85) != _window("empty", 55, 85)


@pytest.mark.django_db(databases=DBS)
def test_window_chart_trades_run_draws_secmaster_bars(trades_run):
    png = _window("trades", 90, 130)
    assert png_size(png) == (1200, 700)  # no indicator panels without recorded bars
    assert colour_share(png, UP_RGB) > 0.001 and colour_share(png, DOWN_RGB) > 0.001


@pytest.mark.django_db(databases=DBS)
def test_window_chart_without_bars_says_so(full_run):
    nvda = _window("full", 0, 1, symbol="NVDA")  # configured, no bars recorded
    next_day = _window("full", 24 * 60, 24 * 60 + 120)  # AAPL, after its only day
    for png in (nvda, next_day):
        assert png_size(png) == (1200, 700)
        assert saturated_share(png) == 0
        assert (pixels(png)[300:400, 200:1000].mean(axis=2) < 0.6).mean() > 0.002
    assert nvda != next_day  # the message names the symbol, the title the window
    trade = trade_chart_png(
        "full", symbol="NVDA", start_ns=T0, end_ns=T0 + MINUTE, direction="LONG", pnl=0.0
    )
    assert not np.array_equal(pixels(nvda), pixels(trade))  # "in this window", no "LONG"


# --- Errors -------------------------------------------------------------------------------------
@pytest.mark.django_db(databases=DBS)
def test_window_chart_unknown_run_and_symbol_not_found(full_run):
    span = {"start_ns": T0, "end_ns": T0 + MINUTE}
    with pytest.raises(NotFound, match="^Run not found: nope$"):
        window_chart_png("nope", symbol="AAPL", **span)
    with pytest.raises(NotFound, match="^Symbol not in run: TSLA$"):
        window_chart_png("full", symbol="TSLA", **span)
    with pytest.raises(NotFound, match="^Run not found: a\\\\x00b$"):
        window_chart_png("a\x00b", symbol="AAPL", **span)


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"start_ns": T0 + 2 * MINUTE, "end_ns": T0}, {"end_ns"}),
        ({"start_ns": -1}, {"start_ns"}),
        ({"end_ns": "soon"}, {"end_ns"}),
        ({"start_ns": True}, {"start_ns"}),
        ({"start_ns": 1.5}, {"start_ns"}),
        ({"symbol": ""}, {"symbol"}),
        ({"symbol": None, "end_ns": None}, {"symbol", "end_ns"}),
    ],
)
def test_window_chart_bad_arguments_invalid_input(full_run, changes, fields):
    args = {"symbol": "AAPL", "start_ns": T0, "end_ns": T0 + MINUTE} | changes
    with pytest.raises(InvalidInput) as err:
        window_chart_png("full", **args)
    assert set(err.value.fields) == fields


@pytest.mark.django_db(databases=DBS)
def test_window_chart_bad_arguments_checked_before_run_lookup():
    with pytest.raises(InvalidInput):
        window_chart_png("nope", symbol="AAPL", start_ns=5, end_ns=1)
