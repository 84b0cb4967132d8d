"""SecmasterDatafeed: order, symbology resolution, date filters, prices, chunking."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connections

from backtests.engine.enums import BarPeriod
from backtests.engine.events import BarReceived
from backtests.feeds import SecmasterDatafeed
from secmaster.models import SymbolPreset
from tests.backtests.market_data import P, ingest_bars, ns

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

D = dt.date.fromisoformat


def _bar(inst: int, moment: str, price: float, volume: int = 10) -> tuple:
    p = int(round(price * P))
    return (inst, ns(moment), p, p + P, p - P, p, volume)


def _all(feed: SecmasterDatafeed) -> list[BarReceived]:
    return [bar for batch in feed.batches() for bar in batch]


def _feed(publisher_id: int, symbols, **kwargs) -> SecmasterDatafeed:
    return SecmasterDatafeed(
        symbols=symbols, bar_period=BarPeriod.MINUTE, publisher_id=publisher_id, **kwargs
    )


def test_batches_two_symbols_come_in_time_then_symbol_order(tmp_path):
    mappings = {
        "MSFT": [("2024-01-02", "2024-01-03", 20)],
        "AAPL": [("2024-01-02", "2024-01-03", 10)],
    }
    bars = [
        _bar(20, "2024-01-02T14:31", 300),
        _bar(10, "2024-01-02T14:32", 101),
        _bar(20, "2024-01-02T14:30", 299),
        _bar(10, "2024-01-02T14:30", 100),
        _bar(10, "2024-01-02T14:31", 100.5),
    ]
    publisher = ingest_bars(tmp_path, bars=bars, mappings=mappings)

    got = [(b.ts_event_ns, b.symbol) for b in _all(_feed(publisher, ["MSFT", "AAPL"]))]

    assert got == [
        (ns("2024-01-02T14:30"), "AAPL"),
        (ns("2024-01-02T14:30"), "MSFT"),
        (ns("2024-01-02T14:31"), "AAPL"),
        (ns("2024-01-02T14:31"), "MSFT"),
        (ns("2024-01-02T14:32"), "AAPL"),
    ]


def test_batches_symbol_moves_instrument_each_bar_from_the_interval_of_its_date(tmp_path):
    # XYZ is instrument 1 until 2024-01-04, then instrument 2; both trade every day.
    mappings = {"XYZ": [("2024-01-02", "2024-01-04", 1), ("2024-01-04", "2024-01-06", 2)]}
    bars = []
    for day in ("02", "03", "04", "05"):
        bars.append(_bar(1, f"2024-01-{day}T15:00", 10))
        bars.append(_bar(2, f"2024-01-{day}T15:00", 20))
    publisher = ingest_bars(tmp_path, bars=bars, mappings=mappings)

    got = [(b.ts_event_ns, b.open) for b in _all(_feed(publisher, ["XYZ"]))]

    assert got == [
        (ns("2024-01-02T15:00"), 10.0),
        (ns("2024-01-03T15:00"), 10.0),
        (ns("2024-01-04T15:00"), 20.0),
        (ns("2024-01-05T15:00"), 20.0),
    ]


def test_batches_date_filters_are_whole_days_with_inclusive_end(tmp_path):
    mappings = {"AAPL": [("2024-01-01", "2024-01-10", 10)]}
    moments = [
        "2024-01-02T23:59",
        "2024-01-03T00:00",
        "2024-01-03T12:00",
        "2024-01-04T23:59",
        "2024-01-05T00:00",
    ]
    publisher = ingest_bars(tmp_path, bars=[_bar(10, m, 50) for m in moments], mappings=mappings)

    feed = _feed(publisher, ["AAPL"], start_date=D("2024-01-03"), end_date=D("2024-01-04"))
    got = [b.ts_event_ns for b in _all(feed)]

    assert got == [ns("2024-01-03T00:00"), ns("2024-01-03T12:00"), ns("2024-01-04T23:59")]
    assert feed.total_bars() == 3


def test_batches_open_ended_dates_give_everything(tmp_path):
    mappings = {"AAPL": [("2024-01-01", "2024-01-10", 10)]}
    moments = ["2024-01-02T10:00", "2024-01-05T10:00", "2024-01-09T10:00"]
    publisher = ingest_bars(tmp_path, bars=[_bar(10, m, 50) for m in moments], mappings=mappings)

    assert len(_all(_feed(publisher, ["AAPL"], start_date=D("2024-01-05")))) == 2
    assert len(_all(_feed(publisher, ["AAPL"], end_date=D("2024-01-05")))) == 2
    assert len(_all(_feed(publisher, ["AAPL"]))) == 3


def test_batches_fixed_point_prices_become_floats(tmp_path):
    mappings = {"AAPL": [("2024-01-02", "2024-01-03", 10)]}
    bar = (
        10,
        ns("2024-01-02T14:30"),
        100_250_000_000,
        101_000_000_001,
        123_456_789,
        100_5 * 10**8,
        777,
    )
    publisher = ingest_bars(tmp_path, bars=[bar], mappings=mappings)

    (got,) = _all(_feed(publisher, ["AAPL"]))

    assert got == BarReceived(
        ts_event_ns=ns("2024-01-02T14:30"),
        ts_created_ns=ns("2024-01-02T14:30"),
        symbol="AAPL",
        bar_period=BarPeriod.MINUTE,
        open=100.25,
        high=101.000000001,
        low=0.123456789,
        close=100.5,
        volume=777,
    )
    assert type(got) is BarReceived


def test_batches_leave_out_other_symbols_rtypes_and_publishers(tmp_path):
    mappings = {
        "AAPL": [("2024-01-02", "2024-01-03", 10)],
        "MSFT": [("2024-01-02", "2024-01-03", 20)],
    }
    minute = [_bar(10, "2024-01-02T14:30", 1), _bar(20, "2024-01-02T14:30", 2)]
    publisher = ingest_bars(tmp_path, bars=minute, mappings=mappings)
    ingest_bars(tmp_path, bars=[_bar(10, "2024-01-02T14:00", 3)], mappings=mappings, rtype=34)
    ingest_bars(tmp_path, bars=minute, mappings=mappings, dataset="DBEQ.BASIC")

    got = _all(_feed(publisher, ["AAPL"]))

    assert [(b.symbol, b.open, b.bar_period) for b in got] == [("AAPL", 1.0, BarPeriod.MINUTE)]


def test_batches_small_chunks_split_the_same_stream(tmp_path):
    mappings = {
        "AAPL": [("2024-01-02", "2024-01-03", 10)],
        "MSFT": [("2024-01-02", "2024-01-03", 20)],
    }
    bars = [_bar(i, f"2024-01-02T14:{m:02d}", 10 + m) for m in range(5) for i in (10, 20)]
    publisher = ingest_bars(tmp_path, bars=bars, mappings=mappings)

    batches = list(_feed(publisher, ["AAPL", "MSFT"], chunk_size=3).batches())

    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [bar for b in batches for bar in b] == _all(_feed(publisher, ["AAPL", "MSFT"]))


def test_total_bars_counts_what_batches_yield(tmp_path):
    mappings = {"XYZ": [("2024-01-02", "2024-01-04", 1), ("2024-01-04", "2024-01-06", 2)]}
    bars = [_bar(i, f"2024-01-0{d}T15:00", 10) for d in (2, 3, 4, 5) for i in (1, 2)]
    publisher = ingest_bars(tmp_path, bars=bars, mappings=mappings)

    feed = _feed(publisher, ["XYZ"])

    assert feed.total_bars() == 4
    assert len(_all(feed)) == 4


def test_feed_without_symbols_is_refused():
    with pytest.raises(ValueError, match="at least one symbol"):
        SecmasterDatafeed(symbols=[], bar_period=BarPeriod.MINUTE, publisher_id=1)


def test_batches_prices_equal_python_division_by_1e9(tmp_path):
    prices = [
        1,
        7,
        123_456_789,
        100_250_000_000,
        185_123_456_789,
        99_999_999_999,
        3_141_592_653_589,
    ]
    mappings = {"AAPL": [("2024-01-02", "2024-01-03", 10)]}
    bars = [
        (10, ns("2024-01-02T14:30") + i * 60 * P, p, p + 3, max(p - 3, 0), p + 1, 1)
        for i, p in enumerate(prices)
    ]
    publisher = ingest_bars(tmp_path, bars=bars, mappings=mappings)

    got = [(b.open, b.high, b.low, b.close) for b in _all(_feed(publisher, ["AAPL"]))]

    assert got == [(p / 1e9, (p + 3) / 1e9, max(p - 3, 0) / 1e9, (p + 1) / 1e9) for p in prices]


@pytest.mark.parametrize("chunk_bars", [1, 2, 3, 7, 1000])
def test_batches_any_chunk_size_merge_spans_in_time_then_symbol_order(tmp_path, chunk_bars):
    # Three symbols with gaps and one instrument change; expected order computed by sorting.
    mappings = {
        "CCC": [("2024-01-02", "2024-01-04", 30)],
        "AAA": [("2024-01-02", "2024-01-03", 10), ("2024-01-03", "2024-01-04", 11)],
        "BBB": [("2024-01-02", "2024-01-04", 20)],
    }
    times = {
        30: ["2024-01-02T14:30", "2024-01-02T14:33", "2024-01-03T14:31"],
        10: ["2024-01-02T14:30", "2024-01-02T14:31", "2024-01-02T14:32", "2024-01-02T14:33"],
        11: ["2024-01-03T14:30", "2024-01-03T14:31"],
        20: ["2024-01-02T14:31", "2024-01-02T14:33", "2024-01-03T14:30", "2024-01-03T14:32"],
    }
    symbol_of = {30: "CCC", 10: "AAA", 11: "AAA", 20: "BBB"}
    bars = [_bar(inst, t, 10 + i) for inst, ts in times.items() for i, t in enumerate(ts)]
    expected = sorted((ns(t), symbol_of[inst]) for inst, ts in times.items() for t in ts)
    publisher = ingest_bars(tmp_path, bars=bars, mappings=mappings)

    feed = _feed(publisher, ["CCC", "AAA", "BBB"], chunk_bars=chunk_bars, chunk_size=2)
    got = [(b.ts_event_ns, b.symbol) for b in _all(feed)]

    assert got == expected
    assert feed.total_bars() == len(expected) == 13


def _write_preset_from_another_thread(name: str) -> BaseException | None:
    """Save a preset on a new connection of another thread; its error, if any.

    The other connection waits at most one second for SQLite's write lock, so a feed that
    held the lock makes this fail fast with "database is locked" instead of after 30 s.
    """
    outcome: list[BaseException | None] = []

    def write() -> None:
        connection = connections["secmaster"]
        try:
            if connection.vendor == "sqlite":
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA busy_timeout = 1000")
            SymbolPreset.objects.using("secmaster").create(name=name, symbols=["AAPL"])
            outcome.append(None)
        except BaseException as exc:  # reported to the test thread
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    return outcome[0]


@pytest.mark.django_db(databases=["default", "secmaster"], transaction=True)
def test_batches_reading_does_not_block_writers_of_the_security_master(tmp_path):
    # A run's feed keeps one read transaction open for the whole run; other runs' feeds,
    # their heartbeats, ingests and preset edits must not wait for it to end.
    publisher = ingest_bars(
        tmp_path,
        bars=[_bar(10, f"2024-01-02T14:{minute:02d}", 100 + minute) for minute in range(30)],
        mappings={"AAPL": [("2024-01-02", "2024-01-03", 10)]},
    )
    batches = _feed(publisher, ["AAPL"], chunk_size=10).batches()
    first = next(batches)  # the read transaction is open from here

    error = _write_preset_from_another_thread("written while a feed reads")

    rest = [bar for batch in batches for bar in batch]
    assert error is None
    assert (
        SymbolPreset.objects.using("secmaster").filter(name="written while a feed reads").exists()
    )
    assert [b.close for b in first + rest] == [100.0 + minute for minute in range(30)]
