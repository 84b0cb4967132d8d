"""Charts: PNG bytes of the right size, honest no-trade charts, errors, the secmaster fallback,
and the mark-to-market arithmetic (checked against sums worked out by hand)."""

from __future__ import annotations

import io
import json
import threading
from datetime import date

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from backtests.charts import (
    equity_png,
    loading,
    pnl_summary_png,
    style,
    trade_chart_png,
    trade_journey_png,
)
from backtests.models import Fill, ProcessedBar, Run
from backtests.results.replay import run_account_replay
from backtests.results.selectors import metrics_for_run, roundtrips_for_run
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from ostsite.errors import InvalidInput, NotFound
from secmaster.models import Instrument, OhlcvBar, Publisher, SymbologyMapping
from tests.backtests.market_data import P, ingest_bars

DBS = ["default", "secmaster"]
MINUTE = 60 * 1_000_000_000
T0 = 1_704_205_800 * 1_000_000_000  # 2024-01-02 14:30:00 UTC
N_BARS = 200
UP_RGB = (0x1A / 255, 0x7F / 255, 0x37 / 255)  # style.UP, written out independently
DOWN_RGB = (0xCF / 255, 0x22 / 255, 0x2E / 255)  # style.DOWN
GROSS_RGB = (0x82 / 255, 0x50 / 255, 0xDF / 255)  # style.GROSS, the benchmark line


