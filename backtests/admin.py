"""Runs admin: browse, search, cancel and delete backtests.

Runs are created by the backtest form, the API or ``manage.py run_backtest``, never by hand,
so the admin shows them read-only. Times are shown as UTC text, money with
``ostsite.formatting`` (the same rule as the pages), a failure's traceback as preformatted
text. The list counts fills with one subquery (no query per row);
round trips are computed from the fills, so they are counted on the detail page only.
Deleting goes through ``runs_delete`` (a running run is cancelled first) and the confirmation
page does not enumerate the millions of event rows a run may own.
django-q2 registers its own task models (queued, successful, failed tasks, schedules).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, FloatField, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.http import HttpRequest
from django.utils.html import format_html

from backtests.models import ACTIVE_STATUSES, Fill, Run, RunStatus
from ostsite.errors import ServiceError
from ostsite.formatting import MISSING, ns_duration_text, number_text, utc_text
from ostsite.permissions import user_may, user_may_check

CANCELLED_MESSAGE = "Cancelled {count} run(s)."
NOTHING_TO_CANCEL = "None of the selected runs is queued or running."
EVENT_ROWS_NOTE = "{count} run(s), with all their recorded events"
SYMBOLS_SHOWN = 4
NOT_YOURS_NOTE = "run {run_id} (not yours)"


def _config(run: Run) -> dict[str, Any]:
    return run.config if isinstance(run.config, dict) else {}


def _metadata(run: Run) -> dict[str, Any]:
    return run.metadata if isinstance(run.metadata, dict) else {}


def _summary(run: Run) -> dict[str, Any]:
    """The run's stored summary (set at completion); {} for older or unfinished runs."""
    summary = _metadata(run).get("summary")
    return summary if isinstance(summary, dict) else {}


def _preformatted(text: str) -> str:
    return format_html('<pre class="ost-pre">{}</pre>', text)


