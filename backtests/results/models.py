"""Stored results of a run: one ``RunResult`` (metrics and equity series) and its round trips.

Both are written once, when the run stops (completed, cancelled or failed after it walked
bars), in one transaction; pages and the API read them instead of recomputing from fills
and bars, so a request costs the same whatever the run's size.
"""

from __future__ import annotations

from django.db import models

from backtests.analysis.roundtrip_columns import ROUNDTRIP_COLUMNS

# A stored round trip's fields: the analysis' columns but ``closed`` (only closed trips are kept).
ROUNDTRIP_FIELDS = tuple(name for name in ROUNDTRIP_COLUMNS if name != "closed")
# Columns a run's round trips can be sorted by (the API's ``sort``).
ROUNDTRIP_SORTS = ("number", *ROUNDTRIP_FIELDS)


class RunResult(models.Model):
    """A run's metrics (JSON, ``analysis.metrics.run_metrics``) and its equity series."""

    run = models.OneToOneField(
        "backtests.Run",
        on_delete=models.CASCADE,
        primary_key=True,
        db_column="run_id",
        related_name="result",
    )
    version = models.PositiveIntegerField(help_text="Definitions version it was computed with")
    complete = models.BooleanField(
        default=False, help_text="False while its round trips are being written"
    )
    metrics = models.JSONField(null=True, blank=True)
    series = models.BinaryField(
        null=True, blank=True, help_text="Equity at every timestamp, downsampled (codec)"
    )
    daily = models.BinaryField(
        null=True, blank=True, help_text="Equity and benchmark at each trading day's end (codec)"
    )
    computed_ns = models.BigIntegerField(help_text="When it was started or finished, UTC ns")

    class Meta:
        db_table = "run_results"

    def __str__(self) -> str:
        return f"results of {self.run_id}"


class RoundTrip(models.Model):
    """One closed round trip (``analysis.roundtrips``); ``number`` counts the run's trades
    by entry time (then symbol) and stays the same whatever filter a page applies."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        "backtests.Run",
        on_delete=models.CASCADE,
        db_column="run_id",
        related_name="+",
        db_index=False,
    )
    number = models.PositiveIntegerField()
    symbol = models.TextField()
    direction = models.CharField(max_length=5)
    duration_bars = models.BigIntegerField()
    max_position = models.FloatField()
    high_watermark = models.FloatField()
    low_watermark = models.FloatField()
    max_drawdown = models.FloatField()
    pnl_before_commission = models.FloatField()
    pnl_after_commission = models.FloatField()
    entry_ts = models.BigIntegerField()
    exit_ts = models.BigIntegerField()
    quantity = models.FloatField()
    entry_price = models.FloatField()
    exit_price = models.FloatField()
    commission = models.FloatField()
    n_fills = models.PositiveIntegerField()

    class Meta:
        db_table = "roundtrips"
        indexes = [
            models.Index(fields=["run", "number"], name="idx_rt_run_number"),
            models.Index(fields=["run", "symbol", "number"], name="idx_rt_run_symbol"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.symbol} {self.direction} ({self.run_id})"
