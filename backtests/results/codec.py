"""Named numpy arrays as compact bytes: a JSON header (names, dtypes, lengths) and the raw
little-endian arrays, in one zstd frame with a checksum. Used for the equity series kept
per run; small enough to read whole (the series is downsampled before it is stored)."""

from __future__ import annotations

import numpy as np
import orjson
import zstandard

FORMAT_VERSION = 1
_LEVEL = 3
BAD_BLOB = "stored series is unreadable: {detail}"


def arrays_encode(arrays: dict[str, np.ndarray], **attributes: object) -> bytes:
    """``arrays`` (1-d, numeric) and JSON-safe ``attributes`` as one compressed blob."""
    columns = {name: np.ascontiguousarray(values) for name, values in arrays.items()}
    header = {
        "v": FORMAT_VERSION,
        "attrs": attributes,
        "columns": [
            [name, col.dtype.newbyteorder("<").str, int(col.size)] for name, col in columns.items()
        ],
    }
    head = orjson.dumps(header)
    body = b"".join(
        col.astype(col.dtype.newbyteorder("<"), copy=False).tobytes() for col in columns.values()
    )
    raw = len(head).to_bytes(4, "little") + head + body
    return zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True).compress(raw)


def arrays_decode(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """The arrays and attributes of ``arrays_encode``; ValueError when the blob is damaged."""
    try:
        raw = zstandard.ZstdDecompressor().decompress(bytes(blob))
        size = int.from_bytes(raw[:4], "little")
        header = orjson.loads(raw[4 : 4 + size])
        offset = 4 + size
        arrays = {}
        for name, dtype, length in header["columns"]:
            kind = np.dtype(dtype)
            end = offset + kind.itemsize * length
            if end > len(raw):
                raise ValueError("truncated")
            arrays[name] = np.frombuffer(raw, dtype=kind, count=length, offset=offset).copy()
            offset = end
    except (zstandard.ZstdError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(BAD_BLOB.format(detail=exc)) from None
    return arrays, dict(header.get("attrs") or {})
