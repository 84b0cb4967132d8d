"""The API root (``GET /api/``): every route of the JSON API as a link, and the docs.

The routes are not listed by hand: the URL resolver is walked, so a route added later is
listed without anyone remembering to. Each route is keyed ``"METHODS /path/{param}"`` and
its value is an absolute URL; a path parameter is filled with an existing value when there is
one (the newest run, the first strategy, preset and publisher), so every link leads
somewhere. The answer is grouped by app (``secmaster``, ``backtests``, ``site``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from ostsite.api_schema import error_response

API_ROUTE_PREFIX = "api/"
PUBLISHER_ROUTE = "api/secmaster/publishers/"
DOCS = {"swagger_ui": "api-docs", "redoc": "api-redoc", "schema": "api-schema"}
GROUPS = ("secmaster", "backtests", "site")
SKIPPED_METHODS = frozenset({"options", "head"})
_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + text)
        elif isinstance(pattern, URLPattern) and not text.startswith("^"):
            yield prefix + text, pattern


def _methods(pattern: URLPattern) -> list[str]:
    view_class = getattr(pattern.callback, "cls", None)
    if view_class is None:
        return ["GET"]
    names = getattr(view_class, "http_method_names", [])
    return [m.upper() for m in names if m not in SKIPPED_METHODS and hasattr(view_class, m)]


def _group(pattern: URLPattern) -> str:
    module = getattr(getattr(pattern.callback, "cls", None), "__module__", None)
    module = module or getattr(pattern.callback, "__module__", "")
    app = module.split(".", 1)[0]
    return app if app in GROUPS else "site"


def api_routes() -> list[tuple[str, str, list[str]]]:
    """(group, route text like ``api/runs/<str:run_id>/metrics``, methods) of every API route,
    in URLconf order (the root itself excluded)."""
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(API_ROUTE_PREFIX) and route != API_ROUTE_PREFIX:
            routes.append((_group(pattern), route, _methods(pattern)))
    return routes


def _example_values() -> dict[str, Callable[[], str | None]]:
    """Path parameter name -> a function giving an existing value (or None)."""

    def run_id() -> str | None:
        from backtests.models import Run, RunStatus

        run = Run.objects.filter(status=RunStatus.COMPLETED).order_by("-ts_start").first()
        run = run or Run.objects.order_by("-ts_start").first()
        return run.run_id if run else None

    def strategy_id() -> str | None:
        from backtests.services.backtest_spec import strategy_classes

        return next(iter(strategy_classes()), None)

    def name() -> str | None:
        from secmaster.models import SymbolPreset

        return SymbolPreset.objects.order_by("name").values_list("name", flat=True).first()

    return {"run_id": run_id, "strategy_id": strategy_id, "name": name}


def _publisher_name() -> str | None:
    from secmaster.models import Publisher

    return Publisher.objects.order_by("name").values_list("name", flat=True).first()


def _link(origin: str, route: str, examples: dict[str, str | None]) -> str:
    """``origin`` + the route with its parameters filled (quoted), or left as ``{name}``."""

    def fill(match: re.Match) -> str:
        key = match.group("name")
        if key == "name" and route.startswith(PUBLISHER_ROUTE):
            key = "publisher"  # {name} is a publisher's there, a preset's elsewhere
        value = examples.get(key)
        return quote(value, safe="") if value else "{" + match.group("name") + "}"

    return origin + "/" + _PARAMETER.sub(fill, route)


def api_root_body(request: Request) -> dict[str, Any]:
    """The API root's answer (see the module docstring)."""
    from django.urls import reverse

    routes = api_routes()
    wanted = {m.group("name") for _, route, _ in routes for m in _PARAMETER.finditer(route)}
    providers = _example_values()
    examples = {key: providers[key]() for key in wanted if key in providers}
    if "name" in wanted:
        examples["publisher"] = _publisher_name()
    body: dict[str, Any] = {
        "docs": {key: request.build_absolute_uri(reverse(name)) for key, name in DOCS.items()},
        **{group: {} for group in GROUPS},
    }
    origin = request.build_absolute_uri("/").rstrip("/")
    for group, route, methods in routes:
        template = "/" + _PARAMETER.sub(lambda m: "{" + m.group("name") + "}", route)
        key = f"{', '.join(methods)} {template}"
        body[group][key] = _link(origin, route, examples)
    return body


@extend_schema(
    operation_id="api_root",
    summary="API root: every route as a link, and the API docs",
    responses={
        200: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description='{"docs": {...}, "<app>": {"METHODS /path/{param}": "absolute URL"}}',
        ),
        401: error_response(401),
    },
)
@api_view(["GET"])
def api_root(request: Request) -> Response:
    """Every route of the JSON API as a link, grouped by app, and the API docs' links."""
    return Response(api_root_body(request))
