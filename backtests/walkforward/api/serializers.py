"""Input validation and output shapes of the walk-forward API.

The request is validated by ``walkforward_definition_build`` (every field named in the
400, windows refused with their dates); the create serializer documents it in the OpenAPI
schema: a study's fields plus the window options.
"""

from __future__ import annotations

from rest_framework import serializers

from backtests.studies.api.serializers import StudyCreateSerializer
from backtests.walkforward.models import WalkForwardStatus, WindowStatus
from backtests.walkforward.windows import MAX_DAYS, MODES

MAX_LIST_LIMIT = 1000
STATUSES = "queued, running, completed, failed or cancelled"
WINDOW_STATUSES = "in_sample, out_of_sample, complete, failed or cancelled"


class WalkForwardCreateSerializer(StudyCreateSerializer):
    """A study (its data, space and objective) plus its windows, in trading days."""

    mode = serializers.ChoiceField(
        choices=list(MODES),
        required=False,
        help_text="rolling (fixed in-sample length, default) or anchored (grows from the start)",
    )
    in_sample_days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS)
    out_of_sample_days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS)
    step_days = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DAYS,
        required=False,
        allow_null=True,
        help_text="Default: out_of_sample_days (a shorter step would overlap them)",
    )


class WalkForwardCreatedSerializer(serializers.Serializer):
    walkforward_id = serializers.CharField()
    status = serializers.CharField(help_text=STATUSES)
    windows = serializers.IntegerField(help_text="How many windows were laid")


class WalkForwardsQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIST_LIMIT, default=50)
    status = serializers.ChoiceField(
        choices=WalkForwardStatus.values, required=False, help_text=STATUSES
    )


class WalkForwardsDeleteSerializer(serializers.Serializer):
    walkforward_ids = serializers.JSONField(help_text="List of walk-forward ids to delete.")

    def validate_walkforward_ids(self, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError(
                "walkforward_ids must be a list of walk-forward id strings"
            )
        return value


class WalkForwardsDeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class WalkForwardProgressSerializer(serializers.Serializer):
    windows_done = serializers.IntegerField(help_text="Windows complete or failed")
    windows_total = serializers.IntegerField()
    windows_by_status = serializers.DictField(child=serializers.IntegerField())
    trials_done = serializers.IntegerField(help_text="Trials run over the windows' studies")
    trials_total = serializers.IntegerField()
    percent = serializers.FloatField(help_text="Of the trials")


class WalkForwardSerializer(serializers.Serializer):
    walkforward_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField(help_text=STATUSES)
    owner = serializers.CharField(allow_null=True)
    can_cancel = serializers.BooleanField(required=False)
    can_delete = serializers.BooleanField(required=False)
    strategy = serializers.CharField()
    symbols = serializers.ListField(child=serializers.CharField())
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True)
    mode = serializers.CharField()
    in_sample_days = serializers.IntegerField()
    out_of_sample_days = serializers.IntegerField()
    step_days = serializers.IntegerField()
    objective = serializers.CharField()
    direction = serializers.CharField()
    ts_created = serializers.IntegerField()
    ts_end = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    progress = WalkForwardProgressSerializer()
    verdict = serializers.CharField(allow_null=True)
    efficiency = serializers.FloatField(
        allow_null=True, help_text="Overall walk-forward efficiency, once finished"
    )


class WalkForwardListSerializer(serializers.Serializer):
    walkforwards = WalkForwardSerializer(many=True)


class WindowSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    number = serializers.IntegerField(help_text="index + 1")
    status = serializers.CharField(help_text=WINDOW_STATUSES)
    is_start = serializers.DateField()
    is_end = serializers.DateField()
    oos_start = serializers.DateField()
    oos_end = serializers.DateField()
    warmup_start = serializers.DateField(help_text="First day the out-of-sample run reads")
    study_id = serializers.CharField(allow_null=True, help_text="The in-sample study")
    study_status = serializers.CharField(allow_null=True)
    best_trial = serializers.IntegerField(allow_null=True)
    params = serializers.DictField(allow_null=True, help_text="The chosen point")
    is_value = serializers.FloatField(allow_null=True, help_text="Its in-sample objective")
    is_annual_return = serializers.FloatField(allow_null=True)
    oos_annual_return = serializers.FloatField(allow_null=True)
    efficiency = serializers.FloatField(allow_null=True)
    is_annual_return_pct = serializers.FloatField(allow_null=True)
    oos_annual_return_pct = serializers.FloatField(allow_null=True)
    oos_net_pnl = serializers.FloatField(allow_null=True)
    oos_total_return_pct = serializers.FloatField(allow_null=True)
    oos_trades = serializers.IntegerField(allow_null=True)
    oos_max_drawdown_pct = serializers.FloatField(allow_null=True)
    error = serializers.CharField()


class StitchedSerializer(serializers.Serializer):
    days = serializers.ListField(child=serializers.IntegerField(), help_text="UTC day numbers")
    dates = serializers.ListField(child=serializers.DateField())
    equity = serializers.ListField(child=serializers.FloatField())
    benchmark = serializers.ListField(child=serializers.FloatField(), help_text="Buy and hold")


class WalkForwardDetailSerializer(WalkForwardSerializer):
    config = serializers.DictField()
    definition = serializers.DictField(help_text="The study fields of every window")
    windows = WindowSerializer(many=True)
    stitched = StitchedSerializer(allow_null=True)
    metrics = serializers.DictField(allow_null=True, help_text="Of the stitched OOS returns")
    parameters = serializers.DictField(help_text="Parameter -> its chosen value per window")
    psr = serializers.DictField(allow_null=True, help_text="PSR against 0 and its inputs")
    mean_pbo = serializers.FloatField(allow_null=True)
    is_annual_return_mean = serializers.FloatField(allow_null=True)
    oos_annual_return = serializers.FloatField(allow_null=True)


class WalkForwardStateSerializer(serializers.Serializer):
    walkforward_id = serializers.CharField()
    status = serializers.CharField(help_text=STATUSES)


_ = WindowStatus
