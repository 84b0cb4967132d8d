"""A database that stays locked longer than a request may wait answers 503, never a 500.

On SQLite a writer waits up to the busy timeout for the single write lock, then gets
``OperationalError: database is locked``; on PostgreSQL a lock wait can end with
``lock_not_available`` (a ``lock_timeout``) or a deadlock. Either way the request did nothing
(its transaction was rolled back) and may simply be sent again, so it answers 503 with
``Retry-After``: the API's JSON error under /api/, a short plain-text page elsewhere.

Three places see such an error: the API's exception handler (DRF views,
``ostsite.exceptions``), ``DatabaseBusyMiddleware.process_exception`` (other views: pages,
the admin), and ``server_error`` (``handler500``), which Django calls for an error raised in
a middleware (a session saved after the view, say).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

from ostsite.api_not_found import API_PREFIX

RETRY_AFTER_SECONDS = 5
DATABASE_BUSY = (
    "The database is busy with another write; nothing was changed. Try again in a few seconds."
)
SQLITE_LOCKED = ("database is locked", "database table is locked")
POSTGRES_RETRYABLE = ("55P03", "40P01")  # lock_not_available, deadlock_detected


def is_database_busy(exc: BaseException | None) -> bool:
    """Whether ``exc`` says a lock could not be had in time (the request may be retried)."""
    if not isinstance(exc, OperationalError):
        return False
    if any(text in str(exc) for text in SQLITE_LOCKED):
        return True
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in POSTGRES_RETRYABLE


def busy_response(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: JSON under /api/, plain text elsewhere."""
    if request.path.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse({"error": DATABASE_BUSY}, status=503)
    else:
        response = HttpResponse(DATABASE_BUSY, status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseBusyMiddleware:
    """Turn a busy-database error raised by a view into a 503 (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return busy_response(request) if is_database_busy(exception) else None


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a 503 for a busy database, Django's 500 page for anything else."""
    if is_database_busy(sys.exc_info()[1]):
        return busy_response(request)
    return django_server_error(request)