def _summary_value(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value) if isinstance(value, float) else f"{value:,}"
    return MISSING if value is None else str(value)


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
    # What people look for first comes first (the admin leaves the list ~750 px beside its
    # menus at 1400 px; the rest scrolls): progress shows in the status while it matters
    # (running, failed), times without seconds.
    list_display = (
        "run_id",
        "name",
        "status_progress",
        "owner",
        "started_short",
        "took",
        "net_pnl",
        "fills_count",
        "strategy",
        "symbols",
        "date_range",
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
        "created",
        "started",
        "ended",
        "queued_for",
        "took",
        "owner",
        "worker",
        "taken_by",
        "heartbeat",
        "fills_count",
        "roundtrips_count",
        "net_pnl",
        "summary_text",
        "error",
        "traceback",
        "config_json",
        "metadata_json",
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
            .select_related("owner")
            .annotate(n_fills=Coalesce(Subquery(fills, output_field=IntegerField()), 0))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        """The ownership rule (ostsite.permissions) per run; without a run (the delete
        action's offer), anyone who may see runs, as they may own some."""
        if obj is None:
            return super().has_delete_permission(request) or self.has_view_permission(request)
        return user_may(request.user, obj, "delete")

    @admin.display(description="strategy")
    def strategy(self, run: Run) -> str:
        return str(_config(run).get("strategy", ""))

    @admin.display(description="symbols")
    def symbols(self, run: Run) -> str:
        symbols = [str(symbol) for symbol in _config(run).get("symbols") or []]
        more = f" +{len(symbols) - SYMBOLS_SHOWN}" if len(symbols) > SYMBOLS_SHOWN else ""
        return ", ".join(symbols[:SYMBOLS_SHOWN]) + more

    @admin.display(description="date range")
    def date_range(self, run: Run) -> str:
        config = _config(run)
        return f"{config.get('start_date') or '…'} – {config.get('end_date') or '…'}"

    @admin.display(description="created (UTC)", ordering="ts_start")
    def created(self, run: Run) -> str:
        return utc_text(run.ts_start)

    @admin.display(description="started (UTC)", ordering="started_ns")
    def started(self, run: Run) -> str:
        """When a worker started executing it (not when it was queued)."""
        return utc_text(run.started_ns) if run.started_ns else f"{MISSING} (not started)"

    @admin.display(description="started (UTC)", ordering="started_ns")
    def started_short(self, run: Run) -> str:
        if not run.started_ns:
            return MISSING
        return utc_text(run.started_ns, seconds=False).removesuffix(" UTC")

    @admin.display(description="status", ordering="status")
    def status_progress(self, run: Run) -> str:
        if run.status in (RunStatus.RUNNING, RunStatus.FAILED):
            return f"{run.status} ({run.progress:.0f}%)"
        return str(run.status)

    @admin.display(description="ended (UTC)", ordering="ts_end")
    def ended(self, run: Run) -> str:
        return utc_text(run.ts_end)

    @admin.display(description="queued for")
    def queued_for(self, run: Run) -> str:
        return ns_duration_text(run.ts_start, run.started_ns)

    @admin.display(description="took")
    def took(self, run: Run) -> str:
        """Execution time: from the worker's start to the end (queued time excluded)."""
        return ns_duration_text(run.started_ns, run.ts_end)

    @admin.display(description="heartbeat (UTC)")
    def heartbeat(self, run: Run) -> str:
        if run.heartbeat_ns is None:
            return MISSING
        ago = ns_duration_text(run.heartbeat_ns, time.time_ns())
        return f"{utc_text(run.heartbeat_ns)} ({ago} ago)"

    @admin.display(
        description="net P&L",
        ordering=Cast(KT("metadata__summary__net_pnl"), FloatField()),
    )
    def net_pnl(self, run: Run) -> str:
        return number_text(_summary(run).get("net_pnl"))

    @admin.display(description="summary")
    def summary_text(self, run: Run) -> str:
        summary = _summary(run)
        if not summary:
            return MISSING
        return _preformatted(
            "\n".join(f"{key}: {_summary_value(value)}" for key, value in summary.items())
        )

    @admin.display(description="error")
    def error(self, run: Run) -> str:
        return str(_metadata(run).get("error") or MISSING)

    @admin.display(description="traceback")
    def traceback(self, run: Run) -> str:
        text = _metadata(run).get("traceback")
        return _preformatted(str(text)) if text else MISSING

    @admin.display(description="config")
    def config_json(self, run: Run) -> str:
        return _preformatted(json.dumps(run.config, indent=2, ensure_ascii=False))

    @admin.display(description="metadata")
    def metadata_json(self, run: Run) -> str:
        """The metadata JSON, without the traceback (shown above as lines)."""
        shown = {k: v for k, v in _metadata(run).items() if k != "traceback"}
        return _preformatted(json.dumps(shown or run.metadata, indent=2, ensure_ascii=False))

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
        for run in queryset.filter(status__in=ACTIVE_STATUSES).only("run_id", "owner_id"):
            try:
                user_may_check(user=request.user, obj=run, action="cancel", ident=run.run_id)
                run_cancel(run_id=run.run_id)
            except ServiceError as exc:  # not theirs, or finished or deleted meanwhile
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
        """Summarise instead of collecting every event row (a run may own millions); every
        run must be the user's to delete (ostsite.permissions), or nothing is deleted."""
        runs = list(objs)
        perms_needed = {
            NOT_YOURS_NOTE.format(run_id=run.run_id)
            for run in runs
            if not user_may(request.user, run, "delete")
        }
        summary = [str(run) for run in runs]
        model_count = {"runs": EVENT_ROWS_NOTE.format(count=len(runs))}
        return summary, model_count, perms_needed, []


# Parameter studies and their trials (backtests/studies/admin.py).
from backtests.studies import admin as studies_admin  # noqa: E402, F401

# Walk-forward studies and their windows (backtests/walkforward/admin.py).
from backtests.walkforward import admin as walkforward_admin  # noqa: E402, F401
