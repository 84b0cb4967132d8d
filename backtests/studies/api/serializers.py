"""Input validation and output shapes of the studies API.

The study request is validated by ``study_definition_build`` (every field named in the 400);
the serializer below only documents it in the OpenAPI schema and checks JSON types, so a
wrongly typed field is refused before the service runs.
"""

from __future__ import annotations

from rest_framework import serializers

from backtests.api.serializers import MAX_NAME_LENGTH, StrictCharField
from backtests.services.backtest_spec import FILL_TIMINGS
from backtests.studies.charts import AGGREGATES
from backtests.studies.definition import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    MAX_PBO_SPLITS,
    MAX_SEED,
    MAX_TIME_LIMIT_SECONDS,
    OBJECTIVES,
)
from backtests.studies.models import StudyStatus, TrialStatus
from backtests.studies.sampling import SAMPLERS

MAX_STUDIES_LIMIT = 1000
MAX_TRIALS_PAGE = 1000
MAX_OFFSET = 10**9
STUDY_IDS_NOT_LIST = "study_ids must be a list of study id strings"


class SpaceEntrySerializer(serializers.Serializer):
    """One parameter's search: give ``value``, ``values``, ``min``/``max``/``step`` or
    ``choices`` (ranges default to the parameter's limits and step)."""

    value = serializers.JSONField(required=False, help_text="Fixed at this value")
    values = serializers.ListField(child=serializers.JSONField(), required=False)
    min = serializers.FloatField(required=False, allow_null=True)
    max = serializers.FloatField(required=False, allow_null=True)
    step = serializers.FloatField(required=False, allow_null=True)
    choices = serializers.ListField(child=serializers.JSONField(), required=False)


class StudyCreateSerializer(serializers.Serializer):
    """A backtest's data fields plus the search (the parameters given in ``strategy_params``
    are fixed; those named in ``space`` are searched). Documents the body; the values are
    validated by ``study_definition_build``, which names every wrong field."""

    strategy = serializers.CharField()
    strategy_params = serializers.DictField(required=False, help_text="Fixed parameters")
    symbols = serializers.ListField(child=serializers.CharField())
    rtype = serializers.IntegerField()
    publisher_id = serializers.IntegerField()
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)
    commission_per_unit = serializers.FloatField(required=False)
    minimum_commission = serializers.FloatField(required=False)
    fill_timing = serializers.ChoiceField(choices=list(FILL_TIMINGS), required=False)
    capital = serializers.FloatField(required=False)
    risk_free_rate = serializers.FloatField(required=False)
    name = serializers.CharField(required=False, allow_null=True, max_length=MAX_NAME_LENGTH)

    space = serializers.DictField(
        child=SpaceEntrySerializer(), help_text="Parameter name -> its search"
    )
    constraints = serializers.ListField(
        child=StrictCharField(), required=False, help_text="e.g. 'fast_period < slow_period'"
    )
    sampler = serializers.ChoiceField(
        choices=list(SAMPLERS),
        required=False,
        help_text="Default: grid when every searched parameter is discrete, else tpe",
    )
    objective = serializers.ChoiceField(choices=list(OBJECTIVES), required=False)
    direction = StrictCharField(
        required=False, help_text="maximize or minimize (default: per metric)"
    )
    min_trades = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    n_trials = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="Default: the grid's size"
    )
    time_limit_seconds = serializers.FloatField(
        min_value=0, max_value=MAX_TIME_LIMIT_SECONDS, required=False, allow_null=True
    )
    seed = serializers.IntegerField(
        min_value=0, max_value=MAX_SEED, required=False, allow_null=True
    )
    batch_size = serializers.IntegerField(
        min_value=1, max_value=MAX_BATCH_SIZE, required=False, default=DEFAULT_BATCH_SIZE
    )
    pbo_splits = serializers.IntegerField(min_value=2, max_value=MAX_PBO_SPLITS, required=False)


STUDY_STATUSES = "One of " + ", ".join(StudyStatus.values)
TRIAL_STATUSES = "One of " + ", ".join(TrialStatus.values)


class StudyCreatedSerializer(serializers.Serializer):
    study_id = serializers.CharField()
    status = serializers.CharField(help_text=STUDY_STATUSES)


class StudiesQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_STUDIES_LIMIT, default=50)
    status = serializers.ChoiceField(
        choices=StudyStatus.values, required=False, help_text=STUDY_STATUSES
    )


class StudiesDeleteSerializer(serializers.Serializer):
    study_ids = serializers.JSONField(help_text="List of study ids (strings) to delete.")

    def validate_study_ids(self, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError(STUDY_IDS_NOT_LIST)
        if any("\x00" in v for v in value):
            raise serializers.ValidationError(STUDY_IDS_NOT_LIST)
        return list(dict.fromkeys(value))


class StudiesDeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class ExtendSerializer(serializers.Serializer):
    n_trials = serializers.IntegerField(min_value=1, help_text="How many more trials to run")


class TrialsQuerySerializer(serializers.Serializer):
    sort = StrictCharField(
        required=False,
        default="number",
        help_text="number, value, status, seconds, batch, param.NAME or metric.NAME",
    )
    order = serializers.ChoiceField(choices=["asc", "desc"], default="asc")
    status = serializers.ChoiceField(
        choices=TrialStatus.values, required=False, help_text=TRIAL_STATUSES
    )
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_TRIALS_PAGE, default=50)


