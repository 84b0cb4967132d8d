"""The browsable API's renderer: forms start from an example body when the view has one.

A view that defines ``example_body(request, method) -> dict | None`` gets that body, as
indented JSON, in the browsable API's raw-data form for that method (e.g. ``POST
/api/backtest/run`` shows a request that runs as it is), instead of an empty box.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.renderers import BrowsableAPIRenderer


class ExampleBodyBrowsableAPIRenderer(BrowsableAPIRenderer):
    """DRF's browsable API, with example bodies in the raw-data forms."""

    def get_raw_data_form(self, data: Any, view: Any, method: str, request: Any) -> Any:
        form = super().get_raw_data_form(data, view, method, request)
        example_body = getattr(view, "example_body", None)
        if form is None or example_body is None:
            return form
        example = example_body(request, method)
        if example is not None:
            form.fields["_content"].initial = json.dumps(example, indent=4)
        return form
