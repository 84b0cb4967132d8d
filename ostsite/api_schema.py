"""OpenAPI pieces shared by every API view: the one error body and its documented answers.

Every error answer is ``{"error": "...", "fields": {"field": "what is wrong"}}`` (see
``ostsite.exceptions``). It is one schema component, ``Error``; views document their error
statuses with ``error_responses(400, 401, ...)`` instead of repeating it.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    error = serializers.CharField(help_text="What went wrong, for a person to read.")
    fields = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="Invalid input only: field name -> what is wrong with it.",
    )


ERROR_DESCRIPTIONS = {
    400: "Invalid input; `fields` names each wrong field.",
    401: "Not logged in: no session, or a missing or invalid token.",
    403: "The object is not yours and you lack the permission to do this to it.",
    404: "The object named in the path does not exist.",
    409: "The object's state forbids the request.",
    413: "The request body is larger than the upload limit.",
    429: "Too many requests of this kind; Retry-After says when to try again.",
    503: "The task broker is unreachable; nothing was queued.",
}


def error_response(status: int, description: str | None = None) -> OpenApiResponse:
    """The documented answer for one error status (``description`` overrides the default)."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[status])


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """``{status: error answer}``, e.g. ``responses={200: ..., **error_responses(400, 401)}``."""
    return {status: error_response(status) for status in statuses}


class BodyOnDeleteAutoSchema(AutoSchema):
    """Documents the request body of DELETE too (drf-spectacular drops it by default)."""

    def _get_request_body(self, direction: str = "request") -> dict | None:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"  # the base class only documents bodies of PUT, PATCH and POST
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
