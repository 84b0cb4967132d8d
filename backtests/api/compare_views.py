"""Comparing runs: ``GET /api/runs/compare`` (JSON), ``compare/overlay`` (the curves as
columns, for an interactive chart) and ``compare.png`` (the overlay as an image)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests.api.chart_views import PNGView, png_response
from backtests.api.serializers import StrictCharField
from backtests.api.views import validated
from backtests.comparison.selectors import CURVE_POINTS, MAX_CURVE_POINTS
from ostsite.api_schema import error_response, error_responses

RUN_IDS_HELP = (
    "Run ids separated by commas: 2 to OST_COMPARE_MAX_RUNS (default 8) different runs that "
    "have stopped."
)
COMPARE_ERRORS: dict[Any, Any] = {
    **error_responses(400, 401),
    404: error_response(404, "Some of the run ids name no run (the message lists them)."),
    409: error_response(409, "Some of the runs are queued or running (the message lists them)."),
}


class CompareQuerySerializer(serializers.Serializer):
    run_ids = StrictCharField(help_text=RUN_IDS_HELP, allow_blank=True, required=False, default="")


class OverlayQuerySerializer(CompareQuerySerializer):
    points = serializers.IntegerField(
        min_value=2,
        max_value=MAX_CURVE_POINTS,
        default=2000,
        required=False,
        help_text="Most points per run (a run's stored series has at most ~20,000).",
    )


class CompareRunSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    strategy = serializers.CharField(allow_null=True)
    symbols = serializers.ListField(child=serializers.CharField())
    capital = serializers.FloatField()
    ts_start = serializers.IntegerField(help_text="UTC ns")


class ConfigRowSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Config key; nested keys joined with dots")
    values = serializers.ListField(child=serializers.JSONField(), help_text="One per run")
    differs = serializers.BooleanField()


class MetricRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField(
        help_text="money, pct, fraction (shown as %), ratio, count, days or seconds"
    )
    better = serializers.ChoiceField(
        choices=["higher", "lower"], allow_null=True, help_text="Null: neither is better"
    )
    values = serializers.ListField(child=serializers.FloatField(allow_null=True))
    best = serializers.ListField(
        child=serializers.IntegerField(), help_text="Positions of the best run(s) of the row"
    )


class SymbolRowSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    net_pnl = serializers.ListField(
        child=serializers.FloatField(allow_null=True), help_text="Null: not one of the run's"
    )
    best = serializers.ListField(child=serializers.IntegerField())


class CurveSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    capital = serializers.FloatField()
    ts = serializers.ListField(child=serializers.IntegerField(), help_text="UTC ns")
    return_pct = serializers.ListField(child=serializers.FloatField())
    drawdown_pct = serializers.ListField(
        child=serializers.FloatField(), help_text="From the running peak, <= 0"
    )


class CompareSerializer(serializers.Serializer):
    runs = CompareRunSerializer(many=True)
    config = ConfigRowSerializer(many=True)
    metrics = MetricRowSerializer(many=True)
    per_symbol = SymbolRowSerializer(many=True)
    curves = CurveSerializer(many=True)
    max_runs = serializers.IntegerField()


class OverlayCurveSerializer(CurveSerializer):
    name = serializers.CharField()


class OverlaySerializer(serializers.Serializer):
    runs = OverlayCurveSerializer(many=True)


class CompareView(APIView):
    @extend_schema(
        operation_id="runs_compare",
        parameters=[CompareQuerySerializer],
        responses={200: CompareSerializer, **COMPARE_ERRORS},
        summary="Runs side by side: config differences, metrics (best marked), curves",
    )
    def get(self, request: Request) -> Response:
        from backtests.comparison.selectors import compare_run_ids_parse, runs_compare

        query = validated(CompareQuerySerializer, request.query_params)
        return Response(runs_compare(compare_run_ids_parse(query["run_ids"])))


class CompareOverlayView(APIView):
    @extend_schema(
        operation_id="runs_compare_overlay",
        parameters=[OverlayQuerySerializer],
        responses={200: OverlaySerializer, **COMPARE_ERRORS},
        summary="The runs' % return and drawdown curves as columns, downsampled",
    )
    def get(self, request: Request) -> Response:
        from backtests.comparison.selectors import compare_overlay, compare_run_ids_parse

        query = validated(OverlayQuerySerializer, request.query_params)
        run_ids = compare_run_ids_parse(query["run_ids"])
        return Response(compare_overlay(run_ids, points=query["points"]))


class ComparePngView(PNGView):
    @extend_schema(
        operation_id="runs_compare_png",
        parameters=[CompareQuerySerializer],
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="A PNG image."),
            **COMPARE_ERRORS,
        },
        summary="The runs' % return and drawdown overlaid, as a PNG",
    )
    def get(self, request: Request) -> HttpResponse:
        from backtests.charts.compare import compare_png
        from backtests.comparison.selectors import (
            compare_curves,
            compare_run_ids_parse,
            runs_for_compare,
        )

        query = validated(CompareQuerySerializer, request.query_params)
        runs = runs_for_compare(compare_run_ids_parse(query["run_ids"]))
        return png_response(compare_png(compare_curves(runs, points=CURVE_POINTS * 2)))
