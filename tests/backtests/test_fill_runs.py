"""Fill models through the security master: finer bars and tick sizes read by the datafeed
from real DBN-ingested bars, and whole runs (intrabar, strict, classic, costs) with
hand-computed fills."""

from __future__ import annotations

import pytest

from backtests.engine.enums import BarPeriod
from backtests.feeds import SecmasterDatafeed
from backtests.models import Fill
from backtests.services.backtest_spec import backtest_spec_build
from backtests.services.runs import run_create, run_execute
from tests.backtests.fill_runs import (
    bracket_strategy_dir,
    ingest_bracket_data,
)
from tests.backtests.market_data import P, ingest_bars, ns

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

SECOND = 1_000_000_000


def _row(inst: int, moment: str, o: float, h: float, low: float, c: float, v: int = 10):
    return (inst, ns(moment), *(int(round(x * P)) for x in (o, h, low, c)), v)


def _feed(publisher: int, period: BarPeriod, symbols=("AAPL",), **kw) -> SecmasterDatafeed:
    return SecmasterDatafeed(symbols=symbols, bar_period=period, publisher_id=publisher, **kw)


# --- the datafeed as finer-bars provider -----------------------------------------------------


def test_finer_bars_of_a_minute_are_its_seconds_same_instrument_as_the_symbol(tmp_path):
    # AAPL is instrument 10 on Jan 2 and instrument 11 on Jan 3; instrument 10 also has
    # seconds on Jan 3 (under another symbol's mapping): they must not be used for AAPL.
    mappings = {
        "AAPL": [("2024-01-02", "2024-01-03", 10), ("2024-01-03", "2024-01-04", 11)],
        "OLD": [("2024-01-03", "2024-01-04", 10)],
    }
    minutes = [
        _row(10, "2024-01-02T14:30", 100, 101, 99, 100),
        _row(11, "2024-01-03T14:30", 200, 201, 199, 200),
    ]
    seconds = [
        _row(10, "2024-01-02T14:30:00", 100, 101, 99.5, 100.5),
        _row(10, "2024-01-02T14:30:59", 100.5, 100.5, 99, 100),
        _row(10, "2024-01-02T14:31:00", 1, 1, 1, 1),  # the next minute: not asked for
        _row(10, "2024-01-03T14:30:00", 300, 300, 300, 300),  # OLD's now
        _row(11, "2024-01-03T14:30:07", 200, 201, 199, 200, 42),
    ]
    publisher = ingest_bars(tmp_path, bars=minutes, mappings=mappings, rtype=33, name="m")
    ingest_bars(tmp_path, bars=seconds, mappings=mappings, rtype=32, name="s")
    feed = _feed(publisher, BarPeriod.MINUTE)
    minute = 60 * SECOND

    day1 = feed.finer_bars("AAPL", ns("2024-01-02T14:30"), ns("2024-01-02T14:30") + minute)
    day2 = feed.finer_bars("AAPL", ns("2024-01-03T14:30"), ns("2024-01-03T14:30") + minute)

    assert [
        (b.ts_event_ns, b.symbol, b.bar_period, b.open, b.high, b.low, b.close) for b in day1
    ] == [
        (ns("2024-01-02T14:30:00"), "AAPL", BarPeriod.SECOND, 100.0, 101.0, 99.5, 100.5),
        (ns("2024-01-02T14:30:59"), "AAPL", BarPeriod.SECOND, 100.5, 100.5, 99.0, 100.0),
    ]
    assert [(b.ts_event_ns, b.open, b.volume) for b in day2] == [
        (ns("2024-01-03T14:30:07"), 200.0, 42)
    ]
    assert feed.finer_bars("MSFT", ns("2024-01-02T14:30"), ns("2024-01-02T14:31")) == []


