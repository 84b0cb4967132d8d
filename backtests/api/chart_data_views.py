"""The interactive charts' data as JSON columns: a window of one symbol's bars with the run's
indicators and fills (``chart-data``), and the run's equity curve (``equity``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests.api import serializers as s
from backtests.api.views import (
    RUN_ACTIVE_RESPONSE,
    RUN_ERRORS,
    RUN_ID_PARAM,
    SYMBOL_PARAM,
    run_and_symbol,
    validated,
)
from backtests.charts.columns import MAX_CHART_BARS, MAX_CONTEXT_BARS
from ostsite.api_fields import AsciiIntegerField
from ostsite.api_schema import error_response

CHART_DATA_400 = (
    f"Invalid input, or a window of more than {MAX_CHART_BARS:,} bars (the message says the "
    "limit); `fields` names each wrong field."
)


class ChartDataQuerySerializer(serializers.Serializer):
    symbol = s.StrictCharField(help_text="One of the run's symbols")
    start_ns = AsciiIntegerField(
        min_value=0, max_value=s.MAX_NS, help_text="UTC ns: the window's first bar at or after it"
    )
    end_ns = AsciiIntegerField(
        min_value=0, max_value=s.MAX_NS, help_text="UTC ns: its last bar at or before it"
    )
    context = AsciiIntegerField(
        min_value=0,
        max_value=MAX_CONTEXT_BARS,
        default=0,
        required=False,
        help_text="Bars to add before and after the window (a trade's surroundings)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end_ns"] < attrs["start_ns"]:
            raise serializers.ValidationError({"end_ns": s.END_BEFORE_START})
        return attrs


def _numbers(help_text: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.FloatField(allow_null=True), help_text=help_text)


class BarColumnsSerializer(serializers.Serializer):
    time = serializers.ListField(
        child=serializers.IntegerField(), help_text="Each bar's start, UTC seconds, ascending"
    )
    open = _numbers("One per bar")
    high = _numbers("One per bar")
    low = _numbers("One per bar")
    close = _numbers("One per bar")


class IndicatorColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    placement = serializers.ChoiceField(
        choices=["overlay", "panel"], help_text="overlay: on the price pane; panel: its own pane"
    )
    color = serializers.CharField(allow_null=True, help_text="CSS colour, or null: any")
    style = serializers.ChoiceField(choices=["line", "dashed", "dots"])
    values = _numbers("One per bar; null while the indicator has no value")


class FillColumnsSerializer(serializers.Serializer):
    time = serializers.ListField(
        child=serializers.FloatField(), help_text="UTC seconds (with milliseconds)"
    )
    side = serializers.ListField(child=serializers.ChoiceField(choices=["BUY", "SELL"]))
    price = serializers.ListField(child=serializers.FloatField())
    qty = serializers.ListField(child=serializers.FloatField())


class ChartDataSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    symbol = serializers.CharField()
    bar_period = serializers.CharField(allow_null=True, help_text="SECOND, MINUTE, HOUR or DAY")
    source = serializers.ChoiceField(
        choices=["recorded", "secmaster"],
        help_text="The run's recorded bars, or the security master's (a trades-only run)",
    )
    start_ns = serializers.IntegerField()
    end_ns = serializers.IntegerField()
    max_bars = serializers.IntegerField(help_text="The most bars a window may hold")
    count = serializers.IntegerField(help_text="Bars returned, context included")
    bars = BarColumnsSerializer()
    indicators = IndicatorColumnSerializer(many=True)
    fills = FillColumnsSerializer()


class EquityColumnsSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    symbol = serializers.CharField(allow_null=True, help_text="Null: the whole account")
    capital = serializers.FloatField()
    time = serializers.ListField(child=serializers.IntegerField(), help_text="UTC seconds")
    equity = _numbers("Account value at the end of each point")
    low = _numbers("Lowest value within each point")
    high = _numbers("Highest value within each point")
    drawdown = _numbers("Fall from the running peak (<= 0), in money")


class ChartDataView(APIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM, ChartDataQuerySerializer],
        responses={
            200: ChartDataSerializer,
            **RUN_ERRORS,
            400: error_response(400, CHART_DATA_400),
        },
        operation_id="run_chart_data",
        summary="Bars, indicators and fills of one symbol in a window, as columns",
    )
    def get(self, request: Request, run_id: str) -> Response:
        """Every bar of the window (at most ``max_bars``; a larger window is refused with
        400, never thinned), each indicator with its drawing hints, every fill."""
        from backtests.charts.columns import chart_columns_get

        query = validated(ChartDataQuerySerializer, request.query_params)
        return Response(chart_columns_get(run_id=run_id, **query))


class EquityDataView(APIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM, SYMBOL_PARAM],
        responses={200: EquityColumnsSerializer, **RUN_ERRORS, 409: RUN_ACTIVE_RESPONSE},
        operation_id="run_equity",
        summary="Equity curve of the run (or one symbol's P&L account), as columns",
    )
    def get(self, request: Request, run_id: str) -> Response:
        from backtests.charts.columns import equity_columns_get

        run, symbol = run_and_symbol(request, run_id)
        return Response(equity_columns_get(run_id=run.run_id, symbol=symbol))
