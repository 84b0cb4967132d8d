"""Input validation and output shapes of the backtests API (shapes as in the seed docs)."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from backtests.models import RunStatus
from backtests.services.backtest_spec import FILL_TIMINGS, RECORD_LEVELS
from ostsite.api_fields import AsciiIntegerField

MAX_RUNS_LIMIT = 1000
DEFAULT_RUNS_LIMIT = 50

RUN_IDS_NOT_LIST = "run_ids must be a list of run id strings"
RUN_ID_NOT_STRING = "run_ids[{index}] is not a string"
RUN_ID_NUL = "run_ids[{index}] contains a NUL character"
END_BEFORE_START = "end_ns must not be before start_ns"
MAX_NS = 2**63 - 1
NOT_A_STRING = "must be a string"
NOT_FINITE = "must be a finite number"
MAX_NAME_LENGTH = 200


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(NOT_A_STRING)
        return super().to_internal_value(data)


class FiniteFloatField(serializers.FloatField):
    """A FloatField that refuses NaN and infinities."""

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError(NOT_FINITE)
        return value


# --- inputs ----------------------------------------------------------------------------


class RunsQuerySerializer(serializers.Serializer):
    limit = AsciiIntegerField(
        min_value=1, max_value=MAX_RUNS_LIMIT, default=DEFAULT_RUNS_LIMIT, required=False
    )


class RunsDeleteSerializer(serializers.Serializer):
    run_ids = serializers.JSONField(help_text="List of run ids (strings) to delete.")

    def validate_run_ids(self, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise serializers.ValidationError(RUN_IDS_NOT_LIST)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise serializers.ValidationError(RUN_ID_NOT_STRING.format(index=index))
            if "\x00" in item:
                raise serializers.ValidationError(RUN_ID_NUL.format(index=index))
        return list(dict.fromkeys(value))


class SymbolQuerySerializer(serializers.Serializer):
    symbol = StrictCharField(required=False, allow_blank=False)


class TradeChartQuerySerializer(serializers.Serializer):
    symbol = StrictCharField()
    start_ns = AsciiIntegerField(min_value=0, max_value=MAX_NS, help_text="UTC ns")
    end_ns = AsciiIntegerField(min_value=0, max_value=MAX_NS, help_text="UTC ns")
    direction = serializers.ChoiceField(choices=["LONG", "SHORT"])
    pnl = FiniteFloatField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end_ns"] < attrs["start_ns"]:
            raise serializers.ValidationError({"end_ns": END_BEFORE_START})
        return attrs


class BacktestNameSerializer(serializers.Serializer):
    name = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_NAME_LENGTH
    )


class BacktestRunRequestSerializer(serializers.Serializer):
    """Documents the body; the values are validated by ``backtest_spec_build``."""

    strategy = serializers.CharField()
    strategy_params = serializers.DictField(required=False)
    symbols = serializers.ListField(child=serializers.CharField())
    rtype = serializers.IntegerField()
    publisher_id = serializers.IntegerField()
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)
    record = serializers.ChoiceField(choices=list(RECORD_LEVELS), required=False)
    commission_per_unit = serializers.FloatField(required=False)
    minimum_commission = serializers.FloatField(required=False)
    fill_timing = serializers.ChoiceField(choices=list(FILL_TIMINGS), required=False)
    name = serializers.CharField(required=False, allow_null=True, max_length=MAX_NAME_LENGTH)


# --- outputs ---------------------------------------------------------------------------


DIRECTIONS = ["LONG", "SHORT"]
# Several answers have a "status" of runs; plain strings, so the schema needs no enum names.
RUN_STATUSES = "One of " + ", ".join(RunStatus.values)


class RunAccessSerializer(serializers.Serializer):
    owner = serializers.CharField(
        allow_null=True, help_text="Username of who started it; null for scripts, older runs"
    )
    can_cancel = serializers.BooleanField(
        help_text="You may cancel it: yours, or you hold backtests.cancel_run"
    )
    can_delete = serializers.BooleanField(
        help_text="You may delete it: yours, or you hold backtests.delete_run"
    )


class RunSerializer(RunAccessSerializer):
    run_id = serializers.CharField()
    name = serializers.CharField()
    ts_start = serializers.IntegerField(help_text="UTC ns")
    ts_end = serializers.IntegerField(allow_null=True, help_text="UTC ns")
    status = serializers.CharField(help_text=RUN_STATUSES)
    config = serializers.JSONField(allow_null=True)
    metadata = serializers.JSONField(allow_null=True)
    progress = serializers.FloatField(help_text="0-100")


class RunListSerializer(serializers.Serializer):
    runs = RunSerializer(many=True)


class RunsDeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class RoundtripSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    direction = serializers.ChoiceField(choices=DIRECTIONS)
    duration_bars = serializers.IntegerField()
    max_position = serializers.FloatField()
    high_watermark = serializers.FloatField()
    low_watermark = serializers.FloatField()
    max_drawdown = serializers.FloatField()
    pnl_before_commission = serializers.FloatField()
    pnl_after_commission = serializers.FloatField()
    entry_ts = serializers.IntegerField(help_text="UTC ns")
    exit_ts = serializers.IntegerField(help_text="UTC ns")
    quantity = serializers.FloatField()
    entry_price = serializers.FloatField(help_text="Average entry price")
    exit_price = serializers.FloatField(help_text="Average exit price")
    commission = serializers.FloatField()
    n_fills = serializers.IntegerField()


class RoundtripListSerializer(serializers.Serializer):
    roundtrips = RoundtripSerializer(many=True)


class CoreMetricsSerializer(serializers.Serializer):
    """Metrics of a set of closed round trips; undefined ratios are null."""

    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    win_rate = serializers.FloatField(help_text="0-1")
    net_pnl = serializers.FloatField()
    gross_pnl = serializers.FloatField()
    commission = serializers.FloatField()
    avg_win = serializers.FloatField()
    avg_loss = serializers.FloatField()
    largest_win = serializers.FloatField()
    largest_loss = serializers.FloatField()
    profit_factor = serializers.FloatField(allow_null=True, help_text="Null without losses")
    expectancy = serializers.FloatField()
    max_drawdown = serializers.FloatField()
    sharpe = serializers.FloatField(
        allow_null=True, help_text="Daily, annualised; null with fewer than two days"
    )
    avg_duration_bars = serializers.FloatField()
    avg_duration_seconds = serializers.FloatField()


class MetricsSerializer(CoreMetricsSerializer):
    open_trades = serializers.IntegerField(help_text="Positions still open at the end")
    per_symbol = serializers.DictField(
        child=CoreMetricsSerializer(), help_text="Symbol -> its metrics (traded symbols only)"
    )


class RunSymbolsSerializer(serializers.Serializer):
    symbols = serializers.ListField(child=serializers.CharField(), help_text="From the config")
    traded = serializers.ListField(
        child=serializers.CharField(), help_text="Symbols with at least one fill"
    )


class StrategyItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class StrategyNotLoadedSerializer(serializers.Serializer):
    file = serializers.CharField(help_text="User strategy or indicator file")
    error = serializers.CharField(help_text="What its import raised, e.g. 'NameError: ...'")
    strategies = serializers.ListField(
        child=serializers.CharField(), help_text="Strategy ids it defined when it last loaded"
    )


class StrategyListSerializer(serializers.Serializer):
    strategies = StrategyItemSerializer(many=True)
    not_loaded = StrategyNotLoadedSerializer(many=True)


class ParamSchemaSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    default = serializers.JSONField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    step = serializers.FloatField(allow_null=True)
    choices = serializers.ListField(child=serializers.JSONField(), allow_null=True)


class StrategySchemaSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    parameters = ParamSchemaSerializer(many=True)
    constraints = serializers.ListField(
        child=serializers.CharField(),
        help_text="Rules between parameters, e.g. 'fast_period < slow_period'",
    )


class BacktestSubmittedSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField(help_text='Always "queued"')


class BacktestStatusSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField(help_text=RUN_STATUSES)
    progress = serializers.FloatField(help_text="0-100")
    error = serializers.CharField(required=False, help_text="Failed runs only")


class RunningRunSerializer(RunAccessSerializer):
    run_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField(
        help_text='"queued", "running" or "cancelling" (its worker has not stopped yet)'
    )
    progress = serializers.FloatField()
    ts_start = serializers.IntegerField()
    config = serializers.JSONField(allow_null=True)


class RunningListSerializer(serializers.Serializer):
    runs = RunningRunSerializer(many=True)


class BacktestCancelledSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField(
        help_text='"cancelled" (it was queued) or "cancelling" (running: its worker stops '
        'within about a second, then the run is "cancelled")'
    )
