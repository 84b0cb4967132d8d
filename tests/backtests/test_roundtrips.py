"""Round trips from fills and bars: hand-made frames for the arithmetic, ORM rows for loading.

Every expected number is worked out by hand in the comments. P&L on a bar =
position * price - net cash paid (cash = sum of signed quantity * price of the trade's fills
so far); best/worst of a bar use its high and low; the exit bar shows the realised P&L.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from backtests.analysis.frames import empty_bars_frame
from backtests.analysis.roundtrips import (
    UNKNOWN_SIDE,
    roundtrips_from_frames,
    trades_from_frames,
)
from backtests.models import Fill, ProcessedBar, RecordedBar, Run
from backtests.results.selectors import RUN_NOT_FOUND, roundtrips_for_run
from ostsite.errors import NotFound
from secmaster.models import Instrument, OhlcvBar, Publisher, SymbologyMapping
from tests.backtests.run_rows import BASE_NS as BASE
from tests.backtests.run_rows import SEED_ROUNDTRIP_KEYS as SEED_KEYS
from tests.backtests.run_rows import t


def fills_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (minute, symbol, side, quantity, price, commission)."""
    return pd.DataFrame(
        [(t(m), s, side, float(q), float(p), float(c)) for m, s, side, q, p, c in rows],
        columns=["ts_event_ns", "symbol", "side", "quantity_filled", "fill_price", "commission"],
    )


