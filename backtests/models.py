"""Runs and their recorded events, one table per event kind, named as in the original schema.

Timestamps are UTC nanoseconds; prices are floats. Deleting a run deletes all of its rows
(every event table has a foreign key to ``runs`` with ON DELETE CASCADE semantics).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"  # cancel asked; its worker has not stopped yet
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Runs that hold (or wait for) a worker slot.
ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.CANCELLING)
# Runs whose claiming execution may still write rows and its final state.
EXECUTING_STATUSES = (RunStatus.RUNNING, RunStatus.CANCELLING)


class VisibleRunManager(models.Manager):
    """Runs not being deleted: what every list, page, API answer, admin and worker sees."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted=False)


class AllRunsManager(models.Manager):
    """Every run, those being deleted included (the purge, related-object access)."""


class Run(models.Model):
    """One backtest: its configuration, lifecycle and progress.

    ``deleted`` marks a run being deleted (``runs_delete`` sets it in one short write, then
    purges its rows in bounded chunks): ``Run.objects`` leaves such runs out everywhere;
    ``Run.all_objects`` sees them (the purge).

    ``owner`` is the user who started it (page, API or ``run_backtest --owner``); None for
    runs started by scripts without an owner and for runs from before owners existed.
    ``claim`` is the token of the execution that claimed it (written when it starts):
    each write the worker makes for the run (heartbeat, row batches, final state) checks it,
    so a worker that lost the run (failed as stale while it was paused) writes nothing more.
    ``taken_by`` is the cluster (``host:pid`` of its sentinel) whose queue holds the run's
    task while the run is queued: the run is only enqueued again once that cluster is gone.
    """

    run_id = models.CharField(primary_key=True, max_length=64)
    name = models.TextField()
    ts_start = models.BigIntegerField(help_text="Creation time, UTC ns")
    ts_end = models.BigIntegerField(null=True, blank=True, help_text="End time, UTC ns")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    config = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    progress = models.FloatField(default=0.0, help_text="0-100")
    heartbeat_ns = models.BigIntegerField(
        null=True, blank=True, help_text="Last sign of life from the executing worker, UTC ns"
    )
    started_ns = models.BigIntegerField(
        null=True, blank=True, help_text="When a worker started executing it, UTC ns (queued: null)"
    )
    worker = models.CharField(max_length=200, blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text="Who started the run; empty for scripts and older runs",
    )
    claim = models.CharField(
        max_length=32, blank=True, default="", help_text="Token of the executing worker's claim"
    )
    taken_by = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Queued: the cluster (host:pid) that took its task from the queue",
    )
    deleted = models.BooleanField(
        default=False, help_text="Being deleted: hidden everywhere while its rows are purged"
    )

    objects = VisibleRunManager()
    all_objects = AllRunsManager()

    class Meta:
        default_manager_name = "objects"
        base_manager_name = "all_objects"
        db_table = "runs"
        ordering = ["-ts_start"]
        permissions = [("cancel_run", "Can cancel runs of other users")]
        indexes = [
            models.Index(fields=["-ts_start"], name="idx_runs_ts_start"),
            models.Index(fields=["status"], name="idx_runs_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="runs_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100), name="runs_progress_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.name} ({self.status})"


class RunEvent(models.Model):
    """Columns every event row carries."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: every event table has a composite index that starts with run_id,
    # and a redundant one costs about a third of the write time of a full recording.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, db_column="run_id", related_name="+", db_index=False
    )
    ts_event_ns = models.BigIntegerField()
    ts_created_ns = models.BigIntegerField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.run_id} @ {self.ts_event_ns}"


class BrokerResponse(RunEvent):
    ts_broker_ns = models.BigIntegerField()

    class Meta:
        abstract = True


# Index names are limited to 30 characters, so tables go by a short name here.
def _run_ts_index(short: str) -> models.Index:
    return models.Index(fields=["run", "ts_event_ns"], name=f"idx_{short}_run_ts")


def _run_symbol_ts_index(short: str) -> models.Index:
    return models.Index(fields=["run", "symbol", "ts_event_ns"], name=f"idx_{short}_run_sym_ts")


def _bar_index(short: str) -> models.Index:
    """Bars by run, time and symbol: the order the recorder writes them in, so each new
    entry goes at the end of its run's range (an index led by symbol took inserts at as many
    places as the run has symbols, and a third more write time). Queries by run, symbol and
    time read it by run and time and check the symbol in the index entry."""
    return models.Index(fields=["run", "ts_event_ns", "symbol"], name=f"idx_{short}_run_ts_sym")


def _order_index(short: str, field: str) -> models.Index:
    return models.Index(fields=[field], name=f"idx_{short}_order_id")


class RecordedBar(RunEvent):
    symbol = models.TextField()
    bar_period = models.TextField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.BigIntegerField(null=True)

    class Meta:
        db_table = "bars"
        indexes = [_bar_index("bars")]


class ProcessedBar(RunEvent):
    """A bar with the indicator values the strategy computed on it (JSON object text)."""

    symbol = models.TextField()
    bar_period = models.TextField()
    open = models.FloatField()
    high = models.FloatField()
    low = models.FloatField()
    close = models.FloatField()
    volume = models.BigIntegerField(null=True)
    indicators = models.TextField()

    class Meta:
        db_table = "bars_processed"
        indexes = [_bar_index("barsp")]


class OrderSubmission(RunEvent):
    system_order_id = models.TextField()
    symbol = models.TextField()
    order_type = models.TextField()
    side = models.TextField()
    quantity = models.FloatField()
    limit_price = models.FloatField(null=True)
    stop_price = models.FloatField(null=True)
    action = models.TextField(null=True)
    signal = models.TextField(null=True)

    class Meta:
        db_table = "order_submissions"
        indexes = [
            _run_ts_index("osub"),
            _order_index("osub", "system_order_id"),
        ]


class OrderModification(RunEvent):
    system_order_id = models.TextField()
    symbol = models.TextField()
    quantity = models.FloatField(null=True)
    limit_price = models.FloatField(null=True)
    stop_price = models.FloatField(null=True)

    class Meta:
        db_table = "order_modifications"
        indexes = [
            _run_ts_index("omod"),
            _order_index("omod", "system_order_id"),
        ]


class OrderCancellation(RunEvent):
    system_order_id = models.TextField()
    symbol = models.TextField()

    class Meta:
        db_table = "order_cancellations"
        indexes = [
            _run_ts_index("ocan"),
            _order_index("ocan", "system_order_id"),
        ]


class AcceptedResponse(BrokerResponse):
    associated_order_id = models.TextField()
    broker_order_id = models.TextField(null=True)

    class Meta:
        abstract = True


class RejectedResponse(BrokerResponse):
    associated_order_id = models.TextField()
    rejection_reason = models.TextField()
    rejection_message = models.TextField()

    class Meta:
        abstract = True


class OrderAccepted(AcceptedResponse):
    class Meta:
        db_table = "orders_accepted"
        verbose_name_plural = "orders accepted"
        indexes = [
            _run_ts_index("oacc"),
            _order_index("oacc", "associated_order_id"),
        ]


class OrderRejected(RejectedResponse):
    class Meta:
        db_table = "orders_rejected"
        verbose_name_plural = "orders rejected"
        indexes = [
            _run_ts_index("orej"),
            _order_index("orej", "associated_order_id"),
        ]


class CancellationAccepted(AcceptedResponse):
    class Meta:
        db_table = "cancellations_accepted"
        verbose_name_plural = "cancellations accepted"
        indexes = [
            _run_ts_index("cacc"),
            _order_index("cacc", "associated_order_id"),
        ]


class CancellationRejected(RejectedResponse):
    class Meta:
        db_table = "cancellations_rejected"
        verbose_name_plural = "cancellations rejected"
        indexes = [
            _run_ts_index("crej"),
            _order_index("crej", "associated_order_id"),
        ]


class ModificationAccepted(AcceptedResponse):
    class Meta:
        db_table = "modifications_accepted"
        verbose_name_plural = "modifications accepted"
        indexes = [
            _run_ts_index("macc"),
            _order_index("macc", "associated_order_id"),
        ]


class ModificationRejected(RejectedResponse):
    class Meta:
        db_table = "modifications_rejected"
        verbose_name_plural = "modifications rejected"
        indexes = [
            _run_ts_index("mrej"),
            _order_index("mrej", "associated_order_id"),
        ]


class Fill(BrokerResponse):
    associated_order_id = models.TextField()
    broker_order_id = models.TextField(null=True)
    symbol = models.TextField()
    fill_id = models.TextField()
    broker_fill_id = models.TextField(null=True)
    side = models.TextField(help_text="BUY or SELL")
    quantity_filled = models.FloatField()
    fill_price = models.FloatField()
    commission = models.FloatField()
    exchange = models.TextField()

    class Meta:
        db_table = "fills"
        indexes = [
            _run_ts_index("fills"),
            _run_symbol_ts_index("fills"),
            _order_index("fills", "associated_order_id"),
        ]


class Expiration(BrokerResponse):
    associated_order_id = models.TextField()
    broker_order_id = models.TextField(null=True)
    symbol = models.TextField()

    class Meta:
        db_table = "expirations"
        indexes = [
            _run_ts_index("expirations"),
            _order_index("expirations", "associated_order_id"),
        ]


EVENT_MODELS: tuple[type[RunEvent], ...] = (
    RecordedBar,
    ProcessedBar,
    OrderSubmission,
    OrderModification,
    OrderCancellation,
    OrderAccepted,
    OrderRejected,
    CancellationAccepted,
    CancellationRejected,
    ModificationAccepted,
    ModificationRejected,
    Fill,
    Expiration,
)


# Stored results live in their own module; imported here so Django registers them.
from backtests.results.models import RoundTrip, RunResult  # noqa: E402, F401

# Parameter studies too (backtests/studies/).
from backtests.studies.models import Study, Trial  # noqa: E402, F401

# Walk-forward studies too (backtests/walkforward/).
from backtests.walkforward.models import WalkForward, WalkForwardWindow  # noqa: E402, F401
