"""Unknown URLs under /api/ answer the API's JSON error, in development too.

Django answers a URL that matches no route with its HTML 404 page, and with ``DEBUG`` on with
the technical page that lists every URL pattern. Under /api/ a script expects the API's
``{"error": ...}`` instead, with the route it probably meant when only a trailing slash is off.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.response import Response

API_PREFIX = "/api/"
NO_SUCH_ROUTE = "Not found: no API route matches {path}"
DID_YOU_MEAN = "; did you mean {path}?"


def api_not_found_message(path: str) -> str:
    """The error for an unknown API path, naming the route it differs from by a slash."""
    message = NO_SUCH_ROUTE.format(path=path)
    other = path[:-1] if path.endswith("/") else path + "/"
    try:
        resolve(other)
    except Resolver404:
        return message
    return message + DID_YOU_MEAN.format(path=other)


class ApiNotFoundMiddleware:
    """Turns Django's 404 page under /api/ into the JSON error (a DRF view's own 404, JSON or
    browsable HTML, is left alone)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith(API_PREFIX)
            and not isinstance(response, Response)
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return JsonResponse({"error": api_not_found_message(request.path)}, status=404)
        return response