# --- Data ------------------------------------------------------------------------------------
def _walk(seed: int, n: int = N_BARS, base: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = base + np.cumsum(rng.normal(0, 0.4, n))
    open_ = np.concatenate([[base], close[:-1]])
    high = np.maximum(open_, close) + rng.uniform(0.05, 0.4, n)
    low = np.minimum(open_, close) - rng.uniform(0.05, 0.4, n)
    return pd.DataFrame(
        {"ts": T0 + np.arange(n) * MINUTE, "open": open_, "high": high, "low": low, "close": close}
    )


def _config(symbols: list[str], *, record: str = "full", publisher_id: int = 1) -> dict:
    return {
        "strategy": "SMACrossover",
        "strategy_params": {},
        "symbols": symbols,
        "rtype": 33,
        "bar_period": "MINUTE",
        "publisher_id": publisher_id,
        "publisher": "databento",
        "dataset": "XNAS.ITCH",
        "start_date": "2024-01-02",
        "end_date": "2024-01-02",
        "record": record,
        "commission_per_unit": 0.01,
        "minimum_commission": 1.0,
    }


def _run(run_id: str, symbols: list[str], **kwargs) -> Run:
    metadata = {
        "indicators": [
            {"name": "SMA(10)", "placement": "overlay", "color": "#0969da", "style": "line"},
            {"name": "SMA(30)", "placement": "overlay", "color": "#bf3989", "style": "dashed"},
            {"name": "RSI(14)", "placement": "panel", "color": "#8250df", "style": "line"},
        ]
    }
    return Run.objects.create(
        run_id=run_id,
        name=run_id,
        ts_start=T0,
        status="completed",
        config=_config(symbols, **kwargs),
        metadata=metadata,
    )


def _processed_bars(run: Run, symbol: str, frame: pd.DataFrame) -> None:
    sma10 = frame["close"].rolling(10).mean()
    sma30 = frame["close"].rolling(30).mean()
    rsi = 50 + 40 * np.sin(np.arange(len(frame)) / 9)
    ProcessedBar.objects.bulk_create(
        ProcessedBar(
            run=run,
            ts_event_ns=int(r.ts),
            ts_created_ns=int(r.ts),
            symbol=symbol,
            bar_period="MINUTE",
            open=r.open,
            high=r.high,
            low=r.low,
            close=r.close,
            volume=1000,
            indicators=json.dumps(
                {
                    "SMA(10)": None if np.isnan(a) else a,
                    "SMA(30)": None if np.isnan(b) else b,
                    "RSI(14)": c,
                }
            ),
        )
        for r, a, b, c in zip(frame.itertuples(), sma10, sma30, rsi, strict=True)
    )


def _fill(run: Run, symbol: str, bar: int, side: str, qty: float, price: float) -> Fill:
    ts = T0 + bar * MINUTE
    return Fill.objects.create(
        run=run,
        ts_event_ns=ts,
        ts_created_ns=ts,
        ts_broker_ns=ts,
        associated_order_id=f"O{bar}",
        broker_order_id=f"B{bar}",
        symbol=symbol,
        fill_id=f"F{bar}{symbol}",
        side=side,
        quantity_filled=qty,
        fill_price=price,
        commission=1.0,
        exchange="SIM",
    )


@pytest.fixture
def full_run(db) -> Run:
    """AAPL: a long (60 -> 80) and a short (120 -> 140); MSFT: a long; bars recorded."""
    run = _run("full", ["AAPL", "MSFT", "NVDA"])
    aapl, msft = _walk(1), _walk(2, base=300.0)
    _processed_bars(run, "AAPL", aapl)
    _processed_bars(run, "MSFT", msft)
    for symbol, frame, trades in (
        ("AAPL", aapl, [(60, 80, 100), (120, 140, -50)]),
        ("MSFT", msft, [(30, 90, 20)]),
    ):
        for entry, exit_, qty in trades:
            side_in, side_out = ("BUY", "SELL") if qty > 0 else ("SELL", "BUY")
            _fill(run, symbol, entry, side_in, abs(qty), float(frame["open"][entry]))
            _fill(run, symbol, exit_, side_out, abs(qty), float(frame["open"][exit_]))
    return run


@pytest.fixture
def empty_run(db) -> Run:
    run = _run("empty", ["AAPL"])
    _processed_bars(run, "AAPL", _walk(1))
    return run


@pytest.fixture
def trades_run(db) -> Run:
    """A run recorded with record="trades": fills only; AAPL bars live in the secmaster."""
    publisher = Publisher.objects.create(name="databento", dataset="XNAS.ITCH", venue="XNAS")
    instrument = Instrument.objects.create(
        publisher=publisher, source_instrument_id=1001, symbol="AAPL", symbol_type="raw_symbol"
    )
    SymbologyMapping.objects.create(
        publisher=publisher,
        symbol="AAPL",
        symbol_type="raw_symbol",
        source_instrument_id=1001,
        start_date=date(2024, 1, 1),
        end_date=date(2024, 1, 31),
    )
    frame = _walk(3)
    OhlcvBar.objects.bulk_create(
        OhlcvBar(
            instrument=instrument,
            rtype=33,
            ts_event=int(r.ts),
            open=round(r.open * 1e9),
            high=round(r.high * 1e9),
            low=round(r.low * 1e9),
            close=round(r.close * 1e9),
            volume=500,
        )
        for r in frame.itertuples()
    )
    run = _run("trades", ["AAPL"], record="trades", publisher_id=publisher.publisher_id)
    _fill(run, "AAPL", 100, "BUY", 10, round(float(frame["open"][100]), 2))
    _fill(run, "AAPL", 110, "SELL", 10, round(float(frame["open"][110]), 2))
    return run


# --- PNG helpers -------------------------------------------------------------------------------
def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def pixels(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png), format="png")[:, :, :3]


def colour_share(png: bytes, rgb: tuple[float, float, float], tol: float = 0.04) -> float:
    """Fraction of pixels within ``tol`` of ``rgb`` on every channel."""
    close = np.all(np.abs(pixels(png) - np.array(rgb)) <= tol, axis=2)
    return float(close.mean())


def saturated_share(png: bytes) -> float:
    """Fraction of clearly coloured pixels (lines, bars, markers; text and grid are grey)."""
    px = pixels(png)
    return float((px.max(axis=2) - px.min(axis=2) > 0.25).mean())


