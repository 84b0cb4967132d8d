"""Demo data: a deterministic Databento-format zip, ingested through the ordinary service."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile

import pytest
from django.core.management import call_command
from django.db import connections

from secmaster.demo_data import demo_zip_write
from secmaster.models import Instrument, OhlcvBar, Publisher, SymbolCoverage

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])

# January 2024 weekdays without Martin Luther King Jr. Day (15th): 4 + 5 + 4 + 5 + 3.
SESSIONS = 21


@pytest.fixture
def demo_loaded(tmp_path, capsys):
    call_command("make_demo_data", "--if-empty", "--out", str(tmp_path / "demo.zip"))
    return capsys.readouterr().out


def test_demo_zip_same_bytes_every_time_and_databento_layout(tmp_path):
    first = demo_zip_write(tmp_path / "a.zip")
    second = demo_zip_write(tmp_path / "b.zip")

    assert (
        hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    )
    with zipfile.ZipFile(first) as archive:
        assert sorted(archive.namelist()) == [
            "manifest.json",
            "metadata.json",
            "symbology.json",
            "xnas-itch-20240102-20240131.ohlcv-1d.dbn.zst",
            "xnas-itch-20240102-20240131.ohlcv-1h.dbn.zst",
            "xnas-itch-20240102-20240131.ohlcv-1m.dbn.zst",
            "xnas-itch-20240102-20240131.ohlcv-1s.dbn.zst",
        ]


def test_make_demo_data_loads_consistent_bars_in_sessions(demo_loaded):
    counts = dict(_rtype_counts())
    assert counts == {
        32: 5 * 2 * 23_400,  # two sessions of one-second bars
        33: 5 * SESSIONS * 390,
        34: 5 * SESSIONS * 7,  # 14:00 (half hour) .. 20:00
        35: 5 * SESSIONS,
    }
    assert "Ingested 1 file(s): 275,790 records, 275,790 new bars, 5 symbols" in demo_loaded
    assert sorted(
        SymbolCoverage.objects.order_by("symbol").values_list("symbol", flat=True).distinct()
    ) == [
        "AAPL",
        "MSFT",
        "NVDA",
        "QQQ",
        "SPY",
    ]
    assert SymbolCoverage.objects.count() == 20
    _check_daily_bars_agree_with_minute_bars()
    _check_minute_bars_lie_in_weekday_sessions_with_plausible_prices()


def _rtype_counts() -> list[tuple[int, int]]:
    with connections["secmaster"].cursor() as cursor:
        cursor.execute("SELECT rtype, COUNT(*) FROM ohlcv GROUP BY rtype")
        return cursor.fetchall()


def test_make_demo_data_if_empty_skips_when_bars_exist(tmp_path, capsys):
    publisher = Publisher.objects.create(name="databento", dataset="XNAS.ITCH", venue="XNAS")
    instrument = Instrument.objects.create(publisher=publisher, source_instrument_id=1)
    OhlcvBar.objects.create(
        instrument=instrument, rtype=33, ts_event=0, open=1, high=1, low=1, close=1, volume=1
    )

    call_command("make_demo_data", "--if-empty", "--out", str(tmp_path / "again.zip"))

    assert capsys.readouterr().out == (
        "The security master already holds bars; demo data not loaded.\n"
    )
    assert OhlcvBar.objects.count() == 1
    assert not (tmp_path / "again.zip").exists()


def _check_daily_bars_agree_with_minute_bars() -> None:
    """Each day's 1d bar equals the aggregate of its 1m bars (computed here in SQL)."""
    sql = """
        SELECT d.instrument_id, d.ts_event, d.open, d.high, d.low, d.close, d.volume,
               MAX(m.high), MIN(m.low), SUM(m.volume),
               (SELECT m2.open FROM ohlcv m2 WHERE m2.instrument_id = d.instrument_id
                 AND m2.rtype = 33 AND m2.ts_event >= d.ts_event
                 ORDER BY m2.ts_event LIMIT 1),
               (SELECT m3.close FROM ohlcv m3 WHERE m3.instrument_id = d.instrument_id
                 AND m3.rtype = 33 AND m3.ts_event < d.ts_event + 86400000000000
                 ORDER BY m3.ts_event DESC LIMIT 1)
        FROM ohlcv d JOIN ohlcv m ON m.instrument_id = d.instrument_id AND m.rtype = 33
          AND m.ts_event >= d.ts_event AND m.ts_event < d.ts_event + 86400000000000
        WHERE d.rtype = 35
        GROUP BY d.instrument_id, d.ts_event, d.open, d.high, d.low, d.close, d.volume
    """
    with connections["secmaster"].cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    assert len(rows) == 5 * SESSIONS
    for _, _, o, h, low, c, v, m_high, m_low, m_volume, m_open, m_close in rows:
        assert (o, h, low, c, v) == (m_open, m_high, m_low, m_close, m_volume)


def _check_minute_bars_lie_in_weekday_sessions_with_plausible_prices() -> None:
    with connections["secmaster"].cursor() as cursor:
        cursor.execute(
            "SELECT i.symbol, b.ts_event, b.low, b.high FROM ohlcv b"
            " JOIN instruments i ON i.instrument_id = b.instrument_id WHERE b.rtype = 33"
        )
        rows = cursor.fetchall()
    plausible = {"AAPL": (120, 260), "MSFT": (250, 500), "NVDA": (300, 800), "QQQ": (300, 520)}
    plausible["SPY"] = (350, 600)
    for symbol, ts, low, high in rows:
        moment = dt.datetime.fromtimestamp(ts / 1e9, tz=dt.UTC)
        assert moment.weekday() < 5
        assert dt.time(14, 30) <= moment.time() <= dt.time(20, 59)
        floor, ceiling = plausible[symbol]
        assert floor * 1e9 <= low <= high <= ceiling * 1e9