def bars_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (minute, symbol, high, low)."""
    if not rows:
        return empty_bars_frame()
    return pd.DataFrame(
        [(t(m), s, float(h), float(lo)) for m, s, h, lo in rows],
        columns=["ts_event_ns", "symbol", "high", "low"],
    )


def only(frame: pd.DataFrame) -> dict:
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


# --- pure computation -------------------------------------------------------------------


def test_roundtrips_long_with_bars_gives_pnl_watermarks_and_drawdown():
    fills = fills_frame([(1, "AAPL", "BUY", 10, 100, 1), (4, "AAPL", "SELL", 10, 110, 1)])
    bars = bars_frame(
        [
            (0, "AAPL", 101, 99),  # before entry: not part of the trade
            (1, "AAPL", 103, 98),  # pos 10, cash 1000: best 1030-1000=30, worst 980-1000=-20
            (2, "AAPL", 106, 101),  # best 60, worst 10
            (3, "AAPL", 104, 95),  # best 40, worst -50
            (4, "AAPL", 112, 108),  # exit filled: pos 0, cash 1000-1100=-100 -> 100
            (5, "AAPL", 120, 90),  # after exit: not part of the trade
            (2, "MSFT", 999, 1),  # another symbol: ignored
        ]
    )
    rt = only(roundtrips_from_frames(fills, bars))
    assert rt["symbol"] == "AAPL"
    assert rt["direction"] == "LONG"
    assert rt["duration_bars"] == 4  # minutes 1, 2, 3, 4
    assert rt["max_position"] == 10
    assert rt["pnl_before_commission"] == pytest.approx(100.0)  # (110-100)*10
    assert rt["pnl_after_commission"] == pytest.approx(98.0)  # 100 - 1 - 1
    assert rt["commission"] == pytest.approx(2.0)
    assert rt["high_watermark"] == pytest.approx(100.0)  # max(0, 30, 60, 40, 100)
    assert rt["low_watermark"] == pytest.approx(-50.0)  # min(0, -20, 10, -50, 100)
    # running peaks 30, 60, 60, 100; drawdowns 30+20=50, 60-10=50, 60+50=110, 0
    assert rt["max_drawdown"] == pytest.approx(110.0)
    assert (rt["entry_ts"], rt["exit_ts"]) == (t(1), t(4))
    assert (rt["entry_price"], rt["exit_price"], rt["quantity"]) == (100.0, 110.0, 10.0)
    assert rt["n_fills"] == 2


def test_roundtrips_short_with_bars_uses_low_as_best_and_high_as_worst():
    fills = fills_frame([(1, "ES", "SELL", 5, 50, 0.5), (3, "ES", "BUY", 5, 45, 0.5)])
    bars = bars_frame(
        [
            (1, "ES", 52, 49),  # pos -5, cash -250: at high -260+250=-10, at low -245+250=5
            (2, "ES", 51, 44),  # at high -255+250=-5, at low -220+250=30
            (3, "ES", 46, 44),  # exit: cash -250+225=-25 -> realised 25
        ]
    )
    rt = only(roundtrips_from_frames(fills, bars))
    assert rt["direction"] == "SHORT"
    assert rt["max_position"] == 5  # absolute size
    assert rt["pnl_before_commission"] == pytest.approx(25.0)  # (50-45)*5
    assert rt["pnl_after_commission"] == pytest.approx(24.0)  # 25 - 0.5 - 0.5
    assert rt["high_watermark"] == pytest.approx(30.0)
    assert rt["low_watermark"] == pytest.approx(-10.0)
    # peaks 5, 30, 30; drawdowns 5+10=15, 30+5=35, 30-25=5
    assert rt["max_drawdown"] == pytest.approx(35.0)
    assert rt["duration_bars"] == 3


def test_roundtrips_scale_in_averages_entry_and_follows_position_per_bar():
    fills = fills_frame(
        [
            (1, "AAPL", "BUY", 10, 100, 0),
            (2, "AAPL", "BUY", 10, 110, 0),
            (3, "AAPL", "SELL", 20, 120, 0),
        ]
    )
    bars = bars_frame(
        [
            (1, "AAPL", 102, 99),  # pos 10, cash 1000: best 20, worst -10
            (2, "AAPL", 111, 108),  # pos 20, cash 2100: best 2220-2100=120, worst 2160-2100=60
            (3, "AAPL", 121, 119),  # flat: 2400-2100 = 300
        ]
    )
    rt = only(roundtrips_from_frames(fills, bars))
    assert rt["entry_price"] == pytest.approx(105.0)  # (1000 + 1100) / 20
    assert rt["quantity"] == 20
    assert rt["max_position"] == 20
    assert rt["pnl_before_commission"] == pytest.approx(300.0)  # (120-105)*20
    assert rt["high_watermark"] == pytest.approx(300.0)
    assert rt["low_watermark"] == pytest.approx(-10.0)
    assert rt["max_drawdown"] == pytest.approx(60.0)  # peaks 20,120,300; dd 30, 60, 0
    assert rt["n_fills"] == 3


def test_roundtrips_partial_exits_stay_in_one_trade():
    fills = fills_frame(
        [
            (1, "AAPL", "BUY", 10, 100, 1),
            (2, "AAPL", "SELL", 4, 110, 1),
            (3, "AAPL", "SELL", 6, 90, 1),
        ]
    )
    bars = bars_frame(
        [
            (1, "AAPL", 101, 99),  # pos 10, cash 1000: best 10, worst -10
            (2, "AAPL", 112, 95),  # pos 6, cash 1000-440=560: best 672-560=112, worst 570-560=10
            (3, "AAPL", 91, 89),  # flat: 440 + 540 - 1000 = -20
        ]
    )
    rt = only(roundtrips_from_frames(fills, bars))
    assert rt["pnl_before_commission"] == pytest.approx(-20.0)
    assert rt["pnl_after_commission"] == pytest.approx(-23.0)  # three commissions of 1
    assert rt["exit_price"] == pytest.approx(98.0)  # (440 + 540) / 10
    assert rt["max_position"] == 10
    assert rt["high_watermark"] == pytest.approx(112.0)
    assert rt["low_watermark"] == pytest.approx(-20.0)
    # peaks 10, 112, 112; drawdowns 20, 102, 132
    assert rt["max_drawdown"] == pytest.approx(132.0)
    assert (rt["entry_ts"], rt["exit_ts"]) == (t(1), t(3))


def test_roundtrips_reversal_splits_fill_and_commission_pro_rata():
    fills = fills_frame(
        [
            (1, "AAPL", "BUY", 10, 100, 1),
            (2, "AAPL", "SELL", 15, 110, 3),  # 10 close the long (commission 2), 5 open a short (1)
            (3, "AAPL", "BUY", 5, 100, 1),
        ]
    )
    bars = bars_frame([(1, "AAPL", 102, 98), (2, "AAPL", 112, 108), (3, "AAPL", 101, 99)])
    trades = roundtrips_from_frames(fills, bars)
    assert len(trades) == 2
    long, short = trades.iloc[0].to_dict(), trades.iloc[1].to_dict()

    assert long["direction"] == "LONG"
    assert (long["entry_ts"], long["exit_ts"]) == (t(1), t(2))
    assert long["quantity"] == 10
    assert long["pnl_before_commission"] == pytest.approx(100.0)  # (110-100)*10
    assert long["commission"] == pytest.approx(3.0)  # 1 + 3*10/15
    assert long["pnl_after_commission"] == pytest.approx(97.0)
    # bar 1: pos 10, cash 1000 -> best 20, worst -20; bar 2: closed -> 100
    assert (long["high_watermark"], long["low_watermark"]) == (100.0, -20.0)
    assert long["max_drawdown"] == pytest.approx(40.0)  # peak 20 - (-20)
    assert long["duration_bars"] == 2

    assert short["direction"] == "SHORT"
    assert (short["entry_ts"], short["exit_ts"]) == (t(2), t(3))
    assert short["quantity"] == 5
    assert short["max_position"] == 5
    assert short["entry_price"] == 110.0
    assert short["pnl_before_commission"] == pytest.approx(50.0)  # (110-100)*5
    assert short["commission"] == pytest.approx(2.0)  # 3*5/15 + 1
    assert short["pnl_after_commission"] == pytest.approx(48.0)
    # bar 2: pos -5, cash -550 -> at high -560+550=-10, at low -540+550=10; bar 3: closed -> 50
    assert (short["high_watermark"], short["low_watermark"]) == (50.0, -10.0)
    assert short["max_drawdown"] == pytest.approx(20.0)  # peak 10 - (-10)
    assert short["duration_bars"] == 2


def test_roundtrips_losing_trade_measures_drawdown_from_zero():
    fills = fills_frame([(1, "AAPL", "BUY", 10, 100, 0), (3, "AAPL", "SELL", 10, 96, 0)])
    bars = bars_frame(
        [
            (1, "AAPL", 99, 97),  # pos 10, cash 1000: best 990-1000=-10, worst 970-1000=-30
            (2, "AAPL", 98, 95),  # best -20, worst -50
            (3, "AAPL", 97, 95),  # closed: 960 - 1000 = -40
        ]
    )
    rt = only(roundtrips_from_frames(fills, bars))
    assert rt["high_watermark"] == 0.0  # never above the entry
    assert rt["low_watermark"] == pytest.approx(-50.0)
    assert rt["max_drawdown"] == pytest.approx(50.0)  # peak stays 0: 0 - (-50)
    assert rt["pnl_before_commission"] == pytest.approx(-40.0)


def test_roundtrips_exit_and_reentry_at_same_time_keep_each_trades_own_state():
    fills = fills_frame(
        [
            (1, "AAPL", "BUY", 10, 100, 0),
            (2, "AAPL", "SELL", 10, 110, 0),
            (2, "AAPL", "BUY", 10, 110, 0),  # a new trade on the same bar
            (3, "AAPL", "SELL", 10, 105, 0),
        ]
    )
    bars = bars_frame([(1, "AAPL", 101, 99), (2, "AAPL", 112, 108), (3, "AAPL", 106, 104)])
    first, second = (row.to_dict() for _, row in roundtrips_from_frames(fills, bars).iterrows())
    # first: bar 1 best 10 worst -10; bar 2 closed at 100
    assert (first["high_watermark"], first["low_watermark"], first["max_drawdown"]) == (
        100.0,
        -10.0,
        20.0,
    )
    # second: bar 2 pos 10, cash 1100: best 1120-1100=20, worst 1080-1100=-20; bar 3 closed -50
    assert second["pnl_before_commission"] == pytest.approx(-50.0)
    assert (second["high_watermark"], second["low_watermark"]) == (20.0, -50.0)
    assert second["max_drawdown"] == pytest.approx(70.0)  # peak 20 - (-50)


def test_roundtrips_interleaved_symbols_are_separate_and_ordered_by_symbol():
    fills = fills_frame(
        [
            (1, "MSFT", "SELL", 2, 300, 0),
            (2, "AAPL", "BUY", 10, 100, 0),
            (3, "MSFT", "BUY", 2, 290, 0),
            (4, "AAPL", "SELL", 10, 105, 0),
            (5, "MSFT", "BUY", 1, 280, 0),
            (6, "MSFT", "SELL", 1, 285, 0),
        ]
    )
    trades = roundtrips_from_frames(fills, empty_bars_frame())
    got = [
        (r.symbol, r.direction, r.entry_ts, r.exit_ts, r.pnl_before_commission)
        for r in trades.itertuples()
    ]
    assert got == [
        ("AAPL", "LONG", t(2), t(4), 50.0),  # (105-100)*10
        ("MSFT", "SHORT", t(1), t(3), 20.0),  # (300-290)*2
        ("MSFT", "LONG", t(5), t(6), 5.0),  # (285-280)*1
    ]
    # no bars: no path
    assert trades["duration_bars"].tolist() == [0, 0, 0]
    assert trades["max_drawdown"].tolist() == [0.0, 0.0, 0.0]


def test_roundtrips_interleaved_symbols_mark_each_trade_on_its_own_bars():
    fills = fills_frame(
        [
            (1, "MSFT", "SELL", 2, 300, 0),
            (2, "AAPL", "BUY", 10, 100, 0),
            (3, "MSFT", "BUY", 2, 290, 0),
            (4, "AAPL", "SELL", 10, 105, 0),
        ]
    )
    bars = bars_frame(
        [
            (1, "AAPL", 500, 1),  # before the AAPL trade
            (1, "MSFT", 305, 298),  # pos -2, cash -600: at high -610+600=-10, at low -596+600=4
            (2, "AAPL", 101, 99),  # pos 10, cash 1000: best 10, worst -10
            (2, "MSFT", 302, 295),  # at high -4, at low 10
            (3, "AAPL", 103, 100),  # best 30, worst 0
            (3, "MSFT", 291, 289),  # closed: 600 - 580 = 20
            (4, "AAPL", 106, 104),  # closed: 1050 - 1000 = 50
            (4, "MSFT", 999, 1),  # after the MSFT trade
        ]
    )
    aapl, msft = (row.to_dict() for _, row in roundtrips_from_frames(fills, bars).iterrows())
    assert (aapl["symbol"], aapl["duration_bars"]) == ("AAPL", 3)
    # AAPL peaks 10, 30, 50; drawdowns 20, 30, 0
    assert (aapl["high_watermark"], aapl["low_watermark"], aapl["max_drawdown"]) == (
        50.0,
        -10.0,
        30.0,
    )
    assert (msft["symbol"], msft["duration_bars"]) == ("MSFT", 3)
    # MSFT peaks 4, 10, 20; drawdowns 14, 14, 0
    assert (msft["high_watermark"], msft["low_watermark"], msft["max_drawdown"]) == (
        20.0,
        -10.0,
        14.0,
    )


def test_roundtrips_open_position_at_end_is_left_out():
    fills = fills_frame(
        [
            (1, "AAPL", "BUY", 10, 100, 0),
            (2, "AAPL", "SELL", 10, 101, 0),
            (3, "AAPL", "BUY", 5, 100, 0),
        ]
    )
    all_trades = trades_from_frames(fills, empty_bars_frame())
    assert all_trades["closed"].tolist() == [True, False]
    closed = roundtrips_from_frames(fills, empty_bars_frame())
    assert closed["exit_ts"].tolist() == [t(2)]


def test_roundtrips_fractional_quantities_return_to_flat():
    # 0.1 + 0.2 - 0.3 is 5.55e-17 in floating point: still flat
    fills = fills_frame(
        [
            (1, "BTC", "BUY", 0.1, 100, 0),
            (2, "BTC", "BUY", 0.2, 100, 0),
            (3, "BTC", "SELL", 0.3, 110, 0),
        ]
    )
    rt = only(roundtrips_from_frames(fills, empty_bars_frame()))
    assert rt["pnl_before_commission"] == pytest.approx(3.0)  # 0.3 * (110 - 100)


def test_roundtrips_unknown_side_raises_value_error():
    fills = fills_frame([(1, "AAPL", "HOLD", 1, 100, 0)])
    with pytest.raises(ValueError) as excinfo:
        roundtrips_from_frames(fills, empty_bars_frame())
    assert str(excinfo.value) == UNKNOWN_SIDE.format(sides=["HOLD"])


def test_roundtrips_no_fills_gives_empty_frame():
    fills = fills_frame([])
    assert roundtrips_from_frames(fills, empty_bars_frame()).empty


# --- loading from the database -----------------------------------------------------------


def make_run(run_id: str = "r1", *, record: str = "full", **config) -> Run:
    cfg = {"symbols": ["AAPL"], "rtype": 33, "publisher_id": 1, "record": record, **config}
    return Run.objects.create(
        run_id=run_id, name=run_id, ts_start=BASE, status="completed", config=cfg
    )


def make_fills(run: Run, rows: list[tuple]) -> None:
    """rows: (minute, symbol, side, quantity, price, commission)."""
    Fill.objects.bulk_create(
        Fill(
            run=run,
            ts_event_ns=t(m),
            ts_created_ns=t(m),
            ts_broker_ns=t(m),
            associated_order_id=f"O{i:06d}",
            broker_order_id=f"B{i:06d}",
            symbol=s,
            fill_id=f"F{i:06d}",
            broker_fill_id=None,
            side=side,
            quantity_filled=q,
            fill_price=p,
            commission=c,
            exchange="SIMULATED",
        )
        for i, (m, s, side, q, p, c) in enumerate(rows)
    )


def make_bars(run: Run, rows: list[tuple], model=RecordedBar) -> None:
    """rows: (minute, symbol, high, low)."""
    extra = {"indicators": "{}"} if model is ProcessedBar else {}
    model.objects.bulk_create(
        model(
            run=run,
            ts_event_ns=t(m),
            ts_created_ns=t(m),
            symbol=s,
            bar_period="MINUTE",
            open=lo,
            high=h,
            low=lo,
            close=h,
            volume=1,
            **extra,
        )
        for m, s, h, lo in rows
    )


LONG_FILLS = [(1, "AAPL", "BUY", 10, 100, 1), (4, "AAPL", "SELL", 10, 110, 1)]
LONG_BARS = [
    (1, "AAPL", 103, 98),
    (2, "AAPL", 106, 101),
    (3, "AAPL", 104, 95),
    (4, "AAPL", 112, 108),
]
# the first test's trade: pnl 100 / 98, watermarks 100 / -50, drawdown 110, 4 bars
LONG_EXPECTED = {
    "symbol": "AAPL",
    "direction": "LONG",
    "duration_bars": 4,
    "max_position": 10.0,
    "high_watermark": 100.0,
    "low_watermark": -50.0,
    "max_drawdown": 110.0,
    "pnl_before_commission": 100.0,
    "pnl_after_commission": 98.0,
    "entry_ts": t(1),
    "exit_ts": t(4),
}


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_recorded_bars_gives_seed_fields():
    run = make_run()
    make_fills(run, LONG_FILLS)
    make_bars(run, LONG_BARS)
    [rt] = roundtrips_for_run("r1")
    assert set(rt) >= SEED_KEYS
    assert {k: rt[k] for k in SEED_KEYS} == LONG_EXPECTED
    assert type(rt["entry_ts"]) is int and type(rt["duration_bars"]) is int


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_processed_bars_when_bars_table_empty():
    run = make_run()
    make_fills(run, LONG_FILLS)
    make_bars(run, LONG_BARS, model=ProcessedBar)
    [rt] = roundtrips_for_run("r1")
    assert {k: rt[k] for k in SEED_KEYS} == LONG_EXPECTED


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_trades_only_record_uses_secmaster_bars():
    publisher = Publisher.objects.create(name="databento", dataset="XNAS.ITCH", venue="XNAS")
    run = make_run(record="trades", publisher_id=publisher.publisher_id)
    make_fills(run, LONG_FILLS)
    day = dt.date(2024, 1, 2)
    old = Instrument.objects.create(publisher=publisher, source_instrument_id=7, symbol=None)
    new = Instrument.objects.create(publisher=publisher, source_instrument_id=8, symbol=None)
    # AAPL was instrument 7 until 2024-01-02 and is instrument 8 from then on; instrument 7's
    # bars on 2024-01-02 belong to no symbol and must be ignored.
    SymbologyMapping.objects.bulk_create(
        [
            SymbologyMapping(
                publisher=publisher,
                symbol="AAPL",
                symbol_type="raw_symbol",
                source_instrument_id=7,
                start_date=dt.date(2023, 12, 1),
                end_date=day,
            ),
            SymbologyMapping(
                publisher=publisher,
                symbol="AAPL",
                symbol_type="raw_symbol",
                source_instrument_id=8,
                start_date=day,
                end_date=dt.date(2024, 2, 1),
            ),
        ]
    )
    scale = 1_000_000_000
    rows = [
        OhlcvBar(
            instrument=new,
            rtype=33,
            ts_event=t(m),
            open=lo * scale,
            high=h * scale,
            low=lo * scale,
            close=h * scale,
            volume=1,
        )
        for m, _, h, lo in LONG_BARS
    ]
    rows += [
        # same times, other instrument (unmapped that day) and other rtype: both ignored
        OhlcvBar(
            instrument=old,
            rtype=33,
            ts_event=t(2),
            open=1 * scale,
            high=500 * scale,
            low=1 * scale,
            close=1 * scale,
            volume=1,
        ),
        OhlcvBar(
            instrument=new,
            rtype=32,
            ts_event=t(2),
            open=1 * scale,
            high=500 * scale,
            low=1 * scale,
            close=1 * scale,
            volume=1,
        ),
    ]
    OhlcvBar.objects.bulk_create(rows)
    [rt] = roundtrips_for_run("r1")
    assert {k: rt[k] for k in SEED_KEYS} == LONG_EXPECTED


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_symbol_filter_keeps_that_symbol():
    run = make_run()
    make_fills(
        run,
        [
            (1, "MSFT", "SELL", 2, 300, 0),
            (2, "AAPL", "BUY", 10, 100, 0),
            (3, "MSFT", "BUY", 2, 290, 0),
            (4, "AAPL", "SELL", 10, 105, 0),
        ],
    )
    assert [r["symbol"] for r in roundtrips_for_run("r1")] == ["AAPL", "MSFT"]
    [msft] = roundtrips_for_run("r1", symbol="MSFT")
    assert (msft["direction"], msft["pnl_before_commission"]) == ("SHORT", 20.0)
    assert roundtrips_for_run("r1", symbol="NOPE") == []


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_same_timestamp_fills_follow_insertion_order():
    # buy then sell at the same minute: a flat trade, not a short followed by a long
    run = make_run()
    make_fills(run, [(1, "AAPL", "BUY", 1, 100, 0), (1, "AAPL", "SELL", 1, 101, 0)])
    [rt] = roundtrips_for_run("r1")
    assert (rt["direction"], rt["pnl_before_commission"]) == ("LONG", 1.0)


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_no_fills_gives_empty_list():
    make_run()
    assert roundtrips_for_run("r1") == []


@pytest.mark.django_db(databases=["default", "secmaster"])
@pytest.mark.parametrize("run_id", ["missing", "bad\x00id"])
def test_roundtrips_for_run_unknown_run_raises_not_found(run_id):
    with pytest.raises(NotFound) as excinfo:
        roundtrips_for_run(run_id)
    assert excinfo.value.message.startswith("Run not found: ")
    if run_id == "missing":
        assert excinfo.value.message == RUN_NOT_FOUND.format(run_id="missing")


def _make_trades(run: Run, n: int) -> None:
    fills, bars = [], []
    for i in range(n):
        sym = ("AAPL", "MSFT")[i % 2]
        fills += [(3 * i, sym, "BUY", 1, 100 + i, 0), (3 * i + 2, sym, "SELL", 1, 101 + i, 0)]
        bars += [(3 * i + k, sym, 102 + i, 99 + i) for k in range(3)]
    make_fills(run, fills)
    make_bars(run, bars)


def _count_queries(run_id: str) -> tuple[int, int]:
    """Queries on (default, secmaster) while computing the run's round trips."""
    with (
        CaptureQueriesContext(connections["default"]) as default,
        CaptureQueriesContext(connections["secmaster"]) as secmaster,
    ):
        roundtrips_for_run(run_id)
    return len(default.captured_queries), len(secmaster.captured_queries)


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_query_count_does_not_grow_with_trades(django_assert_max_num_queries):
    _make_trades(make_run("few"), 5)
    _make_trades(make_run("many"), 50)
    # The first read computes and stores the results: as many queries for 5 trades as for 50.
    few = _count_queries("few")
    many = _count_queries("many")
    assert few == many
    assert few[1] == 0  # bars recorded with the run: the security master is not read
    assert len(roundtrips_for_run("many")) == 50
    # Later reads take the stored rows: the run, its result, the round trips.
    with django_assert_max_num_queries(3):
        roundtrips_for_run("many")


