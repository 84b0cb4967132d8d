"""Login for pages (the API answers for itself); URLs holding NUL characters refused."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from rest_framework.views import APIView

NUL_IN_URL = "NUL characters are not allowed in URLs."


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Redirect anonymous visitors of pages to the login page.

    DRF views are left to DRF's own authentication, so that a script without credentials
    gets a JSON 401/403 rather than a redirect to an HTML form.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if view_class is not None and issubclass(view_class, APIView):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class NulInUrlRefusedMiddleware:
    """Answer 400 to a page or admin URL whose path or query holds a NUL character.

    PostgreSQL refuses NUL in text, so a lookup such as ``/admin/backtests/run/?status=%00``
    or ``/admin/backtests/run/%00/change/`` raised a database error (a 500). No name, id or
    filter of this site contains one. API URLs are left to the API, whose views answer with
    its JSON errors (a NUL id is simply not found there).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/") and _has_nul(request):
            return HttpResponseBadRequest(NUL_IN_URL, content_type="text/plain")
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path:
        return True
    return any(
        "\x00" in key or any("\x00" in value for value in values)
        for key, values in request.GET.lists()
    )
