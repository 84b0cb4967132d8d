"""Input validation and output shapes of the backtests API (shapes as in the seed docs)."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from backtests.api.examples import STATIC_EXAMPLE
from backtests.charts.bar_windows import MAX_WINDOW_BARS, ONE_ANCHOR, POSITIONS
from backtests.engine.fill_model import FILL_MODELS
from backtests.models import RunStatus
from backtests.results.models import ROUNDTRIP_SORTS
from backtests.services import fill_spec
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
MAX_ROUNDTRIPS_PAGE = 1000


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


class BarWindowQuerySerializer(serializers.Serializer):
    symbol = StrictCharField(help_text="One of the run's symbols")
    bars = serializers.IntegerField(
        min_value=1, max_value=MAX_WINDOW_BARS, default=120, help_text="Bars in the window"
    )
    start_ns = serializers.IntegerField(
        min_value=0,
        max_value=MAX_NS,
        required=False,
        help_text="Start at the first bar at or after it",
    )
    end_ns = serializers.IntegerField(
        min_value=0, max_value=MAX_NS, required=False, help_text="End at the last bar at or before"
    )
    position = serializers.ChoiceField(
        choices=list(POSITIONS), required=False, help_text="The first or last window of the data"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [key for key in ("start_ns", "end_ns", "position") if key in attrs]
        if len(given) > 1:
            raise serializers.ValidationError({given[1]: ONE_ANCHOR})
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
    fill_model = serializers.ChoiceField(
        choices=list(FILL_MODELS),
        required=False,
        help_text="classic (default: OneSecondTrader 0.75's fills), strict or intrabar",
    )
    slippage_ticks = serializers.FloatField(
        required=False, min_value=0, max_value=fill_spec.MAX_SLIPPAGE_TICKS
    )
    slippage_bps = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=fill_spec.MAX_SLIPPAGE_BPS,
        help_text="basis points; not together with slippage_ticks",
    )
    tick_size = serializers.FloatField(
        required=False, allow_null=True, help_text="> 0; null: each symbol's from its prices"
    )
    participation_cap = serializers.FloatField(
        required=False,
        allow_null=True,
        max_value=1,
        help_text="share of a bar's volume an order may take, > 0 and <= 1; null: no cap",
    )
    latency_ms = serializers.FloatField(
        required=False, min_value=0, max_value=fill_spec.MAX_LATENCY_MS
    )
    capital = serializers.FloatField(
        required=False, help_text="Starting capital in the quote currency (default 100,000)"
    )
    risk_free_rate = serializers.FloatField(
        required=False,
        help_text="Annual risk-free rate for Sharpe and Sortino, a fraction (default 0)",
    )
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
    started_ns = serializers.IntegerField(
        allow_null=True, help_text="When a worker started executing it, UTC ns (null while queued)"
    )
    status = serializers.CharField(help_text=RUN_STATUSES)
    config = serializers.JSONField(allow_null=True)
    metadata = serializers.JSONField(allow_null=True)
    progress = serializers.FloatField(help_text="0-100")


class RunListSerializer(serializers.Serializer):
    runs = RunSerializer(many=True)


class RunsDeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()


class RoundtripSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="Trade number in the run, by entry time")
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
    count = serializers.IntegerField(help_text="Round trips of the selection, all pages")


class RoundtripsQuerySerializer(serializers.Serializer):
    symbol = StrictCharField(required=False, allow_blank=False)
    sort = serializers.ChoiceField(
        choices=list(ROUNDTRIP_SORTS),
        required=False,
        help_text="Column to sort by (default: symbol, then entry time, as the original)",
    )
    order = serializers.ChoiceField(choices=["asc", "desc"], default="asc", required=False)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_NS, default=0, required=False)
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ROUNDTRIPS_PAGE,
        required=False,
        help_text="A page of at most this many (default: all of them)",
    )


def _nullable(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class TradeStatisticsSerializer(serializers.Serializer):
    """Statistics of closed round trips; undefined values are null, never 0."""

    trades = serializers.IntegerField(help_text="Closed round trips")
    wins = serializers.IntegerField(help_text="Round trips with P&L after commission > 0")
    losses = serializers.IntegerField(help_text="Round trips with P&L after commission < 0")
    win_rate = _nullable("0-1; null without trades")
    avg_win = _nullable("Null without wins")
    avg_loss = _nullable("Negative; null without losses")
    largest_win = _nullable("Null without wins")
    largest_loss = _nullable("Null without losses")
    profit_factor = _nullable("Sum of wins / |sum of losses|; null without losses")
    expectancy = _nullable("Net P&L per closed trade; null without trades")
    avg_duration_bars = _nullable("Null without trades")
    avg_duration_seconds = _nullable("Null without trades")
    open_trades = serializers.IntegerField(help_text="Positions still open at the end")


class SymbolMetricsSerializer(TradeStatisticsSerializer):
    """One symbol's share of the account and its trade statistics."""

    net_pnl = serializers.FloatField(help_text="Realised + open, after commissions")
    realised_pnl = serializers.FloatField(help_text="After all of the symbol's commissions")
    open_pnl = serializers.FloatField(help_text="Open position at its last close")
    gross_pnl = serializers.FloatField(help_text="Net + commission")
    commission = serializers.FloatField()
    max_drawdown = serializers.FloatField(help_text="Of the symbol's marked-to-market P&L, >= 0")
    exposure_pct = _nullable("Share of the symbol's bars with a position, %")
    bars = serializers.IntegerField(required=False)
    symbol = serializers.CharField(required=False, help_text="With ?symbol= only")


