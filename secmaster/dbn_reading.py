"""Stream OHLCV bars out of Databento DBN bytes (plain or zstd-compressed) without holding the file.

The metadata header is parsed by ``databento_dbn.Metadata``; the records that follow are decoded
in large blocks with numpy (an OHLCV record is a fixed 56-byte struct), which is an order of
magnitude faster than one Python object per record.

Hostile input is bounded (``ReadLimits``): zstd data is fed to the decompressor in 1 KiB slices,
so one call can produce at most about 32 MiB (zstd expands at most ~32,768 times), and the
stream stops with an error as soon as its output passes ``max_bytes``, or ``max_ratio`` times
the bytes it occupies on disk or the compressed bytes read so far (past a 1 MiB floor). A bomb
is therefore never decompressed into memory, nor in full. The DBN metadata header may not
exceed ``max_metadata_bytes``; versions other than 1 to ``databento_dbn.DBN_VERSION`` are
refused before decoding.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import databento_dbn
import numpy as np
import zstandard

from ostsite.errors import InvalidInput

OHLCV_SCHEMA_RTYPES: dict[str, int] = {
    "ohlcv-1s": 32,
    "ohlcv-1m": 33,
    "ohlcv-1h": 34,
    "ohlcv-1d": 35,
    "ohlcv-eod": 36,
}
OHLCV_RTYPES = frozenset(OHLCV_SCHEMA_RTYPES.values())
# DBN version 1 files may carry this legacy rtype on OHLCV records; it means "the schema's rtype".
LEGACY_OHLCV_RTYPE = 0x11
OHLCV_RECORD_SIZE = 56
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DBN_PREFIX = b"DBN"
READ_SIZE = 1 << 20  # compressed bytes read at a time
ZSTD_SLICE = 1 << 10  # compressed bytes per decompress call: bounds one call's output to ~32 MiB
MAX_INT64 = (1 << 63) - 1
SUPPORTED_DBN_VERSIONS = range(1, databento_dbn.DBN_VERSION + 1)

# Defaults of the ingest limits (the ingest service reads OST_INGEST_* settings over them).
DEFAULT_MAX_MEMBER_BYTES = 8 << 30  # 8 GiB of DBN bytes per file or zip member
DEFAULT_MAX_RATIO = 1000  # real OHLCV data expands 3-10x, a flat price series about 100x
DEFAULT_MAX_METADATA_BYTES = 64 << 20  # metadata.json, symbology.json, a DBN metadata header
RATIO_FLOOR_BYTES = 1 << 20  # any file may expand to 1 MiB whatever its ratio

MSG_NOT_DBN = "{name}: not a DBN file (it does not start with 'DBN')"
MSG_EMPTY = "{name}: empty file (no DBN data)"
MSG_TRUNCATED_HEADER = "{name}: truncated DBN metadata header"
MSG_DBN_VERSION = (
    "{name}: DBN version {version} is not supported (this reader handles versions {low} to {high})"
)
MSG_HEADER_TOO_BIG = (
    "{name}: the DBN metadata header declares {size:,} bytes, over the limit of {limit:,} bytes"
    " (OST_INGEST_MAX_METADATA_BYTES)"
)
MSG_TOO_BIG = (
    "{name}: more than {limit:,} bytes uncompressed, over the limit"
    " (OST_INGEST_MAX_MEMBER_BYTES); refused as a possible zip bomb"
)
MSG_RATIO = (
    "{name}: expands to more than {ratio:g} times its compressed size"
    " (OST_INGEST_MAX_RATIO); refused as a possible zip bomb"
)
MSG_BAD_METADATA = "{name}: unreadable DBN metadata: {error}"
MSG_NOT_OHLCV = "{name}: schema '{schema}' is not an OHLCV schema (expected one of {expected})"
MSG_TRUNCATED_ZSTD = "{name}: truncated zstd stream (the compressed data ends mid-frame)"
MSG_BAD_ZSTD = "{name}: corrupt zstd data: {error}"
MSG_TRUNCATED_RECORD = "{name}: truncated DBN data ({extra} trailing bytes after the last record)"
MSG_BAD_RECORD_LENGTH = "{name}: record {index} has length {length} bytes, expected {expected}"
MSG_BAD_RTYPE = (
    "{name}: record {index} has rtype {rtype}, expected {expected} for schema '{schema}'"
)
MSG_BAD_BAR = "{name}: record {index} (instrument {instrument_id}, ts_event {ts_event}): {problem}"


class DbnReadError(InvalidInput):
    """The bytes are not a readable OHLCV DBN stream; the message names the file and the fault."""


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one file may expand to (see the module docstring)."""

    max_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    max_ratio: float = DEFAULT_MAX_RATIO
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES

    def expansion_limit(self, name: str, stored_size: int | None) -> tuple[int, str]:
        """How many uncompressed bytes data stored in ``stored_size`` bytes may become, and the
        message that refuses more (the size limit or the ratio, whichever is lower)."""
        if stored_size is not None:
            by_ratio = max(int(self.max_ratio * stored_size), RATIO_FLOOR_BYTES)
            if by_ratio < self.max_bytes:
                return by_ratio, MSG_RATIO.format(name=name, ratio=self.max_ratio, size=stored_size)
        return self.max_bytes, MSG_TOO_BIG.format(name=name, limit=self.max_bytes)


