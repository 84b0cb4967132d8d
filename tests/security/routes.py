"""Every URL pattern of ostsite.urls with a sample URL that resolves back to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

# A sample value for every path converter (int, str, path and slug all accept "1").
SAMPLE_ARG = "1"
_CONVERTER = re.compile(r"<(?:\w+:)?\w+>")
_REGEX_GROUP = re.compile(r"\(\?P<\w+>([^)]*)\)")


@dataclass(frozen=True)
class Route:
    """One URL pattern: its full route text, a sample URL and whether DRF serves it."""

    route: str
    url: str
    is_api: bool
    view: Any = field(compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.url.startswith("/admin/")


def _sample(pattern_text: str) -> str:
    # Regex patterns (the admin's per-app index and catch-all): the first alternative of
    # each named group, or the sample for a wildcard.
    def alternative(match: re.Match) -> str:
        first = match.group(1).split("|")[0]
        return SAMPLE_ARG if first == ".*" else first

    text = _REGEX_GROUP.sub(alternative, pattern_text)
    text = _CONVERTER.sub(SAMPLE_ARG, text)
    return text.lstrip("^").rstrip("$")


def _walk(patterns, route: str = "", url: str = "") -> Iterator[Route]:
    for pattern in patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route + text, url + _sample(text))
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "cls", None)
            is_api = isinstance(view_class, type) and issubclass(view_class, APIView)
            yield Route(route + text, "/" + url + _sample(text), is_api, pattern.callback)


def all_routes() -> list[Route]:
    """Every leaf pattern of the project's URLconf, in URLconf order."""
    return list(_walk(get_resolver().url_patterns))
