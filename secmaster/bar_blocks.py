"""Columnar blocks of OHLCV bars: the codec and merge rules of the ``ohlcv_blocks`` table.

A block holds the bars of one instrument and rtype whose ``ts_event`` falls in one time span
(``BLOCK_DAYS`` days, by rtype), as six int64 columns. On disk a block is one version byte and
one zstandard frame (with a content checksum) of the columns one after the other, each
little-endian int64 and delta-encoded: its first value, then the differences between neighbours.
int64 arithmetic wraps around, so the deltas and their cumulative sum are exact for any values.

Pure numpy and zstandard: nothing here imports Django, so a datafeed or a script can decode
blocks without the ORM.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zstandard

NS_PER_DAY = 86_400 * 1_000_000_000
BLOCK_DAYS = {32: 1, 33: 1, 34: 32, 35: 1024, 36: 1024}
"""Days per block by rtype: about a day of 1-second or 1-minute bars, a month of hourly bars,
three years of daily bars, so a block holds hundreds to tens of thousands of bars."""

FORMAT_VERSION = 1
# zstd's default level. Measured on minute-bar blocks: levels -7 to 9 decode equally fast (zstd
# itself is most of the decoding time at any level); 3 gives the smallest blocks (8.9 bytes a bar)
# of the levels cheap enough to encode during ingest (about 0.25 us a bar; level 9 costs 1.6).
COMPRESSION_LEVEL = 3
COLUMN_NAMES = ("ts", "open", "high", "low", "close", "volume")
BYTES_PER_BAR = 8 * len(COLUMN_NAMES)
MAX_BLOCK_BYTES = 64 * 1024 * 1024  # decoded; a day of 1-second bars is 4.1 MB
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

MSG_EMPTY_BLOB = "bar block: empty data"
MSG_UNKNOWN_VERSION = "bar block: unknown format version {version} (this code reads {expected})"
MSG_CORRUPT = "bar block: corrupt data ({detail})"
MSG_UNKNOWN_RTYPE = "no bar blocks for rtype {rtype} (known: {known})"
MSG_COLUMN_LENGTHS = "bar columns differ in length: {lengths}"
MSG_TS_ORDER = "bar timestamps must be strictly increasing"

_LE_INT64 = np.dtype("<i8")
_VERSION_BYTE = bytes((FORMAT_VERSION,))
_codecs = threading.local()  # zstandard (de)compressors must not be shared between threads


def block_span_ns(rtype: int) -> int:
    """Nanoseconds covered by one block of ``rtype``; ValueError for an unknown rtype."""
    try:
        return BLOCK_DAYS[int(rtype)] * NS_PER_DAY
    except KeyError:
        raise ValueError(
            MSG_UNKNOWN_RTYPE.format(rtype=rtype, known=", ".join(map(str, BLOCK_DAYS)))
        ) from None


def block_of(ts_ns, rtype: int):
    """Block index of a timestamp (int or int64 array): floor(ts / span), also below zero."""
    return ts_ns // block_span_ns(rtype)  # Python and numpy ``//`` both round toward -inf


def ts_bounds(ts: np.ndarray, start_ns: int, end_ns: int) -> tuple[int, int]:
    """Indices [lo, hi) of the increasing int64 ``ts`` with start_ns <= ts < end_ns.

    The bounds may lie outside int64 (2**63 for an open end): they are clamped first, since
    numpy would compare such a value with the int64 column as a float.
    """
    low, high = max(int(start_ns), INT64_MIN), min(int(end_ns) - 1, INT64_MAX)
    if low > high:
        return 0, 0
    lo = int(np.searchsorted(ts, low, side="left"))
    return lo, max(lo, int(np.searchsorted(ts, high, side="right")))


@dataclass(frozen=True)
class BarColumns:
    """Bars as six int64 columns of equal length, ``ts`` strictly increasing (UTC ns).

    (The one exception: the rows handed to ``block_merge`` as ``new``, in insertion order.)
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> BarColumns:
        """No bars."""
        column = np.empty(0, dtype=np.int64)
        return cls(*(column for _ in COLUMN_NAMES))

    @classmethod
    def _of(cls, columns) -> BarColumns:
        # The dataclass __init__ of a frozen class costs microseconds per block; decoding and
        # slicing build many small instances, so they fill the fields directly.
        bars = object.__new__(cls)
        bars.__dict__.update(zip(COLUMN_NAMES, columns, strict=True))
        return bars

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> BarColumns:
        """Columns of an (n, 6) array, one bar per row: ts, open, high, low, close, volume."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 2 or rows.shape[1] != len(COLUMN_NAMES):
            raise ValueError(f"expected an (n, {len(COLUMN_NAMES)}) array, got {rows.shape}")
        return cls._of(np.ascontiguousarray(rows.T))

    def columns(self) -> tuple[np.ndarray, ...]:
        """The six columns in storage order."""
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)

    def check(self) -> None:
        """ValueError unless the columns have one length and ``ts`` strictly increases."""
        n = len(self.ts)
        if any(len(column) != n for column in self.columns()):
            lengths = {name: len(getattr(self, name)) for name in COLUMN_NAMES}
            raise ValueError(MSG_COLUMN_LENGTHS.format(lengths=lengths))
        if n > 1 and not bool((self.ts[1:] > self.ts[:-1]).all()):
            raise ValueError(MSG_TS_ORDER)

    @staticmethod
    def concat(parts: Sequence[BarColumns]) -> BarColumns:
        """The parts one after the other (the caller keeps ``ts`` increasing across them)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return BarColumns.empty()
        if len(parts) == 1:
            return parts[0]
        return BarColumns._of(
            [np.concatenate([getattr(p, name) for p in parts]) for name in COLUMN_NAMES]
        )

    def take(self, index: np.ndarray | slice) -> BarColumns:
        """The rows at ``index`` (an index array, boolean mask or slice)."""
        return BarColumns._of([column[index] for column in self.columns()])

    def slice_ts(self, start_ns: int, end_ns: int) -> BarColumns:
        """The rows with start_ns <= ts < end_ns (views, no copy); any Python ints."""
        lo, hi = ts_bounds(self.ts, start_ns, end_ns)
        if lo == 0 and hi == len(self.ts):
            return self
        return self.take(slice(lo, hi))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BarColumns):
            return NotImplemented
        return all(
            np.array_equal(a, b) for a, b in zip(self.columns(), other.columns(), strict=True)
        )

    __hash__ = None  # arrays are mutable