# --- Sizes --------------------------------------------------------------------------------------
@pytest.mark.django_db(databases=DBS)
def test_trade_chart_recorded_bars_png_with_one_indicator_panel(full_run):
    png = trade_chart_png(
        "full",
        symbol="AAPL",
        start_ns=T0 + 60 * MINUTE,
        end_ns=T0 + 80 * MINUTE,
        direction="LONG",
        pnl=123.45,
    )
    # one panel indicator (RSI) adds one panel height to the 1200 x 700 base
    assert png_size(png) == (1200, 850)
    assert colour_share(png, UP_RGB) > 0.001 and colour_share(png, DOWN_RGB) > 0.001


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize("render", [trade_journey_png, pnl_summary_png, equity_png])
@pytest.mark.parametrize("symbol", [None, "AAPL"])
def test_run_charts_with_trades_png_1200x700(full_run, render, symbol):
    png = render("full", symbol=symbol)
    assert png_size(png) == (1200, 700)


# --- No trades ----------------------------------------------------------------------------------
@pytest.mark.django_db(databases=DBS)
def test_equity_without_trades_draws_the_flat_account_and_the_benchmark(empty_run):
    png = equity_png("empty")
    assert png_size(png) == (1200, 700)
    # The benchmark (buy and hold of AAPL's walk) is drawn in its colour beside the flat equity.
    assert colour_share(png, GROSS_RGB, tol=0.15) > 0.001  # a thin, anti-aliased line
    assert metrics_for_run("empty")["net_pnl"] == 0.0


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize("render", [trade_journey_png, pnl_summary_png])
def test_run_charts_without_trades_say_so_not_empty(full_run, empty_run, render):
    with_trades = render("full", symbol=None)
    no_run_trades = render("empty", symbol=None)
    no_symbol_trades = render("full", symbol="NVDA")  # configured, never traded
    for png in (no_run_trades, no_symbol_trades):
        assert png_size(png) == (1200, 700)
        # a message, not a chart: text in the middle, none of the win/loss colours
        middle = pixels(png)[300:400, 200:1000].mean(axis=2)
        assert (middle < 0.6).mean() > 0.002
        assert saturated_share(png) == 0
    assert saturated_share(with_trades) > 0.005
    # "No trades in this run" and "No trades for NVDA" are different texts
    assert not np.array_equal(pixels(no_run_trades), pixels(no_symbol_trades))


@pytest.mark.django_db(databases=DBS)
def test_trade_chart_without_bars_says_so(full_run):
    png = trade_chart_png(
        "full", symbol="NVDA", start_ns=T0, end_ns=T0 + MINUTE, direction="LONG", pnl=0.0
    )
    assert png_size(png) == (1200, 700)
    assert saturated_share(png) == 0
    assert (pixels(png)[300:400, 200:1000].mean(axis=2) < 0.6).mean() > 0.002


# --- Errors -------------------------------------------------------------------------------------
RUN_CHARTS = [trade_journey_png, pnl_summary_png, equity_png]


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize("render", RUN_CHARTS)
def test_run_charts_unknown_run_not_found(render):
    with pytest.raises(NotFound) as err:
        render("nope", symbol=None)
    assert err.value.message == "Run not found: nope"


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize("render", RUN_CHARTS)
def test_run_charts_symbol_not_in_run_not_found(full_run, render):
    with pytest.raises(NotFound) as err:
        render("full", symbol="TSLA")
    assert err.value.message == "Symbol not in run: TSLA"


