"""Studies admin: browse studies and their trials, cancel, resume, delete.

Studies are created by the API, the pages or ``run_study``, never by hand, so everything is
read-only. Each study lists its trials inline (the first 200, best first); deleting goes
through ``studies_delete`` (active studies are cancelled first, runs opened from trials go
too). Registered by an import at the bottom of ``backtests/admin.py``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from backtests.studies.models import (
    ACTIVE_STUDY_STATUSES,
    FINISHED_TRIAL_STATUSES,
    Study,
    StudyStatus,
    Trial,
)
from ostsite.errors import ServiceError
from ostsite.owned_admin import OwnedDeletionMixin
from ostsite.permissions import user_may_check

CANCELLED = "Cancelled {count} study(ies)."
RESUMED = "Resumed {count} study(ies)."
NOTHING_TO_CANCEL = "None of the selected studies is queued or running."
NOTHING_TO_RESUME = "None of the selected studies is cancelled."
TRIALS_SHOWN = 200


class TrialInline(admin.TabularInline):
    model = Trial
    fields = ("number", "status", "params", "value", "trades", "reason", "seconds", "run_link")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = f"trials (the first {TRIALS_SHOWN}, best first)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Trial]:
        return super().get_queryset(request).order_by("value", "number")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_formset(self, request: HttpRequest, obj: Study | None = None, **kwargs: Any):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            descending = obj.direction == "maximize"
            order = ("-value" if descending else "value", "number")
            ids = list(
                Trial.objects.filter(study=obj)
                .order_by(*order)
                .values_list("id", flat=True)[:TRIALS_SHOWN]
            )
            base = formset.get_queryset

            def limited(self_formset: Any) -> QuerySet[Trial]:
                return base(self_formset).filter(id__in=ids).order_by(*order)

            formset.get_queryset = limited
        return formset

    @admin.display(description="trades")
    def trades(self, trial: Trial) -> Any:
        return (trial.metrics or {}).get("trades", "—")

    @admin.display(description="run")
    def run_link(self, trial: Trial) -> str:
        if not trial.run_id:
            return "—"
        url = reverse("admin:backtests_run_change", args=[trial.run_id])
        return format_html('<a href="{}">{}</a>', url, trial.run_id)


@admin.register(Study)
class StudyAdmin(OwnedDeletionMixin, admin.ModelAdmin):
    not_yours_note = "study {pk} (not yours)"
    deletion_label = "studies"
    deletion_summary = "{count} study(ies), with their trials and opened runs"

    @staticmethod
    def delete_service(ids: list[str]) -> None:
        from backtests.studies.services import studies_delete

        studies_delete(study_ids=ids)

    list_display = (
        "study_id",
        "name",
        "status",
        "strategy",
        "sampler",
        "objective_text",
        "trials_text",
        "owner",
        "page_link",
    )
    list_filter = ("status", "sampler", "strategy")
    search_fields = ("study_id", "name", "strategy")
    ordering = ("-ts_created",)
    list_per_page = 50
    actions = ("cancel_selected", "resume_selected")
    inlines = (TrialInline,)
    fields = (
        "study_id",
        "name",
        "status",
        "owner",
        "strategy",
        "sampler",
        "objective",
        "direction",
        "min_trades",
        "n_trials",
        "time_limit_seconds",
        "seed",
        "batch_size",
        "generation_size",
        "grid_size",
        "pbo_splits",
        "verdict",
        "note",
        "error",
        "ts_created",
        "ts_started",
        "ts_end",
        "config",
        "space",
        "constraints",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Study]:
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(
                n_done=Count("trials", filter=Q(trials__status__in=FINISHED_TRIAL_STATUSES)),
                n_failed=Count("trials", filter=Q(trials__status="failed")),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Study | None = None) -> bool:
        return False

    @admin.display(description="objective")
    def objective_text(self, study: Study) -> str:
        return f"{study.objective} ({'max' if study.direction == 'maximize' else 'min'})"

    @admin.display(description="trials", ordering="n_done")
    def trials_text(self, study: Study) -> str:
        failed = getattr(study, "n_failed", 0)
        text = f"{getattr(study, 'n_done', 0):,} / {study.n_trials:,}"
        return f"{text} ({failed:,} failed)" if failed else text

    @admin.display(description="page")
    def page_link(self, study: Study) -> str:
        return format_html('<a href="/studies/{}">open</a>', study.study_id)

    @admin.display(description="overfitting verdict")
    def verdict(self, study: Study) -> str:
        return (study.analysis or {}).get("verdict") or "—"

    @admin.action(description="Cancel selected queued or running studies")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        from backtests.studies.services import study_cancel

        count = 0
        for study_id in queryset.filter(status__in=ACTIVE_STUDY_STATUSES).values_list(
            "study_id", flat=True
        ):
            try:
                study = Study.objects.get(study_id=study_id)
                user_may_check(user=request.user, obj=study, action="cancel", ident=study_id)
                study_cancel(study_id=study_id)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.WARNING)
                continue
            count += 1
        if count:
            self.message_user(request, CANCELLED.format(count=count), messages.SUCCESS)
        else:
            self.message_user(request, NOTHING_TO_CANCEL, messages.WARNING)

    @admin.action(description="Resume selected cancelled studies")
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        from backtests.studies.services import study_resume

        count = 0
        for study_id in queryset.filter(status=StudyStatus.CANCELLED).values_list(
            "study_id", flat=True
        ):
            try:
                study = Study.objects.get(study_id=study_id)
                user_may_check(user=request.user, obj=study, action="cancel", ident=study_id)
                study_resume(study_id=study_id)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.WARNING)
                continue
            count += 1
        if count:
            self.message_user(request, RESUMED.format(count=count), messages.SUCCESS)
        else:
            self.message_user(request, NOTHING_TO_RESUME, messages.WARNING)


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ("study", "number", "status", "value", "params", "seconds", "worker")
    list_filter = ("status",)
    search_fields = ("study__study_id",)
    list_select_related = ("study",)
    ordering = ("study", "number")
    fields = (
        "study",
        "number",
        "batch",
        "status",
        "params",
        "value",
        "reason",
        "traceback",
        "metrics",
        "worker",
        "ts_started",
        "ts_end",
        "seconds",
        "engine_seconds",
        "bars",
        "run",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Trial | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Trial | None = None) -> bool:
        return False  # a trial goes with its study: stored results are never edited away