def _account(help_text: str, *, nullable: bool = False) -> serializers.FloatField:
    return serializers.FloatField(required=False, allow_null=nullable, help_text=help_text)


class MetricsSerializer(SymbolMetricsSerializer):
    """The run's metrics (the account fields are absent with ?symbol=, which answers that
    symbol's block of ``per_symbol``)."""

    capital = _account("Starting capital")
    final_equity = _account("Equity at the last bar")
    total_return_pct = _account("Net P&L / capital, %")
    cagr_pct = _account("Compound annual growth, %; null under 20 trading days", nullable=True)
    volatility_pct = _account("Annualised volatility of daily returns, %", nullable=True)
    sharpe = _account("Annualised, daily returns; null under 20 trading days", nullable=True)
    sortino = _account("Annualised, daily returns; null under 20 trading days", nullable=True)
    calmar = _account("CAGR / max drawdown", nullable=True)
    beta = _account("Against the buy-and-hold benchmark", nullable=True)
    correlation = _account("Against the buy-and-hold benchmark", nullable=True)
    max_drawdown_pct = _account("Of the running equity peak, %")
    max_drawdown_duration_days = _account("Longest time from a peak to its recovery, days")
    turnover = _account("Traded notional / average daily equity", nullable=True)
    max_leverage = _account("Largest gross exposure / equity", nullable=True)
    benchmark_return_pct = _account("Buy-and-hold of the run's symbols, equal parts, %")
    excess_return_pct = _account("(Equity - benchmark) / capital, %")
    trading_days = serializers.IntegerField(required=False)
    risk_free_rate = _account("Annual rate used for Sharpe and Sortino")
    per_symbol = serializers.DictField(
        child=SymbolMetricsSerializer(),
        required=False,
        help_text="Symbol -> its metrics (traded symbols only)",
    )
    notes = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="Metric -> why it is null",
    )
    warnings = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="What to distrust"
    )


class BarWindowSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    bars = serializers.IntegerField(help_text="Bars in the window (fewer at the data's ends)")
    start_ns = serializers.IntegerField(allow_null=True, help_text="The window's first bar")
    end_ns = serializers.IntegerField(allow_null=True, help_text="The window's last bar")
    previous_end_ns = serializers.IntegerField(
        allow_null=True, help_text="The bar before the window (the previous window ends there)"
    )
    next_start_ns = serializers.IntegerField(
        allow_null=True, help_text="The bar after the window (the next window starts there)"
    )
    data_start_ns = serializers.IntegerField(allow_null=True, help_text="The symbol's first bar")
    data_end_ns = serializers.IntegerField(allow_null=True, help_text="The symbol's last bar")


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


NOTES_HELP = "What validation changed, e.g. dates beyond the data narrowed to it"


class BacktestSubmittedSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField(help_text='Always "queued"')
    notes = serializers.ListField(
        child=serializers.CharField(), required=False, help_text=NOTES_HELP + " (only then)"
    )


class BacktestValidatedSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Always true (an invalid request answers 400)")
    name = serializers.CharField(help_text="The run's name: the one given, or the default")
    config = serializers.JSONField(help_text="The run's config as it would be stored")
    notes = serializers.ListField(child=serializers.CharField(), help_text=NOTES_HELP)


BACKTEST_REQUEST_EXAMPLE = OpenApiExample(
    "SMA crossover on two symbols", value=STATIC_EXAMPLE, request_only=True
)


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
    started_ns = serializers.IntegerField(allow_null=True, help_text="UTC ns; null while queued")
    config = serializers.JSONField(allow_null=True)


class RunningListSerializer(serializers.Serializer):
    runs = RunningRunSerializer(many=True)


class BacktestCancelledSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField(
        help_text='"cancelled" (it was queued) or "cancelling" (running: its worker stops '
        'within about a second, then the run is "cancelled")'
    )