@pytest.mark.django_db(databases=DBS)
def test_trade_chart_unknown_run_and_symbol_not_found(full_run):
    args = {"start_ns": T0, "end_ns": T0 + MINUTE, "direction": "LONG", "pnl": 1.0}
    with pytest.raises(NotFound, match="^Run not found: nope$"):
        trade_chart_png("nope", symbol="AAPL", **args)
    with pytest.raises(NotFound, match="^Symbol not in run: TSLA$"):
        trade_chart_png("full", symbol="TSLA", **args)
    with pytest.raises(NotFound, match="^Run not found: a\\\\x00b$"):
        trade_chart_png("a\x00b", symbol="AAPL", **args)


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"start_ns": T0 + 2 * MINUTE, "end_ns": T0}, "end_ns"),
        ({"start_ns": -1}, "start_ns"),
        ({"end_ns": "soon"}, "end_ns"),
        ({"start_ns": True}, "start_ns"),
        ({"direction": "SIDEWAYS"}, "direction"),
        ({"pnl": float("nan")}, "pnl"),
        ({"pnl": "1"}, "pnl"),
        ({"symbol": ""}, "symbol"),
    ],
)
def test_trade_chart_bad_arguments_invalid_input(full_run, changes, field):
    args = {
        "symbol": "AAPL",
        "start_ns": T0,
        "end_ns": T0 + MINUTE,
        "direction": "LONG",
        "pnl": 1.0,
    } | changes
    with pytest.raises(InvalidInput) as err:
        trade_chart_png("full", **args)
    assert set(err.value.fields) == {field}


@pytest.mark.django_db(databases=DBS)
def test_trade_chart_direction_case_insensitive(full_run):
    png = trade_chart_png(
        "full",
        symbol="AAPL",
        start_ns=T0 + 120 * MINUTE,
        end_ns=T0 + 140 * MINUTE,
        direction="short",
        pnl=-5.0,
    )
    assert png_size(png)[0] == 1200


# --- Bars around a trade ----------------------------------------------------------------------
@pytest.mark.django_db(databases=DBS)
def test_trade_window_recorded_bars_context_either_side(full_run):
    bars = loading.trade_window_bars(full_run, "AAPL", T0 + 60 * MINUTE, T0 + 80 * MINUTE, 50)
    # bars 10..130: 50 before the entry bar 60, 21 inside, 50 after the exit bar 80
    assert bars.ts.tolist() == [T0 + i * MINUTE for i in range(10, 131)]
    assert bars.source == "recorded"
    assert set(bars.indicators) == {"SMA(10)", "SMA(30)", "RSI(14)"}
    frame = _walk(1)
    assert bars.close[0] == pytest.approx(frame["close"][10])
    sma10 = frame["close"].rolling(10).mean()
    assert bars.indicators["SMA(10)"][0] == pytest.approx(sma10[10])
    assert np.isnan(bars.indicators["SMA(30)"][0])  # null in JSON: not warmed up yet


@pytest.mark.django_db(databases=DBS)
def test_trade_window_near_edges_takes_what_exists(full_run):
    bars = loading.trade_window_bars(full_run, "AAPL", T0 + 5 * MINUTE, T0 + 195 * MINUTE, 50)
    assert len(bars) == N_BARS


@pytest.mark.django_db(databases=DBS)
def test_trade_window_trades_run_reads_secmaster_prices(trades_run):
    bars = loading.trade_window_bars(trades_run, "AAPL", T0 + 100 * MINUTE, T0 + 110 * MINUTE, 50)
    frame = _walk(3)
    assert bars.source == "secmaster"
    assert bars.ts.tolist() == [T0 + i * MINUTE for i in range(50, 161)]
    expected = np.round(frame["high"][50:161].to_numpy() * 1e9) / 1e9
    assert np.allclose(bars.high, expected, rtol=0, atol=1e-9)
    assert bars.indicators == {}


@pytest.mark.django_db(databases=DBS)
def test_trade_chart_trades_run_draws_secmaster_bars(trades_run):
    png = trade_chart_png(
        "trades",
        symbol="AAPL",
        start_ns=T0 + 100 * MINUTE,
        end_ns=T0 + 110 * MINUTE,
        direction="LONG",
        pnl=-3.5,
    )
    assert png_size(png) == (1200, 700)  # no indicator panels without recorded bars
    assert colour_share(png, UP_RGB) > 0.001 and colour_share(png, DOWN_RGB) > 0.001