class _OutputBudget:
    """Counts uncompressed bytes; raises once they pass the limit for the stored size, or
    ``max_ratio`` times the compressed bytes consumed so far (a bomb inside a large file)."""

    def __init__(self, limits: ReadLimits, name: str, stored_size: int | None) -> None:
        self.name = name
        self.limit, self.message = limits.expansion_limit(name, stored_size)
        self.max_ratio = limits.max_ratio
        self.used = 0

    def spend(self, size: int, consumed: int | None = None) -> None:
        self.used += size
        if self.used > self.limit:
            raise DbnReadError(self.message)
        if (
            consumed is not None
            and self.used > RATIO_FLOOR_BYTES
            and self.used > self.max_ratio * consumed
        ):
            raise DbnReadError(MSG_RATIO.format(name=self.name, ratio=self.max_ratio))


BLOCK_RECORDS = 200_000  # records per block a DbnOhlcvReader yields, unless told otherwise


@dataclass(frozen=True)
class MappingInterval:
    """A symbol maps to ``source_instrument_id`` on the UTC dates in [start_date, end_date)."""

    symbol: str
    source_instrument_id: int
    start_date: dt.date
    end_date: dt.date


@dataclass(frozen=True)
class DbnHeader:
    """What the DBN metadata says about the records that follow."""

    dataset: str
    schema: str | None
    rtype: int | None
    version: int
    ts_out: bool
    mappings: list[MappingInterval] = field(default_factory=list)


def ohlcv_record_dtype(record_size: int = OHLCV_RECORD_SIZE) -> np.dtype:
    """The numpy view of one OHLCV record; ``record_size`` > 56 leaves room for ts_out."""
    return np.dtype(
        {
            "names": [
                "length",
                "rtype",
                "publisher_id",
                "instrument_id",
                "ts_event",
                "open",
                "high",
                "low",
                "close",
                "volume",
            ],
            "formats": ["u1", "u1", "<u2", "<u4", "<u8", "<i8", "<i8", "<i8", "<i8", "<u8"],
            "offsets": [0, 1, 2, 4, 8, 16, 24, 32, 40, 48],
            "itemsize": record_size,
        }
    )


class CountingReader:
    """Wraps a binary stream and counts the bytes read from it (drives progress reports)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.bytes_read += len(data)
        return data


def _decompressed_blocks(raw: CountingReader | BinaryIO, budget: _OutputBudget) -> Iterator[bytes]:
    """Yield the stream's bytes, zstd-decompressed when it starts with the zstd magic number."""
    name = budget.name
    first = raw.read(READ_SIZE)
    if not first.startswith(ZSTD_MAGIC):
        while first:
            budget.spend(len(first))
            yield first
            first = raw.read(READ_SIZE)
        return
    decompressor = zstandard.ZstdDecompressor()
    dobj = decompressor.decompressobj()
    frame_fed = False
    consumed = 0
    chunk = first
    while chunk:
        view = memoryview(chunk)
        for start in range(0, len(view), ZSTD_SLICE):
            pending: bytes | memoryview = view[start : start + ZSTD_SLICE]
            consumed += len(pending)
            while pending:
                frame_fed = True
                try:
                    out = dobj.decompress(pending)
                except zstandard.ZstdError as exc:
                    raise DbnReadError(MSG_BAD_ZSTD.format(name=name, error=exc)) from exc
                if out:
                    budget.spend(len(out), consumed)
                    yield out
                if dobj.eof:
                    pending = dobj.unused_data
                    dobj = decompressor.decompressobj()
                    frame_fed = False
                else:
                    pending = b""
        chunk = raw.read(READ_SIZE)
    if frame_fed and not dobj.eof:
        raise DbnReadError(MSG_TRUNCATED_ZSTD.format(name=name))