def test_finer_bars_under_hours_are_seconds_else_minutes(tmp_path):
    mappings = {"AAPL": [("2024-01-02", "2024-01-04", 10)]}
    hours = [
        _row(10, "2024-01-02T14:00", 100, 102, 98, 101),
        _row(10, "2024-01-03T14:00", 101, 103, 99, 102),
    ]
    minutes = [
        _row(10, "2024-01-02T14:10", 100, 102, 98, 101),
        _row(10, "2024-01-03T14:10", 101, 103, 99, 102),
    ]
    seconds = [_row(10, "2024-01-03T14:10:05", 101, 103, 99, 102)]  # only on Jan 3
    publisher = ingest_bars(tmp_path, bars=hours, mappings=mappings, rtype=34, name="h")
    ingest_bars(tmp_path, bars=minutes, mappings=mappings, rtype=33, name="m")
    ingest_bars(tmp_path, bars=seconds, mappings=mappings, rtype=32, name="s")
    feed = _feed(publisher, BarPeriod.HOUR)
    hour = 3600 * SECOND

    jan2 = feed.finer_bars("AAPL", ns("2024-01-02T14:00"), ns("2024-01-02T14:00") + hour)
    jan3 = feed.finer_bars("AAPL", ns("2024-01-03T14:00"), ns("2024-01-03T14:00") + hour)
    assert [(b.ts_event_ns, b.bar_period) for b in jan2] == [
        (ns("2024-01-02T14:10"), BarPeriod.MINUTE)
    ]
    assert [(b.ts_event_ns, b.bar_period) for b in jan3] == [
        (ns("2024-01-03T14:10:05"), BarPeriod.SECOND)
    ]
    second_feed = _feed(publisher, BarPeriod.SECOND)  # nothing is finer than a second
    assert (
        second_feed.finer_bars("AAPL", ns("2024-01-03T14:10:05"), ns("2024-01-03T14:10:06")) == []
    )


def test_finer_bars_under_days_come_from_the_blocks(tmp_path):
    # A day is longer than an hour: its finer bars are read through the columnar blocks.
    mappings = {"AAPL": [("2024-01-02", "2024-01-03", 10)]}
    days = [_row(10, "2024-01-02T00:00", 100, 102, 98, 101)]
    minutes = [
        _row(10, "2024-01-02T14:30", 100, 102, 99, 101),
        _row(10, "2024-01-02T14:31", 101, 101, 98, 99),
        _row(10, "2024-01-03T14:30", 7, 7, 7, 7),  # the next day: not asked for
    ]
    publisher = ingest_bars(tmp_path, bars=days, mappings=mappings, rtype=35, name="d")
    ingest_bars(tmp_path, bars=minutes, mappings=mappings, rtype=33, name="m")
    feed = _feed(publisher, BarPeriod.DAY)
    day = feed.finer_bars("AAPL", ns("2024-01-02T00:00"), ns("2024-01-03T00:00"))
    assert [(b.ts_event_ns, b.bar_period, b.low) for b in day] == [
        (ns("2024-01-02T14:30"), BarPeriod.MINUTE, 99.0),
        (ns("2024-01-02T14:31"), BarPeriod.MINUTE, 98.0),
    ]


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ((185.12, 185.13, 185.5, 186.07, 184.99), 0.01),  # cents
        ((4500.25, 4500.5, 4501.0, 4503.75, 4502.25), 0.25),  # quarter points (futures)
    ],
)
def test_tick_sizes_from_the_prices_in_range(tmp_path, prices, expected):
    mappings = {"AAPL": [("2024-01-02", "2024-01-03", 10)]}
    bars = [
        _row(10, f"2024-01-02T14:{30 + i}", p, p + 4 * expected, p - 4 * expected, p)
        for i, p in enumerate(prices)
    ]
    publisher = ingest_bars(tmp_path, bars=bars, mappings=mappings, rtype=33)
    assert _feed(publisher, BarPeriod.MINUTE).tick_sizes() == {"AAPL": expected}


# --- whole runs --------------------------------------------------------------------------------


@pytest.fixture
def bracket(tmp_path, settings):
    settings.OST_STRATEGIES_DIR = bracket_strategy_dir(tmp_path / "strategies")
    return tmp_path


def _run(publisher: int, **fields):
    spec = backtest_spec_build(
        strategy="Bracket",
        strategy_params={},
        symbols=["AAPL"],
        rtype=33,
        publisher_id=publisher,
        record="trades",
        **fields,
    )
    run = run_execute(run_id=run_create(spec=spec).run_id)
    assert run.status == "completed", run.metadata
    fills = Fill.objects.filter(run_id=run.run_id).order_by("fill_id")
    return run, [
        (f.side, f.quantity_filled, f.fill_price, f.ts_event_ns, f.ts_broker_ns) for f in fills
    ]


