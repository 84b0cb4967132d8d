"""A walk-forward study and its windows.

A ``WalkForward`` holds the definition (a study's fields plus the window options) and where it
stands; each ``WalkForwardWindow`` holds one window's dates, its in-sample ``Study`` (run by
the workers exactly as any study), the parameters that study chose, and what those did out of
sample (metrics and daily equity). A window moves waiting (its study runs) -> out_of_sample
(the chosen point runs on the out-of-sample dates) -> complete | failed | cancelled.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class WalkForwardStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_WALKFORWARD_STATUSES = (WalkForwardStatus.QUEUED, WalkForwardStatus.RUNNING)


class WindowStatus(models.TextChoices):
    IN_SAMPLE = "in_sample"
    OUT_OF_SAMPLE = "out_of_sample"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_WINDOW_STATUSES = (WindowStatus.COMPLETE, WindowStatus.FAILED)


class WalkForward(models.Model):
    """A study definition plus windows; its state is here and in its windows."""

    walkforward_id = models.CharField(primary_key=True, max_length=64)
    name = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="walkforwards",
        help_text="Who created it (none for walk-forwards made by a command)",
    )
    status = models.CharField(
        max_length=16, choices=WalkForwardStatus.choices, default=WalkForwardStatus.QUEUED
    )
    strategy = models.CharField(max_length=200)
    config = models.JSONField(help_text="The base backtest config over all the dates")
    definition = models.JSONField(help_text="The study fields every window's study is made of")
    mode = models.CharField(max_length=16)
    in_sample_days = models.PositiveIntegerField()
    out_of_sample_days = models.PositiveIntegerField()
    step_days = models.PositiveIntegerField()
    objective = models.CharField(max_length=64)
    direction = models.CharField(max_length=8)
    queued = models.BooleanField(
        default=True, help_text="Run by the task queue (false: by run_walkforward in-process)"
    )
    error = models.TextField(blank=True, default="")
    ts_created = models.BigIntegerField()
    ts_end = models.BigIntegerField(null=True, blank=True)
    analysis = models.JSONField(
        null=True, blank=True, help_text="Stitched out-of-sample results, once finished"
    )

    class Meta:
        db_table = "walkforwards"
        ordering = ["-ts_created"]
        permissions = [("cancel_walkforward", "Can cancel and resume walk-forwards of others")]
        indexes = [models.Index(fields=["-ts_created"], name="idx_walkforwards_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=WalkForwardStatus.values),
                name="walkforwards_status_valid",
            ),
        ]
        verbose_name = "walk-forward"

    def __str__(self) -> str:
        return f"{self.walkforward_id} {self.name} ({self.status})"


class WalkForwardWindow(models.Model):
    """One window: dates, its in-sample study, the chosen point and its out-of-sample run."""

    id = models.BigAutoField(primary_key=True)
    walkforward = models.ForeignKey(WalkForward, on_delete=models.CASCADE, related_name="windows")
    index = models.PositiveIntegerField(help_text="0, 1, 2 ... in date order")
    is_start = models.DateField()
    is_end = models.DateField()
    oos_start = models.DateField()
    oos_end = models.DateField()
    warmup_start = models.DateField(help_text="First day the out-of-sample run reads")
    study = models.ForeignKey(
        "backtests.Study",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="walkforward_windows",
    )
    status = models.CharField(
        max_length=16, choices=WindowStatus.choices, default=WindowStatus.IN_SAMPLE
    )
    best_trial = models.PositiveIntegerField(null=True, blank=True)
    params = models.JSONField(null=True, blank=True, help_text="The point the study chose")
    is_metrics = models.JSONField(null=True, blank=True, help_text="The chosen trial's metrics")
    oos_metrics = models.JSONField(null=True, blank=True)
    oos_daily = models.BinaryField(
        null=True, blank=True, help_text="Out-of-sample daily equity and benchmark (codec)"
    )
    error = models.TextField(blank=True, default="")
    seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the OOS run")
    worker = models.CharField(
        max_length=200, blank=True, default="", help_text="host:pid running its OOS part"
    )
    heartbeat_ns = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="When its out-of-sample task was queued, claimed, or last beat (UTC ns)",
    )
    ts_end = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "walkforward_windows"
        ordering = ["walkforward", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["walkforward", "index"], name="walkforward_window_index_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=WindowStatus.values),
                name="walkforward_windows_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"window {self.index + 1} of {self.walkforward_id} ({self.status})"