@pytest.mark.django_db(databases=["default", "secmaster"])
def test_roundtrips_for_run_secmaster_fallback_query_count_is_constant():
    publisher = Publisher.objects.create(name="databento", dataset="XNAS.ITCH", venue="XNAS")
    for run_id, n in (("few", 5), ("many", 50)):
        run = make_run(run_id, record="trades", publisher_id=publisher.publisher_id)
        make_fills(
            run,
            [
                (3 * i + k, "AAPL", side, 1, 100, 0)
                for i in range(n)
                for k, side in ((0, "BUY"), (2, "SELL"))
            ],
        )
    instrument = Instrument.objects.create(publisher=publisher, source_instrument_id=1)
    SymbologyMapping.objects.create(
        publisher=publisher,
        symbol="AAPL",
        symbol_type="raw_symbol",
        source_instrument_id=1,
        start_date=dt.date(2024, 1, 1),
        end_date=dt.date(2024, 2, 1),
    )
    OhlcvBar.objects.bulk_create(
        OhlcvBar(
            instrument=instrument, rtype=33, ts_event=t(m), open=1, high=2, low=1, close=1, volume=1
        )
        for m in range(150)
    )
    # Computed from the security master's bars: the same queries for 5 trades as for 50.
    assert _count_queries("few") == _count_queries("many")
    assert {r["duration_bars"] for r in roundtrips_for_run("many")} == {3}