class OverfittingQuerySerializer(serializers.Serializer):
    pbo_splits = serializers.IntegerField(
        min_value=2, max_value=MAX_PBO_SPLITS, required=False, help_text="Even; default the study's"
    )


class HeatmapQuerySerializer(serializers.Serializer):
    x = StrictCharField(help_text="A searched parameter")
    y = StrictCharField(help_text="Another searched parameter")
    metric = serializers.ChoiceField(choices=list(OBJECTIVES), required=False)
    aggregate = serializers.ChoiceField(choices=list(AGGREGATES), default="best")


class SensitivityQuerySerializer(serializers.Serializer):
    param = StrictCharField(help_text="A searched parameter")
    metric = serializers.ChoiceField(choices=list(OBJECTIVES), required=False)


# --- outputs (documentation) -------------------------------------------------------------


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Trials that ran (complete, infeasible, failed)")
    total = serializers.IntegerField(help_text="The budget")
    percent = serializers.FloatField()
    complete = serializers.IntegerField()
    infeasible = serializers.IntegerField()
    failed = serializers.IntegerField()
    running = serializers.IntegerField()
    waiting = serializers.IntegerField()
    elapsed_seconds = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True, help_text="Null unless running")


class TrialSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField(help_text=TRIAL_STATUSES)
    params = serializers.DictField(help_text="Values of the searched parameters")
    value = serializers.FloatField(allow_null=True, help_text="The objective")
    metrics = serializers.DictField(allow_null=True, help_text="The run metrics of the trial")
    reason = serializers.CharField(help_text="Why infeasible, or the error; empty otherwise")
    seconds = serializers.FloatField(allow_null=True)
    batch = serializers.IntegerField()
    run_id = serializers.CharField(allow_null=True, help_text="The full run opened from it")


class TrialDetailSerializer(TrialSerializer):
    traceback = serializers.CharField()
    worker = serializers.CharField()
    engine_seconds = serializers.FloatField(allow_null=True)
    bars = serializers.IntegerField(allow_null=True)


class StudySerializer(serializers.Serializer):
    study_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField(help_text=STUDY_STATUSES)
    owner = serializers.CharField(allow_null=True)
    can_cancel = serializers.BooleanField(
        required=False, help_text="Whether you may cancel, resume or extend it"
    )
    can_delete = serializers.BooleanField(required=False, help_text="Whether you may delete it")
    strategy = serializers.CharField()
    symbols = serializers.ListField(child=serializers.CharField())
    rtype = serializers.IntegerField(allow_null=True)
    start_date = serializers.CharField(allow_null=True)
    end_date = serializers.CharField(allow_null=True)
    sampler = serializers.CharField(help_text="grid, random, tpe or cmaes")
    objective = serializers.CharField()
    direction = serializers.CharField(help_text="maximize or minimize")
    min_trades = serializers.IntegerField(allow_null=True)
    n_trials = serializers.IntegerField()
    time_limit_seconds = serializers.FloatField(allow_null=True)
    seed = serializers.IntegerField()
    batch_size = serializers.IntegerField()
    pbo_splits = serializers.IntegerField()
    grid_size = serializers.IntegerField(allow_null=True)
    ts_created = serializers.IntegerField()
    ts_started = serializers.IntegerField(allow_null=True)
    ts_end = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    error = serializers.CharField()
    progress = ProgressSerializer()
    best = TrialSerializer(allow_null=True)


class StudyListSerializer(serializers.Serializer):
    studies = StudySerializer(many=True)


class OverfittingSerializer(serializers.Serializer):
    """The overfitting statistics of the study's best trial (see README)."""

    n_trials = serializers.IntegerField(help_text="Trials that ran (N of the DSR)")
    n_with_returns = serializers.IntegerField()
    n_days = serializers.IntegerField()
    best_trial = serializers.IntegerField(allow_null=True)
    pbo_splits = serializers.IntegerField()
    dsr = serializers.DictField(allow_null=True, help_text="DSR, PSR inputs, SR0, MinTRL")
    pbo = serializers.DictField(allow_null=True, help_text="PBO, median logit, P(loss)...")
    unavailable = serializers.DictField(
        child=serializers.CharField(), help_text="dsr/pbo -> why it could not be computed"
    )
    verdict = serializers.CharField(help_text="In plain words, with the numbers")


class StudyDetailSerializer(StudySerializer):
    config = serializers.DictField()
    space = serializers.DictField()
    constraints = serializers.ListField(child=serializers.CharField())
    searched = serializers.ListField(child=serializers.CharField())
    overfitting = OverfittingSerializer(allow_null=True)
    verdict = serializers.CharField(allow_null=True)


class TrialListSerializer(serializers.Serializer):
    trials = TrialSerializer(many=True)
    count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    sort = serializers.CharField()
    order = serializers.CharField()


class TrialRunSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField()


class StudyStateSerializer(serializers.Serializer):
    study_id = serializers.CharField()
    status = serializers.CharField(help_text=STUDY_STATUSES)
    n_trials = serializers.IntegerField()
