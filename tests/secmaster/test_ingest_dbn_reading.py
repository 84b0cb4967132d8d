"""DBN reading: the numpy decoder against databento_dbn's own decoder, and refusals."""

from __future__ import annotations

import io

import databento_dbn
import numpy as np
import pytest

from secmaster.dbn_reading import DbnOhlcvReader, DbnReadError
from tests.dbn_files import P, compress, dbn_bytes, ns

FIELDS = ("instrument_id", "ts_event", "open", "high", "low", "close", "volume")


def _random_bars(seed: int, count: int) -> list[tuple[int, int, int, int, int, int, int]]:
    rng = np.random.default_rng(seed)
    bars = []
    for i in range(count):
        low = int(rng.integers(1, 10_000)) * 10_000_000
        high = low + int(rng.integers(0, 500)) * 10_000_000
        o, c = (int(x) for x in rng.integers(low, high + 1, size=2))
        bars.append(
            (
                int(rng.integers(1, 2**32)),
                ns("2024-01-02T14:30") + i * 60 * 10**9,
                o,
                high,
                low,
                c,
                int(rng.integers(0, 2**63)),
            )
        )
    return bars


def _read_all(data: bytes, block_records: int = 200_000) -> tuple[DbnOhlcvReader, np.ndarray]:
    reader = DbnOhlcvReader(io.BytesIO(data), "test.dbn", block_records=block_records)
    blocks = list(reader)
    return reader, np.concatenate(blocks) if blocks else np.array([])


@pytest.mark.parametrize("rtype", [32, 33, 34, 35, 36])
@pytest.mark.parametrize("compressed", [False, True])
def test_dbn_reader_numpy_decode_matches_dbn_decoder(rtype, compressed):
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=rtype, bars=_random_bars(rtype, 257))
    decoder = databento_dbn.DBNDecoder()
    decoder.write(data)
    expected = [r for r in decoder.decode() if isinstance(r, databento_dbn.OHLCVMsg)]

    reader, records = _read_all(compress(data) if compressed else data, block_records=10)

    assert len(records) == len(expected) == 257
    assert reader.header.dataset == "XNAS.ITCH"
    assert reader.header.rtype == rtype
    for got, want in zip(records, expected, strict=True):
        assert int(got["rtype"]) == want.rtype.value
        for name in FIELDS:
            assert int(got[name]) == getattr(want, name), name


def test_dbn_reader_multi_frame_zstd_reads_every_frame():
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=_random_bars(1, 100))
    header_len = int.from_bytes(data[4:8], "little") + 8
    cut = header_len + 56 * 40 + 13  # the first frame ends 13 bytes into record 41
    frames = compress(data[:cut]) + compress(data[cut:])
    _, records = _read_all(frames)
    assert records["ts_event"].tolist() == [b[1] for b in _random_bars(1, 100)]


def test_dbn_reader_metadata_mappings_become_intervals():
    import datetime as dt

    data = dbn_bytes(
        dataset="GLBX.MDP3",
        rtype=35,
        bars=[],
        mappings={"ESH4": [("2024-01-02", "2024-03-15", 4916)]},
    )
    reader, records = _read_all(data)
    assert len(records) == 0
    (interval,) = reader.header.mappings
    assert (interval.symbol, interval.source_instrument_id) == ("ESH4", 4916)
    assert (interval.start_date, interval.end_date) == (dt.date(2024, 1, 2), dt.date(2024, 3, 15))


def test_dbn_reader_truncated_zstd_raises():
    data = compress(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=_random_bars(2, 500)))
    with pytest.raises(DbnReadError) as err:
        _read_all(data[: len(data) - 10])
    assert str(err.value) == "test.dbn: truncated zstd stream (the compressed data ends mid-frame)"


def test_dbn_reader_partial_record_raises():
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=_random_bars(3, 5))
    with pytest.raises(DbnReadError) as err:
        _read_all(data[:-20])
    assert (
        str(err.value) == "test.dbn: truncated DBN data (36 trailing bytes after the last record)"
    )