@pytest.mark.django_db(databases=DBS)
def test_equity_trades_run_values_on_secmaster_closes(trades_run):
    png = equity_png("trades", symbol="AAPL")
    assert png_size(png) == (1200, 700)
    account = run_account_replay(trades_run, symbols=["AAPL"])
    assert account.timestamps == N_BARS  # the run's whole day, read back from the security master


# --- Robustness ------------------------------------------------------------------------------
def test_message_png_same_bytes_from_concurrent_threads():
    expected = style.message_png("Title", "No trades in this run")
    results: list[bytes] = []

    def render() -> None:
        results.append(style.message_png("Title", "No trades in this run"))

    threads = [threading.Thread(target=render) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


@pytest.mark.django_db(databases=DBS)
def test_pnl_summary_uses_real_roundtrips(full_run):
    trades = roundtrips_for_run("full")
    assert len(trades) == 3
    aapl = loading.roundtrips_frame(full_run, "AAPL")
    by_exit = sorted(
        (t for t in trades if t["symbol"] == "AAPL"), key=lambda t: (t["exit_ts"], t["entry_ts"])
    )
    assert aapl["pnl_after_commission"].round(2).tolist() == [
        t["pnl_after_commission"] for t in by_exit
    ]


@pytest.mark.parametrize(
    ("money", "locs", "expected"),
    [
        (True, [-2000.0, 0.0, 2000.0, 4000.0], ["−$2,000", "$0", "$2,000", "$4,000"]),
        (False, [0.25, 0.5, 0.75], ["0.25", "0.50", "0.75"]),
        (True, [0.0, 500_000.0, 1_000_000.0], ["$0", "$0.5M", "$1.0M"]),
        (False, [100_000.0, 150_000.0], ["100k", "150k"]),
    ],
)
def test_thousands_formatter_ticks_hand_written(money, locs, expected):
    formatter = style.ThousandsFormatter(money=money)
    assert formatter.format_ticks(locs) == expected


# --- A real executed run ------------------------------------------------------------------------
def _walk_rows(
    instrument: int, n: int, seed: int
) -> list[tuple[int, int, int, int, int, int, int]]:
    frame = _walk(seed, n=n)
    return [
        (instrument, int(r.ts), round(r.open * P), round(r.high * P), round(r.low * P),
         round(r.close * P), 100)
        for r in frame.itertuples()
    ]  # fmt: skip


@pytest.mark.django_db(databases=DBS)
@pytest.mark.parametrize("record", ["full", "trades"])
def test_charts_of_executed_backtest(tmp_path, record):
    """Bollinger reversion executed by the real engine and recorder, then charted."""
    publisher_id = ingest_bars(
        tmp_path,
        bars=_walk_rows(10, 400, 21),
        mappings={"AAPL": [("2024-01-02", "2024-01-10", 10)]},
    )
    spec = backtest_spec_build(
        strategy="BollingerReversion", strategy_params={"period": 10, "num_std": 1.5},
        symbols=["AAPL"], rtype=33, publisher_id=publisher_id, record=record,
        commission_per_unit=0.01, minimum_commission=0.5,
    )  # fmt: skip
    run = run_execute(run_id=run_create(spec=spec).run_id)
    assert run.status == "completed"
    trades = roundtrips_for_run(run.run_id)
    assert trades, "the scenario must trade"
    first = trades[0]
    png = trade_chart_png(
        run.run_id, symbol="AAPL", start_ns=first["entry_ts"], end_ns=first["exit_ts"],
        direction=first["direction"], pnl=first["pnl_after_commission"],
    )  # fmt: skip
    panels = 1 if record == "full" else 0  # the bandwidth panel needs recorded indicator values
    assert png_size(png) == (1200, 700 + 150 * panels)
    for render in (trade_journey_png, pnl_summary_png, equity_png):
        assert png_size(render(run.run_id, symbol="AAPL")) == (1200, 700)
