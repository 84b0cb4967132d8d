"""One error format for the whole API: ``{"error": "...", "fields": {...}}``.

``api_exception_handler`` renders errors raised in API views; ``not_found_handler`` answers
URLs under /api/ that match no route in the same format (Django's HTML page elsewhere).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ostsite.api_not_found import API_PREFIX, api_not_found_message
from ostsite.database_busy import DATABASE_BUSY, RETRY_AFTER_SECONDS, is_database_busy
from ostsite.errors import ServiceError


def _flatten(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def _fields_of(detail: Any) -> dict[str, str]:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    return {}


BODY_TOO_BIG = "The request body is larger than the limit of {limit:,} bytes"
REQUEST_REFUSED = "The request was refused: {reason}"


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render service errors and DRF errors in the house format; let the rest propagate.

    A database that stayed locked (``ostsite.database_busy``) answers 503 with Retry-After.
    """
    if is_database_busy(exc):
        return Response(
            {"error": DATABASE_BUSY},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"error": BODY_TOO_BIG.format(limit=limit)}, status=413)
    if isinstance(exc, SuspiciousOperation):  # e.g. too many form fields: Django's HTML 400
        return Response({"error": REQUEST_REFUSED.format(reason=exc)}, status=400)
    if isinstance(exc, ServiceError):
        body: dict[str, Any] = {"error": exc.message}
        if exc.fields:
            body["fields"] = exc.fields
        return Response(body, status=exc.status)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields_of(exc.detail)
        message = (
            "Invalid input: " + "; ".join(f"{k}: {v}" for k, v in fields.items())
            if fields
            else _flatten(exc.detail)
        )
        response.data = {"error": message, "fields": fields} if fields else {"error": message}
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        response.data = {"error": _flatten(getattr(exc, "detail", str(exc)))}
    return response


def not_found_handler(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page, except for URLs under /api/, which get the API's JSON error
    (with ``DEBUG`` on, ``ostsite.api_not_found.ApiNotFoundMiddleware`` does the same)."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": api_not_found_message(request.path)}, status=404)
    return page_not_found(request, exception)