T33 = ns("2024-01-02T14:33")
ENTRY = ("BUY", 1.0, 100.0, ns("2024-01-02T14:31"), ns("2024-01-02T14:31"))


def test_run_intrabar_take_profit_first_from_the_seconds(bracket):
    publisher = ingest_bracket_data(bracket)
    run, fills = _run(publisher, fill_model="intrabar")
    # the take-profit at 101 in second 0, then the stop at 99 in second 1 (a new short)
    assert fills == [
        ENTRY,
        ("SELL", 1.0, 101.0, T33, T33),
        ("SELL", 1.0, 99.0, T33, T33 + SECOND),
    ]
    meta = run.metadata
    assert (meta["ambiguous_bars"], meta["resolved_bars"], meta["unresolved_bars"]) == (1, 1, 0)
    # long 100 -> 101 realised; the short from 99 is still open
    assert meta["summary"]["realised_pnl"] == pytest.approx(1.0)
    assert run.config["fill_model"] == "intrabar"


@pytest.mark.parametrize("model", ["classic", "strict"])
def test_run_classic_and_strict_stop_first(bracket, model):
    publisher = ingest_bracket_data(bracket)
    run, fills = _run(publisher, fill_model=model)
    assert fills == [ENTRY, ("SELL", 1.0, 99.0, T33, T33), ("SELL", 1.0, 101.0, T33, T33)]
    assert run.metadata["summary"]["realised_pnl"] == pytest.approx(-1.0)
    if model == "strict":
        assert run.metadata["unresolved_bars"] == 1
    else:
        assert "ambiguous_bars" not in run.metadata


def test_run_intrabar_without_seconds_is_unresolved(bracket):
    publisher = ingest_bracket_data(bracket, seconds=False)
    run, fills = _run(publisher, fill_model="intrabar")
    assert fills[1:] == [("SELL", 1.0, 99.0, T33, T33), ("SELL", 1.0, 101.0, T33, T33)]
    meta = run.metadata
    assert (meta["ambiguous_bars"], meta["resolved_bars"], meta["unresolved_bars"]) == (1, 0, 1)


def test_run_slippage_in_ticks_from_prices_and_latency(bracket):
    # This data's prices move in steps of 0.1: the tick size read from them is 0.1, so 2 ticks
    # are 0.2. The entry pays 100.2, the bracket is 99.2 / 101.2; the stop fills at
    # 99.2 - 0.2 = 99.0, the take-profit (a limit) at 101.2.
    publisher = ingest_bracket_data(bracket)
    _, fills = _run(publisher, fill_model="classic", slippage_ticks=2)
    assert [side for side, *_ in fills] == ["BUY", "SELL", "SELL"]
    assert [price for _, _, price, *_ in fills] == pytest.approx([100.2, 99.0, 101.2])
    # 500 ms of latency: the entry (decided on 14:30, sent at its end, 14:31) reaches the
    # broker at 14:31:00.5, after 14:31's open: it fills at 14:32's open, 100.1. The bracket,
    # decided on 14:33, would arrive after the last bar.
    _, late = _run(publisher, fill_model="classic", latency_ms=500)
    assert late == [("BUY", 1.0, 100.1, ns("2024-01-02T14:32"), ns("2024-01-02T14:32"))]


def test_run_config_keeps_fill_settings_and_old_configs_default_to_classic(bracket):
    publisher = ingest_bracket_data(bracket)
    spec = backtest_spec_build(
        strategy="Bracket",
        strategy_params={},
        symbols=["AAPL"],
        rtype=33,
        publisher_id=publisher,
        fill_model="strict",
        slippage_bps="2.5",
        participation_cap="0.1",
        latency_ms=20,
    )
    config = spec.to_config()
    assert {k: config[k] for k in ("fill_model", "slippage_ticks", "slippage_bps")} == {
        "fill_model": "strict",
        "slippage_ticks": 0.0,
        "slippage_bps": 2.5,
    }
    assert (config["tick_size"], config["participation_cap"], config["latency_ms"]) == (
        None,
        0.1,
        20.0,
    )
    from backtests.services.backtest_spec import backtest_spec_from_mapping

    assert backtest_spec_from_mapping(config) == spec
    old = {k: v for k, v in config.items() if k not in ("fill_model", "slippage_bps")}
    old.pop("participation_cap")
    old.pop("latency_ms")
    assert backtest_spec_from_mapping(old).fills.is_classic
