"""Admin deletion of owned research objects (studies, walk-forwards) by the one ownership
rule (``ostsite.permissions``), through their delete service, with a summary instead of a
list of every child row on the confirmation page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest

from ostsite.permissions import user_may


class OwnedDeletionMixin:
    """For a ``ModelAdmin``; set the four class attributes."""

    # Deletes the objects of these primary keys (a service: children, runs, files).
    delete_service: Callable[[list[str]], Any]
    # E.g. "study {pk} (not yours)"; listed as a permission the user lacks.
    not_yours_note: str
    # The confirmation page's count: its label and text ("{count}" is replaced).
    deletion_label: str
    deletion_summary: str

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        """The ownership rule per object; without one (the delete action's offer), anyone
        who may see them, as they may own some."""
        if obj is None:
            return super().has_delete_permission(request) or self.has_view_permission(request)
        return user_may(request.user, obj, "delete")

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        type(self).delete_service([obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        type(self).delete_service(list(queryset.values_list("pk", flat=True)))

    def get_deleted_objects(self, objs: Sequence[Model], request: HttpRequest) -> tuple:
        found = list(objs)
        perms_needed = {
            self.not_yours_note.format(pk=obj.pk)
            for obj in found
            if not user_may(request.user, obj, "delete")
        }
        count = {self.deletion_label: self.deletion_summary.format(count=len(found))}
        return [str(obj) for obj in found], count, perms_needed, []
