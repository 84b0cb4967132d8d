"""A run's sensitivity report: start it, read it, draw it (``services.sensitivity``)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests.api.chart_views import PNG_RESPONSES, PNGView, png_response
from backtests.api.views import RUN_ID_PARAM, RUN_NOT_FOUND_RESPONSE
from ostsite.api_schema import error_response, error_responses


class SensitivityCellSerializer(serializers.Serializer):
    slippage_ticks = serializers.FloatField()
    participation_cap = serializers.FloatField(help_text="share of a bar's volume, 0-1")
    net_pnl = serializers.FloatField(allow_null=True)
    sharpe = serializers.FloatField(allow_null=True)
    total_return_pct = serializers.FloatField(allow_null=True)
    max_drawdown = serializers.FloatField(allow_null=True)
    trades = serializers.IntegerField(allow_null=True)
    fills = serializers.IntegerField()


class SensitivityReportSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField(help_text="queued, running, completed or failed")
    fill_model = serializers.CharField()
    latency_ms = serializers.FloatField()
    tick_size = serializers.FloatField(allow_null=True)
    slippage_ticks = serializers.ListField(child=serializers.FloatField())
    participation_caps = serializers.ListField(child=serializers.FloatField())
    cells = SensitivityCellSerializer(many=True, help_text="the cells done so far")
    requested_ns = serializers.IntegerField()
    updated_ns = serializers.IntegerField(required=False)
    finished_ns = serializers.IntegerField(required=False)
    error = serializers.CharField(required=False)


NOT_FOUND = error_response(404, "No run has that id, or (GET) no report was asked for yet.")


class RunSensitivityView(APIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM],
        responses={200: SensitivityReportSerializer, **error_responses(401), 404: NOT_FOUND},
        summary="The run's sensitivity report (slippage x participation cap)",
    )
    def get(self, request: Request, run_id: str) -> Response:
        from backtests.services.sensitivity import sensitivity_get

        return Response(sensitivity_get(run_id=run_id))

    @extend_schema(
        request=None,
        parameters=[RUN_ID_PARAM],
        responses={
            200: SensitivityReportSerializer,
            **error_responses(400, 401, 503),
            404: RUN_NOT_FOUND_RESPONSE,
            409: error_response(409, "The run is not completed, or its report is being made."),
        },
        summary="Queue the run's sensitivity report: 9 backtests with costs",
    )
    def post(self, request: Request, run_id: str) -> Response:
        from backtests.services.sensitivity import sensitivity_request

        return Response(sensitivity_request(run_id=run_id))


class RunSensitivityChartView(PNGView):
    @extend_schema(
        parameters=[RUN_ID_PARAM],
        responses={**PNG_RESPONSES, 404: NOT_FOUND},
        operation_id="run_sensitivity_png",
        summary="Net P&L and Sharpe per cell of the run's sensitivity report",
    )
    def get(self, request: Request, run_id: str) -> HttpResponse:
        from backtests.charts.sensitivity import sensitivity_png
        from backtests.services.sensitivity import sensitivity_get

        response = png_response(sensitivity_png(sensitivity_get(run_id=run_id)))
        response["Cache-Control"] = "no-store"  # changes while the report is computed
        return response
