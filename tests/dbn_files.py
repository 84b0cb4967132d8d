"""Write real Databento files (DBN bytes via databento_dbn) for tests, and ingest them.

Any test that needs security-master data builds it with these helpers, so the data always goes
through the real ingestion path:

    write_dbn(tmp_path / "a.dbn.zst", dataset="XNAS.ITCH", rtype=33,
              bars=[(38, ns("2024-01-02T14:30"), 100 * P, 101 * P, 99 * P, 100 * P, 500)],
              mappings={"AAPL": [("2024-01-02", "2024-01-03", 38)]})
    ingest_paths([tmp_path / "a.dbn.zst"])

Prices are integers in units of 1e-9 (``P`` = 1_000_000_000 is one currency unit).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import databento_dbn
import zstandard

P = 1_000_000_000
RTYPE_SCHEMAS = {32: "ohlcv-1s", 33: "ohlcv-1m", 34: "ohlcv-1h", 35: "ohlcv-1d", 36: "ohlcv-eod"}
PUBLISHER_IDS = {"XNAS.ITCH": 2, "GLBX.MDP3": 1, "DBEQ.BASIC": 39}

# (source instrument id, ts_event ns, open, high, low, close, volume)
Bar = tuple[int, int, int, int, int, int, int]
# symbol -> [(d0, d1, source instrument id)], dates as "YYYY-MM-DD" or date objects
Mappings = dict[str, Sequence[tuple[str | dt.date, str | dt.date, int]]]


def ns(moment: str | dt.datetime) -> int:
    """UTC nanoseconds of an ISO moment such as '2024-01-02T14:30' (naive means UTC)."""
    value = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


def _date(value: str | dt.date) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


@dataclass
class _Interval:
    start_date: dt.date
    end_date: dt.date
    symbol: str


@dataclass
class _SymbolMapping:
    raw_symbol: str
    intervals: list[_Interval]


def dbn_bytes(
    *,
    dataset: str,
    rtype: int,
    bars: Iterable[Bar],
    mappings: Mappings | None = None,
    schema: str | None = "",
) -> bytes:
    """Uncompressed DBN bytes: metadata (with ``mappings``) followed by OHLCV records.

    ``schema`` defaults to the rtype's OHLCV schema; pass another name (e.g. "trades") to write
    a header that announces a different schema.
    """
    bars = list(bars)
    schema_name = RTYPE_SCHEMAS[rtype] if schema == "" else schema
    symbol_mappings = [
        _SymbolMapping(
            symbol,
            [_Interval(_date(d0), _date(d1), str(instrument)) for d0, d1, instrument in entries],
        )
        for symbol, entries in (mappings or {}).items()
    ]
    start = min((b[1] for b in bars), default=0)
    end = max((b[1] for b in bars), default=0) + 1
    metadata = databento_dbn.Metadata(
        dataset=dataset,
        start=start,
        end=end,
        stype_in=databento_dbn.SType.RAW_SYMBOL,
        stype_out=databento_dbn.SType.INSTRUMENT_ID,
        schema=databento_dbn.Schema(schema_name) if schema_name else None,
        symbols=sorted(mappings or {}),
        mappings=symbol_mappings,
    )
    publisher_id = PUBLISHER_IDS.get(dataset, 2)
    out = io.BytesIO()
    out.write(metadata.encode())
    for instrument, ts_event, o, h, low, c, v in bars:
        record = databento_dbn.OHLCVMsg(
            rtype=rtype,
            publisher_id=publisher_id,
            instrument_id=instrument,
            ts_event=ts_event,
            open=o,
            high=h,
            low=low,
            close=c,
            volume=v,
        )
        out.write(bytes(record))
    return out.getvalue()


def compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def write_dbn(
    path: Path,
    *,
    dataset: str = "XNAS.ITCH",
    rtype: int = 33,
    bars: Iterable[Bar] = (),
    mappings: Mappings | None = None,
    compress: bool | None = None,
) -> Path:
    """Write one DBN file; compressed with zstd when ``compress`` (default: name ends .zst)."""
    path = Path(path)
    data = dbn_bytes(dataset=dataset, rtype=rtype, bars=bars, mappings=mappings)
    if compress is None:
        compress = path.name.endswith(".zst")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_compress(data) if compress else data)
    return path


_compress = compress


def symbology_json(mappings: Mappings, *, start: str = "", end: str = "") -> dict:
    """The symbology.json document of a Databento batch download."""
    return {
        "result": {
            symbol: [
                {"d0": _date(d0).isoformat(), "d1": _date(d1).isoformat(), "s": str(inst)}
                for d0, d1, inst in entries
            ]
            for symbol, entries in mappings.items()
        },
        "symbols": sorted(mappings),
        "stype_in": "raw_symbol",
        "stype_out": "instrument_id",
        "start_date": start,
        "end_date": end,
        "partial": [],
        "not_found": [],
        "message": "OK",
        "status": 0,
    }


def metadata_json(*, dataset: str, schema: str, symbols: Sequence[str] = ()) -> dict:
    """The metadata.json document of a Databento batch download (the fields we read)."""
    return {
        "query": {
            "dataset": dataset,
            "schema": schema,
            "symbols": list(symbols),
            "stype_in": "raw_symbol",
            "stype_out": "instrument_id",
            "encoding": "dbn",
            "compression": "zstd",
            "split_duration": "month",
        },
        "job_id": "TEST-0000",
    }


def write_batch_zip(
    path: Path,
    *,
    dataset: str = "XNAS.ITCH",
    files: dict[int, Iterable[Bar]] | None = None,
    mappings: Mappings | None = None,
    member_prefix: str = "xnas-itch-20240102-20240131",
    compress: bool = True,
    extra_members: dict[str, bytes | str] | None = None,
    with_metadata: bool = True,
    with_symbology: bool = True,
    dbn_mappings: bool = False,
) -> Path:
    """Write a Databento-style batch zip: one DBN member per rtype in ``files``.

    Members are named like Databento's (``<prefix>.ohlcv-1m.dbn.zst``) next to metadata.json
    and symbology.json built from ``mappings``. ``extra_members`` adds or replaces members
    (e.g. a malformed symbology.json). ``dbn_mappings`` also puts the mappings into each DBN
    member's own metadata.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files = files or {}
    mappings = mappings or {}
    members: dict[str, bytes | str] = {}
    for rtype, bars in sorted(files.items()):
        schema = RTYPE_SCHEMAS[rtype]
        data = dbn_bytes(
            dataset=dataset, rtype=rtype, bars=bars, mappings=mappings if dbn_mappings else None
        )
        suffix = ".dbn.zst" if compress else ".dbn"
        members[f"{member_prefix}.{schema}{suffix}"] = _compress(data) if compress else data
    first_schema = RTYPE_SCHEMAS[min(files)] if files else "ohlcv-1m"
    if with_metadata:
        members["metadata.json"] = json.dumps(
            metadata_json(dataset=dataset, schema=first_schema, symbols=sorted(mappings))
        )
    if with_symbology:
        members["symbology.json"] = json.dumps(symbology_json(mappings))
    members["manifest.json"] = json.dumps({"files": sorted(members)})
    members.update(extra_members or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def ingest_paths(paths: Iterable[Path | str], **options):
    """Ingest files through the real service (the same one `manage.py ingest_databento` uses)."""
    from secmaster.services.ingest import ingest_databento_paths

    return ingest_databento_paths([Path(p) for p in paths], **options)


SNAPSHOT_QUERIES = {
    "publishers": "SELECT name, dataset, venue FROM publishers ORDER BY name, dataset",
    "instruments": "SELECT p.dataset, i.source_instrument_id, i.symbol, i.symbol_type"
    " FROM instruments i JOIN publishers p ON p.publisher_id = i.publisher_ref"
    " ORDER BY p.dataset, i.source_instrument_id",
    "ohlcv": "SELECT i.source_instrument_id, b.rtype, b.ts_event, b.open, b.high, b.low,"
    " b.close, b.volume FROM ohlcv b JOIN instruments i ON i.instrument_id = b.instrument_id"
    " ORDER BY i.source_instrument_id, b.rtype, b.ts_event",
    "symbology": "SELECT s.symbol, s.symbol_type, s.source_instrument_id, s.start_date,"
    " s.end_date FROM symbology s ORDER BY s.symbol, s.start_date, s.source_instrument_id",
    "symbol_coverage": "SELECT symbol, symbol_type, rtype, min_ts, max_ts FROM symbol_coverage"
    " ORDER BY symbol, symbol_type, rtype",
}


def secmaster_snapshot() -> dict[str, list[tuple]]:
    """Every security-master row (keyed by source ids, not surrogate keys), for equality checks."""
    from django.db import connections

    snapshot = {}
    with connections["secmaster"].cursor() as cursor:
        for table, sql in SNAPSHOT_QUERIES.items():
            cursor.execute(sql)
            snapshot[table] = [
                tuple(str(v) if isinstance(v, dt.date) else v for v in row)
                for row in cursor.fetchall()
            ]
    return snapshot
