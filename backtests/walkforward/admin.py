"""Walk-forward admin: browse walk-forwards and their windows, cancel, delete.

Walk-forwards are created by the API, the page or ``run_walkforward``, never by hand, so
everything is read-only. Each lists its windows inline; deleting goes through
``walkforwards_delete`` (their in-sample studies go too). Registered by an import at the
bottom of ``backtests/admin.py``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from backtests.walkforward.models import (
    ACTIVE_WALKFORWARD_STATUSES,
    WalkForward,
    WalkForwardWindow,
)
from ostsite.errors import ServiceError
from ostsite.owned_admin import OwnedDeletionMixin
from ostsite.permissions import user_may_check

CANCELLED = "Cancelled {count} walk-forward(s)."
NOTHING_TO_CANCEL = "None of the selected walk-forwards is queued or running."


class WindowInline(admin.TabularInline):
    model = WalkForwardWindow
    fields = (
        "index",
        "status",
        "is_start",
        "is_end",
        "oos_start",
        "oos_end",
        "study_link",
        "params",
        "oos_net_pnl",
        "error",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="study")
    def study_link(self, window: WalkForwardWindow) -> str:
        if not window.study_id:
            return "—"
        url = reverse("admin:backtests_study_change", args=[window.study_id])
        return format_html('<a href="{}">{}</a>', url, window.study_id)

    @admin.display(description="OOS net P&L")
    def oos_net_pnl(self, window: WalkForwardWindow) -> Any:
        return (window.oos_metrics or {}).get("net_pnl", "—")


@admin.register(WalkForward)
class WalkForwardAdmin(OwnedDeletionMixin, admin.ModelAdmin):
    not_yours_note = "walk-forward {pk} (not yours)"
    deletion_label = "walk-forwards"
    deletion_summary = "{count}, with their windows and in-sample studies"

    @staticmethod
    def delete_service(ids: list[str]) -> None:
        from backtests.walkforward.services import walkforwards_delete

        walkforwards_delete(walkforward_ids=ids)

    list_display = (
        "walkforward_id",
        "name",
        "status",
        "strategy",
        "mode",
        "windows_text",
        "efficiency",
        "owner",
        "page_link",
    )
    list_filter = ("status", "mode", "strategy")
    search_fields = ("walkforward_id", "name", "strategy")
    ordering = ("-ts_created",)
    list_per_page = 50
    actions = ("cancel_selected",)
    inlines = (WindowInline,)
    fields = (
        "walkforward_id",
        "name",
        "status",
        "owner",
        "strategy",
        "mode",
        "in_sample_days",
        "out_of_sample_days",
        "step_days",
        "objective",
        "direction",
        "verdict",
        "error",
        "ts_created",
        "ts_end",
        "config",
        "definition",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[WalkForward]:
        return super().get_queryset(request).select_related("owner")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WalkForward | None = None) -> bool:
        return False

    @admin.display(description="windows")
    def windows_text(self, walkforward: WalkForward) -> str:
        done = walkforward.windows.filter(status__in=("complete", "failed")).count()
        return f"{done} / {walkforward.windows.count()}"

    @admin.display(description="efficiency")
    def efficiency(self, walkforward: WalkForward) -> str:
        value = (walkforward.analysis or {}).get("efficiency")
        return "—" if value is None else f"{value:.2f}"

    @admin.display(description="page")
    def page_link(self, walkforward: WalkForward) -> str:
        return format_html('<a href="/walkforward/{}">open</a>', walkforward.walkforward_id)

    @admin.display(description="verdict")
    def verdict(self, walkforward: WalkForward) -> str:
        return (walkforward.analysis or {}).get("verdict") or "—"

    @admin.action(description="Cancel selected running walk-forwards")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[WalkForward]) -> None:
        from backtests.walkforward.services import walkforward_cancel

        count = 0
        for found in queryset.filter(status__in=ACTIVE_WALKFORWARD_STATUSES):
            try:
                user_may_check(
                    user=request.user, obj=found, action="cancel", ident=found.walkforward_id
                )
                walkforward_cancel(walkforward_id=found.walkforward_id)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.WARNING)
                continue
            count += 1
        if count:
            self.message_user(request, CANCELLED.format(count=count), messages.SUCCESS)
        else:
            self.message_user(request, NOTHING_TO_CANCEL, messages.WARNING)
