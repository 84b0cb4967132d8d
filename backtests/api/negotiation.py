"""PNG endpoints answer image/png whatever the Accept header or ?format says.

A success is a plain ``HttpResponse`` with the image bytes, which DRF passes through untouched;
errors (400/401/404) are DRF responses rendered as JSON. Content negotiation therefore never
fails (no 406): it always picks the first renderer, JSON, which only errors use.
"""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer


class FirstRendererNegotiation(BaseContentNegotiation):
    def select_parser(self, request: Any, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Any, renderers: list, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type