def _compressor() -> zstandard.ZstdCompressor:
    compressor = getattr(_codecs, "compressor", None)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(
            level=COMPRESSION_LEVEL, write_checksum=True, write_content_size=True
        )
        _codecs.compressor = compressor
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor = getattr(_codecs, "decompressor", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _codecs.decompressor = decompressor
    return decompressor


def block_encode(cols: BarColumns) -> bytes:
    """The stored form of ``cols``: version byte + zstd frame of the delta-encoded columns."""
    cols.check()
    matrix = np.vstack(cols.columns()).astype(_LE_INT64, copy=False)
    deltas = np.empty_like(matrix)
    deltas[:, :1] = matrix[:, :1]
    np.subtract(matrix[:, 1:], matrix[:, :-1], out=deltas[:, 1:])  # wraps: exact mod 2**64
    return _VERSION_BYTE + _compressor().compress(deltas.data)


def _block_deltas(data: bytes | memoryview) -> np.ndarray:
    """The (6, n) delta-encoded columns of a stored block (read-only), after every check."""
    view = memoryview(data)
    if not len(view):
        raise ValueError(MSG_EMPTY_BLOB)
    if view[0] != FORMAT_VERSION:
        raise ValueError(MSG_UNKNOWN_VERSION.format(version=view[0], expected=FORMAT_VERSION))
    frame = view[1:]
    try:
        size = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as exc:
        raise ValueError(MSG_CORRUPT.format(detail=exc)) from exc
    if size < 0 or size > MAX_BLOCK_BYTES or size % BYTES_PER_BAR:
        raise ValueError(MSG_CORRUPT.format(detail=f"declared size {size}"))
    try:
        raw = _decompressor().decompress(frame)  # checks the frame's content checksum
    except zstandard.ZstdError as exc:
        raise ValueError(MSG_CORRUPT.format(detail=exc)) from exc
    if len(raw) != size:
        raise ValueError(MSG_CORRUPT.format(detail=f"{len(raw)} bytes, frame declares {size}"))
    return np.frombuffer(raw, dtype=_LE_INT64).reshape(len(COLUMN_NAMES), -1)


def _check_increasing(ts: np.ndarray) -> None:
    if len(ts) > 1 and not bool((ts[1:] > ts[:-1]).all()):
        raise ValueError(MSG_CORRUPT.format(detail="timestamps do not increase"))


def block_decode(data: bytes | memoryview) -> BarColumns:
    """The bars of a stored block; ValueError for an unknown version or corrupt data."""
    matrix = np.cumsum(_block_deltas(data), axis=1, dtype=np.int64)
    _check_increasing(matrix[0])
    return BarColumns._of(matrix)


def blocks_decode(blobs: Sequence[bytes | memoryview]) -> tuple[BarColumns, np.ndarray]:
    """The bars of several stored blocks one after the other, and where each block starts.

    Equal to concatenating ``block_decode`` of each (``offsets`` has one more entry than
    ``blobs``; block i is rows offsets[i]:offsets[i + 1]), but with a fixed number of numpy
    calls for all blocks together, which is most of the cost of a small block. ValueError if
    any blob is unreadable or ts does not increase across all of them (blocks in ts order).
    """
    parts = [_block_deltas(data) for data in blobs]
    lengths = np.array([part.shape[1] for part in parts], dtype=np.int64)
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if not offsets[-1]:
        return BarColumns.empty(), offsets
    matrix = np.concatenate(parts, axis=1).astype(np.int64, copy=False)  # a writable copy
    starts = offsets[:-1][lengths > 0]
    if len(starts) > 1:
        # Each block starts with absolute values. The sum of a block's deltas is its last
        # bar, so turning each later block's first values into deltas from the block before
        # lets one running sum decode them all (exact, modulo 2**64).
        last_values = np.add.reduceat(matrix, starts, axis=1)
        matrix[:, starts[1:]] -= last_values[:, :-1]
    np.cumsum(matrix, axis=1, out=matrix)
    _check_increasing(matrix[0])
    return BarColumns._of(matrix), offsets


def block_merge(existing: BarColumns | None, new: BarColumns) -> BarColumns:
    """``existing`` plus the bars of ``new`` whose ts it lacks, in ts order.

    ``new`` may be unsorted and repeat a ts; its first occurrence wins, exactly as
    ``INSERT ... ON CONFLICT DO NOTHING`` keeps the first of the rows inserted in that order.
    """
    if len(new) and (len(new) == 1 or bool(np.all(new.ts[1:] > new.ts[:-1]))):
        fresh = new  # already strictly increasing: the common case of an ordered file
    elif len(new):
        order = np.argsort(new.ts, kind="stable")  # equal ts keep their order: first wins
        ts = new.ts[order]
        first = np.ones(len(ts), dtype=bool)
        first[1:] = ts[1:] != ts[:-1]
        fresh = new.take(order[first])
    else:
        fresh = new
    if existing is None or not len(existing):
        return fresh
    if not len(fresh):
        return existing
    at = np.searchsorted(existing.ts, fresh.ts)
    present = existing.ts[np.minimum(at, len(existing) - 1)] == fresh.ts
    if present.all():
        return existing
    fresh = fresh.take(~present)
    at = at[~present]
    if at[0] == len(existing):  # all after the existing bars: append
        return BarColumns.concat([existing, fresh])
    pairs = zip(existing.columns(), fresh.columns(), strict=True)
    return BarColumns._of([np.insert(old, at, add) for old, add in pairs])