def test_dbn_reader_not_dbn_raises():
    with pytest.raises(DbnReadError) as err:
        _read_all(b"PAR1 this is a parquet file, not DBN")
    assert str(err.value) == "test.dbn: not a DBN file (it does not start with 'DBN')"


def test_dbn_reader_trades_schema_raises_naming_schema():
    metadata = databento_dbn.Metadata(
        dataset="XNAS.ITCH",
        start=0,
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema.TRADES,
    )
    trade = databento_dbn.TradeMsg(
        publisher_id=2,
        instrument_id=38,
        ts_event=1,
        price=100 * P,
        size=10,
        action=databento_dbn.Action.TRADE,
        side=databento_dbn.Side.BID,
        depth=0,
        ts_recv=2,
    )
    with pytest.raises(DbnReadError) as err:
        _read_all(metadata.encode() + bytes(trade))
    assert str(err.value) == (
        "test.dbn: schema 'trades' is not an OHLCV schema "
        "(expected one of ohlcv-1s, ohlcv-1m, ohlcv-1h, ohlcv-1d, ohlcv-eod)"
    )


def test_dbn_reader_low_above_high_raises_naming_record():
    bars = [(38, 1000, 5 * P, 6 * P, 5 * P, 6 * P, 1), (38, 2000, 5 * P, 4 * P, 5 * P, 5 * P, 1)]
    with pytest.raises(DbnReadError) as err:
        _read_all(dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=bars))
    assert str(err.value) == (
        "test.dbn: record 1 (instrument 38, ts_event 2000): low is above high"
    )


def test_dbn_reader_rtype_other_than_schema_raises():
    data = dbn_bytes(dataset="XNAS.ITCH", rtype=33, bars=[(38, 1, P, P, P, P, 1)])
    header_len = int.from_bytes(data[4:8], "little") + 8
    patched = bytearray(data)
    patched[header_len + 1] = 34  # the record says ohlcv-1h inside an ohlcv-1m file
    with pytest.raises(DbnReadError) as err:
        _read_all(bytes(patched))
    assert str(err.value) == "test.dbn: record 0 has rtype 34, expected 33 for schema 'ohlcv-1m'"


def _header(version: int = 3, ts_out: bool = False) -> bytes:
    return databento_dbn.Metadata(
        dataset="XNAS.ITCH",
        start=0,
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema.OHLCV_1D,
        ts_out=ts_out,
        version=version,
    ).encode()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_dbn_reader_older_dbn_versions_decode(version):
    record = bytes(databento_dbn.OHLCVMsg(35, 2, 38, 5, 1, 3, 1, 2, 10))

    reader, records = _read_all(_header(version) + record)

    assert reader.header.version == version
    assert records.tolist() == [(14, 35, 2, 38, 5, 1, 3, 1, 2, 10)]


def test_dbn_reader_legacy_ohlcv_rtype_takes_schema_rtype():
    record = bytearray(bytes(databento_dbn.OHLCVMsg(35, 2, 38, 5, 1, 3, 1, 2, 10)))
    record[1] = 0x11  # DBN v1 files wrote OHLCV records with this deprecated rtype

    _, records = _read_all(_header(1) + bytes(record))

    assert records["rtype"].tolist() == [35]


def test_dbn_reader_ts_out_records_are_64_bytes():
    record = bytes(databento_dbn.OHLCVMsg(35, 2, 38, 5, 1, 3, 1, 2, 10, ts_out=99))
    assert len(record) == 64

    reader, records = _read_all(_header(ts_out=True) + record * 3)

    assert reader.record_size == 64
    assert (
        records[["instrument_id", "ts_event", "close", "volume"]].tolist() == [(38, 5, 2, 10)] * 3
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "test.dbn: empty file (no DBN data)"),
        (b"garbage", "test.dbn: not a DBN file (it does not start with 'DBN')"),
        (b"DBN\x03", "test.dbn: truncated DBN metadata header"),
        (_header()[:40], "test.dbn: truncated DBN metadata header"),
        (compress(b""), "test.dbn: empty file (no DBN data)"),
    ],
)
def test_dbn_reader_short_input_raises(data, message):
    with pytest.raises(DbnReadError) as err:
        _read_all(data)
    assert str(err.value) == message
