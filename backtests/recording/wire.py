"""Messages between this process and the SQLite writer process: length-prefixed pickles.

Standard library only (the writer process imports this file on its own). Bar columns travel
as raw bytes of fixed-width numbers and become lists again on arrival, one C-level pass per
column.
"""

from __future__ import annotations

import pickle
import struct
from array import array
from typing import Any, BinaryIO

_LENGTH = struct.Struct("<Q")
# Bar columns sent as bytes, and their array typecodes.
NUMBER_COLUMNS = {
    "ts": "q",
    "code": "i",
    "open": "d",
    "high": "d",
    "low": "d",
    "close": "d",
    "volume": "q",
}


def send(stream: BinaryIO, message: Any) -> None:
    """Write one message and flush."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def receive(stream: BinaryIO) -> Any | None:
    """Read one message; None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError(f"message cut short: {len(data)} of {length} bytes")
    return pickle.loads(data)


def bar_lists(message: dict[str, Any]) -> dict[str, list]:
    """A bar block message (bytes columns) as the lists ``statements.insert_batch`` takes."""
    lists: dict[str, Any] = {}
    for name, typecode in NUMBER_COLUMNS.items():
        value = message[name]
        lists[name] = array(typecode, value).tolist() if isinstance(value, bytes) else value
    symbols = message["symbols"]
    lists["symbol"] = list(map(symbols.__getitem__, lists.pop("code")))
    lists["bar_period"] = [message["bar_period"]] * len(lists["ts"])
    lists["indicators"] = message["indicators"]
    return lists
