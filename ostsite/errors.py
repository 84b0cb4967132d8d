"""Typed service errors that carry their HTTP status.

Services raise these; the API exception handler turns them into
``{"error": "...", "fields": {...}}`` with the right status, and management commands print
their message. Nothing here imports Django, so the engine edge can use them too.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a user can cause; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(ServiceError):
    """The request is malformed or breaks a rule; ``fields`` names the culprits."""

    status = 400


class NotFound(ServiceError):
    """The named object does not exist."""

    status = 404


class Conflict(ServiceError):
    """The object exists already, or is in a state that forbids the request."""

    status = 409


class Forbidden(ServiceError):
    """The user may not do this to this object (it is not theirs and they lack the
    permission)."""

    status = 403
