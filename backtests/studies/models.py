"""A parameter study and its trials.

A ``Study`` holds what a search is (the data a backtest takes as a base config, the search
space, constraints, sampler, objective and budget) and where it stands; each ``Trial`` is one
point of the space: asked by the sampler (``waiting``), claimed by a worker (``running``, with
a token, the worker's name and a heartbeat), and stored once as ``complete``, ``infeasible``
or ``failed``. A trial keeps its metrics and its daily equity (a compact blob), never a run:
"Open as full run" creates a real run of its exact spec and links it (``run``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class StudyStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STUDY_STATUSES = (StudyStatus.QUEUED, StudyStatus.RUNNING)


class TrialStatus(models.TextChoices):
    WAITING = "waiting"
    RUNNING = "running"
    COMPLETE = "complete"
    INFEASIBLE = "infeasible"
    FAILED = "failed"


FINISHED_TRIAL_STATUSES = (TrialStatus.COMPLETE, TrialStatus.INFEASIBLE, TrialStatus.FAILED)
PENDING_TRIAL_STATUSES = (TrialStatus.WAITING, TrialStatus.RUNNING)


class Study(models.Model):
    """A search over a strategy's parameters; its state is all here and in its trials."""

    study_id = models.CharField(primary_key=True, max_length=64)
    name = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="studies",
        help_text="Who created it (none for studies made by a command)",
    )
    status = models.CharField(
        max_length=16, choices=StudyStatus.choices, default=StudyStatus.QUEUED
    )
    strategy = models.CharField(max_length=200)
    config = models.JSONField(help_text="The base backtest config; trials override its params")
    space = models.JSONField(help_text="Per parameter: fixed, values, range or choices")
    constraints = models.JSONField(default=list, blank=True, help_text="The user's rules")
    sampler = models.CharField(max_length=16)
    objective = models.CharField(max_length=64)
    direction = models.CharField(max_length=8)
    min_trades = models.PositiveIntegerField(null=True, blank=True)
    n_trials = models.PositiveIntegerField(help_text="Budget: trials to run")
    time_limit_seconds = models.FloatField(null=True, blank=True)
    deadline_ns = models.BigIntegerField(null=True, blank=True)
    seed = models.BigIntegerField()
    batch_size = models.PositiveIntegerField(help_text="Trials per worker task")
    generation_size = models.PositiveIntegerField(help_text="Points asked of the sampler at once")
    batches_asked = models.PositiveIntegerField(default=0)
    pbo_splits = models.PositiveIntegerField(default=16)
    grid_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Grid points obeying the constraints"
    )
    exhausted = models.BooleanField(default=False, help_text="The sampler has no new points")
    note = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    ts_created = models.BigIntegerField()
    ts_started = models.BigIntegerField(null=True, blank=True)
    ts_end = models.BigIntegerField(null=True, blank=True)
    updated_ns = models.BigIntegerField(help_text="Last claim or stored trial, UTC ns")
    analysis = models.JSONField(
        null=True, blank=True, help_text="Overfitting statistics and verdict, once finished"
    )
    analysis_logits = models.BinaryField(null=True, blank=True)

    class Meta:
        db_table = "studies"
        ordering = ["-ts_created"]
        permissions = [("cancel_study", "Can cancel, resume and extend studies of other users")]
        indexes = [
            models.Index(fields=["-ts_created"], name="idx_studies_created"),
            models.Index(fields=["status"], name="idx_studies_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=StudyStatus.values), name="studies_status_valid"
            ),
        ]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return f"{self.study_id} {self.name} ({self.status})"


class Trial(models.Model):
    """One point of a study's space and, once run, what it did."""

    id = models.BigAutoField(primary_key=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField(help_text="0, 1, 2 ... in the order asked")
    batch = models.PositiveIntegerField(help_text="The sampler batch (generation) it came from")
    params = models.JSONField(help_text="Values of the searched parameters")
    status = models.CharField(
        max_length=16, choices=TrialStatus.choices, default=TrialStatus.WAITING
    )
    value = models.FloatField(null=True, blank=True, help_text="The objective")
    metrics = models.JSONField(null=True, blank=True)
    daily = models.BinaryField(null=True, blank=True, help_text="Daily equity (codec)")
    reason = models.TextField(blank=True, default="", help_text="Why infeasible, or the error")
    traceback = models.TextField(blank=True, default="")
    token = models.CharField(max_length=32, blank=True, default="")
    worker = models.CharField(max_length=200, blank=True, default="")
    heartbeat_ns = models.BigIntegerField(null=True, blank=True)
    ts_started = models.BigIntegerField(null=True, blank=True)
    ts_end = models.BigIntegerField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the trial")
    engine_seconds = models.FloatField(null=True, blank=True)
    bars = models.BigIntegerField(null=True, blank=True)
    sampler_attrs = models.JSONField(null=True, blank=True, help_text="The sampler's own state")
    run = models.ForeignKey(
        "backtests.Run",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_column="run_id",
        help_text="The full run opened from this trial",
    )

    class Meta:
        db_table = "study_trials"
        ordering = ["study", "number"]
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="study_trial_number_unique"),
            models.CheckConstraint(
                condition=Q(status__in=TrialStatus.values), name="study_trials_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["study", "status", "number"], name="idx_trials_study_status"),
            models.Index(fields=["study", "value"], name="idx_trials_study_value"),
        ]

    def __str__(self) -> str:
        return f"trial {self.number} of {self.study_id} ({self.status})"
