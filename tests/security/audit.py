"""Watch what Python itself reports while input is handled: compiles, imports, files, processes.

``sys.addaudithook`` hooks cannot be removed, so one hook is installed per process and stays
idle (one attribute check) unless a ``recording()`` block is active. ``traces_of`` picks the
events that show a given value being used as code, a module name or a path, or any process
being started; unrelated events (a module imported by a garbage-collected finaliser) are not.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

SPAWNS = frozenset(
    {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "subprocess.Popen"}
)
WATCHED = SPAWNS | {"compile", "exec", "import", "open"}
# Shorter values ("os", "type") are only matched exactly, so they don't match every path.
MIN_SUBSTRING = 6

Event = tuple[str, tuple]


class _Recorder:
    events: list[Event] | None = None


def _hook(event: str, args: tuple) -> None:
    events = _Recorder.events
    if events is not None and event in WATCHED:
        events.append((event, args))


sys.addaudithook(_hook)


@contextlib.contextmanager
def recording() -> Iterator[list[Event]]:
    """Collect watched audit events (name, arguments) raised inside the block."""
    events: list[Event] = []
    _Recorder.events = events
    try:
        yield events
    finally:
        _Recorder.events = None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def _mentions(text: str, value: str) -> bool:
    return text == value or (len(value) >= MIN_SUBSTRING and value in text)


def traces_of(value: str, events: list[Event]) -> list[tuple[str, str]]:
    """Events that compiled, imported or opened ``value``, and every process started."""
    module = value.split(":")[0]
    found = []
    for name, args in events:
        first = _text(args[0]) if args else ""
        if (
            name in SPAWNS
            or (name == "compile" and _mentions(first, value))
            or (name == "import" and (first == module or module.startswith(first + ".")))
            or (name == "open" and _mentions(first, value))
        ):
            found.append((name, first[:200]))
    return found
