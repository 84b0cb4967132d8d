"""PNG charts of a run. Success: image/png bytes; errors: the JSON error format."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests.api import serializers as s
from backtests.api.negotiation import FirstRendererNegotiation
from backtests.api.views import (
    RUN_ERRORS,
    RUN_ID_PARAM,
    SYMBOL_PARAM,
    run_and_symbol,
    run_get,
    run_symbol_check,
    validated,
)
from ostsite.errors import Conflict

PNG_RESPONSES: dict[Any, Any] = {
    (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="A PNG image."),
    **RUN_ERRORS,
}


def png_response(image: bytes) -> HttpResponse:
    response = HttpResponse(image, content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response


class PNGView(APIView):
    """Negotiation never answers 406: images ignore Accept, errors are always JSON."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation


class TradeChartView(PNGView):
    @extend_schema(
        parameters=[RUN_ID_PARAM, s.TradeChartQuerySerializer],
        responses=PNG_RESPONSES,
        operation_id="run_trade_chart_png",
        summary="Price chart of one round trip",
    )
    def get(self, request: Request, run_id: str) -> HttpResponse:
        from backtests.charts import trade_chart_png

        run = run_get(run_id)
        query = validated(s.TradeChartQuerySerializer, request.query_params)
        symbol = run_symbol_check(run, query["symbol"])
        image = trade_chart_png(
            run.run_id,
            symbol=symbol,
            start_ns=query["start_ns"],
            end_ns=query["end_ns"],
            direction=query["direction"],
            pnl=query["pnl"],
        )
        return png_response(image)


class WindowChartQuerySerializer(serializers.Serializer):
    symbol = s.StrictCharField()
    start_ns = serializers.IntegerField(min_value=0, max_value=s.MAX_NS, help_text="UTC ns")
    end_ns = serializers.IntegerField(
        min_value=0, max_value=s.MAX_NS, help_text="UTC ns, inclusive"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end_ns"] < attrs["start_ns"]:
            raise serializers.ValidationError({"end_ns": s.END_BEFORE_START})
        return attrs


class WindowChartView(PNGView):
    @extend_schema(
        parameters=[RUN_ID_PARAM, WindowChartQuerySerializer],
        responses=PNG_RESPONSES,
        operation_id="run_window_chart_png",
        summary="Bars, indicators and fills of one symbol in a time window",
    )
    def get(self, request: Request, run_id: str) -> HttpResponse:
        from backtests.charts import window_chart_png

        run = run_get(run_id)
        query = validated(WindowChartQuerySerializer, request.query_params)
        symbol = run_symbol_check(run, query["symbol"])
        image = window_chart_png(
            run.run_id, symbol=symbol, start_ns=query["start_ns"], end_ns=query["end_ns"]
        )
        return png_response(image)


RUN_NOT_FINISHED_TITLE = "Not finished yet"


class BarWindowView(APIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM, s.BarWindowQuerySerializer],
        responses={200: s.BarWindowSerializer, **RUN_ERRORS},
        operation_id="run_bar_window",
        summary="Where a window of N bars of a symbol starts and ends, and its neighbours",
    )
    def get(self, request: Request, run_id: str) -> Response:
        """A window counted in real bars (nights and weekends skipped): its first and last
        bar, the bars just before and after it, and the symbol's first and last bar."""
        from backtests.charts.bar_windows import bar_window_locate

        query = validated(s.BarWindowQuerySerializer, request.query_params)
        window = bar_window_locate(run_id=run_id, **query)
        return Response(window.as_dict())


def run_chart_response(request: Request, run_id: str, chart_name: str) -> HttpResponse:
    """A whole-run chart from ``backtests.charts``, optionally for one symbol; a run still
    queued or running gets an image that says its results come when it stops."""
    from backtests import charts
    from backtests.charts.style import message_png

    run, symbol = run_and_symbol(request, run_id)
    try:
        return png_response(getattr(charts, chart_name)(run.run_id, symbol=symbol))
    except Conflict as exc:
        return png_response(message_png(RUN_NOT_FINISHED_TITLE, exc.message))


RUN_CHART_SCHEMA: dict[str, Any] = {
    "parameters": [RUN_ID_PARAM, SYMBOL_PARAM],
    "responses": PNG_RESPONSES,
}


class TradeJourneyView(PNGView):
    @extend_schema(
        operation_id="run_trade_journey_png",
        summary="Trade journey of the run's round trips",
        **RUN_CHART_SCHEMA,
    )
    def get(self, request: Request, run_id: str) -> HttpResponse:
        return run_chart_response(request, run_id, "trade_journey_png")


class PnlSummaryView(PNGView):
    @extend_schema(
        operation_id="run_pnl_summary_png",
        summary="P&L summary of the run's round trips",
        **RUN_CHART_SCHEMA,
    )
    def get(self, request: Request, run_id: str) -> HttpResponse:
        return run_chart_response(request, run_id, "pnl_summary_png")


class EquityView(PNGView):
    @extend_schema(
        operation_id="run_equity_png", summary="Equity curve of the run", **RUN_CHART_SCHEMA
    )
    def get(self, request: Request, run_id: str) -> HttpResponse:
        return run_chart_response(request, run_id, "equity_png")
