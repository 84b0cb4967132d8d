"""Runs admin: browse, search, cancel and delete backtests.

Runs are created by the backtest form, the API or ``manage.py backtest``, never by hand, so
the admin shows them read-only. The list counts fills with one subquery (no query per row);
round trips are computed from the fills, so they are counted on the detail page only.
Deleting goes through ``runs_delete`` (a running run is cancelled first) and the confirmation
page does not enumerate the millions of event rows a run may own.
django-q2 registers its own task models (queued, successful, failed tasks, schedules).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from backtests.models import ACTIVE_STATUSES, Fill, Run
from ostsite.errors import ServiceError

CANCELLED_MESSAGE = "Cancelled {count} run(s)."
NOTHING_TO_CANCEL = "None of the selected runs is queued or running."
EVENT_ROWS_NOTE = "{count} run(s), with all their recorded events"


def _config(run: Run) -> dict[str, Any]:
    return run.config if isinstance(run.config, dict) else {}


class StrategyFilter(admin.SimpleListFilter):
    title = "strategy"
    parameter_name = "strategy"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        values = Run.objects.values_list("config__strategy", flat=True).distinct()
        names = sorted({value for value in values if isinstance(value, str)})
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> QuerySet[Run]:
        if self.value():
            return queryset.filter(config__strategy=self.value())
        return queryset


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = (
        "run_id",
        "name",
        "status",
        "strategy",
        "symbols",
        "date_range",
        "fills_count",
        "progress_percent",
    )
    list_filter = ("status", StrategyFilter)
    search_fields = ("run_id", "name")
    ordering = ("-ts_start",)
    list_per_page = 50
    actions = ("cancel_selected_runs",)
    fields = (
        "run_id",
        "name",
        "status",
        "progress",
        "strategy",
        "symbols",
        "date_range",
        "ts_start",
        "ts_end",
        "worker",
        "heartbeat_ns",
        "fills_count",
        "roundtrips_count",
        "config",
        "metadata",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        fills = (
            Fill.objects.filter(run_id=OuterRef("pk"))
            .order_by()
            .values("run_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(n_fills=Coalesce(Subquery(fills, output_field=IntegerField()), 0))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    @admin.display(description="strategy")
    def strategy(self, run: Run) -> str:
        return str(_config(run).get("strategy", ""))

    @admin.display(description="symbols")
    def symbols(self, run: Run) -> str:
        return ", ".join(str(symbol) for symbol in _config(run).get("symbols") or [])

    @admin.display(description="date range")
    def date_range(self, run: Run) -> str:
        config = _config(run)
        return f"{config.get('start_date') or '…'} – {config.get('end_date') or '…'}"

    @admin.display(description="fills", ordering="n_fills")
    def fills_count(self, run: Run) -> int:
        return getattr(run, "n_fills", 0)

    @admin.display(description="round trips")
    def roundtrips_count(self, run: Run) -> int | str:
        from backtests.results.selectors import roundtrips_queryset

        try:
            return roundtrips_queryset(run).count()
        except ServiceError as exc:
            return f"unavailable: {exc.message}"

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, run: Run) -> str:
        return f"{run.progress:.0f}%"

    @admin.action(description="Cancel selected running runs")
    def cancel_selected_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        from backtests.services.runs import run_cancel

        count = 0
        for run_id in queryset.filter(status__in=ACTIVE_STATUSES).values_list("run_id", flat=True):
            try:
                run_cancel(run_id=run_id)
            except ServiceError as exc:  # finished or deleted meanwhile
                self.message_user(request, exc.message, messages.WARNING)
                continue
            count += 1
        if count:
            self.message_user(request, CANCELLED_MESSAGE.format(count=count), messages.SUCCESS)
        else:
            self.message_user(request, NOTHING_TO_CANCEL, messages.WARNING)

    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        from backtests.services.runs import runs_delete

        runs_delete(run_ids=[obj.run_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        from backtests.services.runs import runs_delete

        runs_delete(run_ids=list(queryset.values_list("run_id", flat=True)))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Summarise instead of collecting every event row (a run may own millions)."""
        runs = list(objs)
        perms_needed = set() if self.has_delete_permission(request) else {"run"}
        summary = [str(run) for run in runs]
        model_count = {"runs": EVENT_ROWS_NOTE.format(count=len(runs))}
        return summary, model_count, perms_needed, []


# Parameter studies and their trials (backtests/studies/admin.py).
from backtests.studies import admin as studies_admin  # noqa: E402, F401