def _mapping_intervals(metadata: databento_dbn.Metadata) -> list[MappingInterval]:
    """Symbol -> instrument intervals from the metadata, when its symbology names instrument ids."""
    stype_in = str(metadata.stype_in) if metadata.stype_in is not None else None
    stype_out = str(metadata.stype_out)
    intervals: list[MappingInterval] = []
    for key, entries in metadata.mappings.items():
        for entry in entries:
            if stype_out == "instrument_id" and stype_in != "instrument_id":
                symbol, target = key, entry["symbol"]
            elif stype_in == "instrument_id" and stype_out != "instrument_id":
                symbol, target = entry["symbol"], key
            else:
                return []
            if not symbol or not target:
                continue  # an unresolved day: Databento leaves the symbol empty
            target = str(target)
            # an id that is not plain decimal digits is kept as -1, which symbology_store
            # refuses naming the file (it never equals a record's unsigned id)
            source_id = int(target) if target.isascii() and target.isdigit() else -1
            intervals.append(
                MappingInterval(symbol, source_id, entry["start_date"], entry["end_date"])
            )
    return intervals


class _ByteQueue:
    """Exact-size reads over an iterator of byte blocks."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._buffer = bytearray()

    def read_exact(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            block = next(self._blocks, None)
            if block is None:
                return None
            self._buffer += block
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def take_buffer(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def remaining_blocks(self) -> Iterator[bytes]:
        return self._blocks


def read_dbn_header(
    queue: _ByteQueue, name: str, max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
) -> DbnHeader:
    prefix = queue.read_exact(8)
    if prefix is None:
        partial = queue.take_buffer()
        if not partial:
            raise DbnReadError(MSG_EMPTY.format(name=name))
        if DBN_PREFIX.startswith(partial[:3]):
            raise DbnReadError(MSG_TRUNCATED_HEADER.format(name=name))
        raise DbnReadError(MSG_NOT_DBN.format(name=name))
    if not prefix.startswith(DBN_PREFIX):
        raise DbnReadError(MSG_NOT_DBN.format(name=name))
    version = prefix[3]
    if version not in SUPPORTED_DBN_VERSIONS:
        raise DbnReadError(
            MSG_DBN_VERSION.format(
                name=name,
                version=version,
                low=SUPPORTED_DBN_VERSIONS.start,
                high=SUPPORTED_DBN_VERSIONS.stop - 1,
            )
        )
    (length,) = struct.unpack("<I", prefix[4:8])
    if length > max_metadata_bytes:
        raise DbnReadError(
            MSG_HEADER_TOO_BIG.format(name=name, size=length, limit=max_metadata_bytes)
        )
    body = queue.read_exact(length)
    if body is None:
        raise DbnReadError(MSG_TRUNCATED_HEADER.format(name=name))
    try:
        metadata = databento_dbn.Metadata.decode(prefix + body)
    except Exception as exc:  # databento_dbn raises DBNError / ValueError variants
        raise DbnReadError(MSG_BAD_METADATA.format(name=name, error=exc)) from exc
    schema = str(metadata.schema) if metadata.schema is not None else None
    if schema is not None and schema not in OHLCV_SCHEMA_RTYPES:
        raise DbnReadError(
            MSG_NOT_OHLCV.format(name=name, schema=schema, expected=", ".join(OHLCV_SCHEMA_RTYPES))
        )
    return DbnHeader(
        dataset=metadata.dataset,
        schema=schema,
        rtype=OHLCV_SCHEMA_RTYPES.get(schema) if schema else None,
        version=version,
        ts_out=bool(metadata.ts_out),
        mappings=_mapping_intervals(metadata),
    )


class DbnOhlcvReader:
    """Iterate over the OHLCV records of one DBN stream as numpy structured arrays.

    ``header`` is available right after construction; iterating yields validated blocks of
    records (fields as in :func:`ohlcv_record_dtype`, rtype already normalised).
    ``stored_size`` (bytes on disk) bounds the expansion with ``limits.max_ratio``.
    """

    def __init__(
        self,
        raw: BinaryIO | CountingReader,
        name: str,
        *,
        block_records: int | None = None,
        limits: ReadLimits | None = None,
        stored_size: int | None = None,
    ) -> None:
        self.name = name
        limits = limits or ReadLimits()
        budget = _OutputBudget(limits, name, stored_size)
        self._queue = _ByteQueue(_decompressed_blocks(raw, budget))
        self.header = read_dbn_header(self._queue, name, limits.max_metadata_bytes)
        self.record_size = OHLCV_RECORD_SIZE + (8 if self.header.ts_out else 0)
        self._dtype = ohlcv_record_dtype(self.record_size)
        self._block_bytes = (block_records or BLOCK_RECORDS) * self.record_size
        self.records_read = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        pending = bytearray(self._queue.take_buffer())
        for block in self._queue.remaining_blocks():
            pending += block
            if len(pending) >= self._block_bytes:
                usable = len(pending) - len(pending) % self.record_size
                yield self._decode(bytes(pending[:usable]))
                del pending[:usable]
        extra = len(pending) % self.record_size
        if len(pending) > extra:  # whole records first: a wrong record length says more
            yield self._decode(bytes(pending[: len(pending) - extra]))
        if extra:
            raise DbnReadError(MSG_TRUNCATED_RECORD.format(name=self.name, extra=extra))

    def _decode(self, data: bytes) -> np.ndarray:
        records = np.frombuffer(data, dtype=self._dtype)
        first_index = self.records_read
        self.records_read += len(records)
        expected_length = self.record_size // 4
        bad = np.flatnonzero(records["length"] != expected_length)
        if bad.size:
            i = int(bad[0])
            raise DbnReadError(
                MSG_BAD_RECORD_LENGTH.format(
                    name=self.name,
                    index=first_index + i,
                    length=int(records["length"][i]) * 4,
                    expected=self.record_size,
                )
            )
        records = records.copy()  # frombuffer views are read-only
        rtypes = records["rtype"]
        schema_rtype = self.header.rtype
        if schema_rtype is not None:
            rtypes[rtypes == LEGACY_OHLCV_RTYPE] = schema_rtype
            wrong = np.flatnonzero(rtypes != schema_rtype)
            expected = str(schema_rtype)
        else:
            wrong = np.flatnonzero(~np.isin(rtypes, list(OHLCV_RTYPES)))
            expected = "32..36"
        if wrong.size:
            i = int(wrong[0])
            raise DbnReadError(
                MSG_BAD_RTYPE.format(
                    name=self.name,
                    index=first_index + i,
                    rtype=int(rtypes[i]),
                    expected=expected,
                    schema=self.header.schema or "mixed",
                )
            )
        self._check_bars(records, first_index)
        return records

    def _check_bars(self, records: np.ndarray, first_index: int) -> None:
        low, high = records["low"], records["high"]
        checks = (
            (low > high, "low is above high"),
            ((records["open"] < low) | (records["open"] > high), "open is outside [low, high]"),
            ((records["close"] < low) | (records["close"] > high), "close is outside [low, high]"),
            (records["volume"] > MAX_INT64, "volume does not fit a signed 64-bit integer"),
            (records["ts_event"] > MAX_INT64, "ts_event does not fit a signed 64-bit integer"),
        )
        for mask, problem in checks:
            bad = np.flatnonzero(mask)
            if bad.size:
                i = int(bad[0])
                raise DbnReadError(
                    MSG_BAD_BAR.format(
                        name=self.name,
                        index=first_index + i,
                        instrument_id=int(records["instrument_id"][i]),
                        ts_event=int(records["ts_event"][i]),
                        problem=problem,
                    )
                )
