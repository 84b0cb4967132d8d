"""JSON sent by users: nesting depth bounded, strings valid Unicode, one error per fault.

Python's ``json`` decodes ``"\\ud800"`` into a lone surrogate, a string that cannot be
encoded as UTF-8: no database can store it and no answer that repeats it can be rendered.
It decodes a document nested thousands of levels deep until the interpreter's recursion
limit raises ``RecursionError``. Both used to end as a 500. ``json_input_check`` refuses
them, and everything deeper than ``MAX_JSON_DEPTH`` (no request of this API nests more than
three levels), with a message that names where in the document the fault is.

``StrictJSONParser`` applies it to every JSON request body of the API; the admin's preset
form uses ``json_input_loads`` for its symbol box.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32

JSON_TOO_DEEP = f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused"
JSON_LONE_SURROGATE = (
    "JSON string at {path} holds a lone surrogate ({code}), which is not valid Unicode text"
)


class JsonInputError(ValueError):
    """A JSON document that the site refuses (too deep, not valid Unicode)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _shown(text: str) -> str:
    """``text`` safe to put in a message (lone surrogates as ``\\udXXX`` escapes)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogate_code(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"\\u{ord(text[exc.start]):04x}"
    return None


def json_input_check(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``JsonInputError`` if ``value`` (as decoded by ``json``) nests deeper than
    ``max_depth`` or holds a string (key or value) that is not valid Unicode.

    Walks the document without recursion, so any depth ``json`` could decode is safe.
    """
    pending: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, str):
            code = _surrogate_code(item)
            if code is not None:
                raise JsonInputError(JSON_LONE_SURROGATE.format(path=path, code=code))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            raise JsonInputError(JSON_TOO_DEEP)
        if isinstance(item, dict):
            for key, child in item.items():
                key_path = f"{path}.{_shown(key)}"
                code = _surrogate_code(key)
                if code is not None:
                    raise JsonInputError(JSON_LONE_SURROGATE.format(path=key_path, code=code))
                pending.append((child, key_path, depth + 1))
        else:
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def json_input_loads(text: str | bytes) -> Any:
    """``json.loads`` for text from users: ``JsonInputError`` when it is too deep or not
    valid Unicode; ``json.JSONDecodeError`` (a ``ValueError``) when it is not JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonInputError(JSON_TOO_DEEP) from None
    json_input_check(value)
    return value


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, with ``json_input_check`` on what it decodes (400 on a fault)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(JSON_TOO_DEEP) from None
        try:
            json_input_check(data)
        except JsonInputError as exc:
            raise ParseError(exc.message) from None
        return data
