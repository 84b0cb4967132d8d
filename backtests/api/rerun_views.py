"""``POST /api/runs/{id}/rerun`` queues the run again from its config; ``GET`` answers the
latest rerun's status and, once it completed, whether its fills are identical."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests.api.views import RUN_ID_PARAM
from ostsite.api_schema import error_response, error_responses


class RerunSubmittedSerializer(serializers.Serializer):
    run_id = serializers.CharField(help_text="The new run")
    rerun_of = serializers.CharField()
    status = serializers.CharField()


class FillSerializer(serializers.Serializer):
    ts_event_ns = serializers.IntegerField()
    symbol = serializers.CharField()
    side = serializers.CharField()
    quantity_filled = serializers.FloatField()
    fill_price = serializers.FloatField()
    commission = serializers.FloatField()


class FillDifferenceSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="1-based position in execution order")
    fields = serializers.ListField(child=serializers.CharField())
    original = FillSerializer(allow_null=True)
    rerun = FillSerializer(allow_null=True)


class RerunCheckSerializer(serializers.Serializer):
    run_id = serializers.CharField()
    rerun_id = serializers.CharField()
    status = serializers.CharField(help_text="The rerun's status")
    identical = serializers.BooleanField(
        allow_null=True, help_text="Null until the rerun completed"
    )
    original_fills = serializers.IntegerField(required=False)
    rerun_fills = serializers.IntegerField(required=False)
    first_difference = FillDifferenceSerializer(required=False, allow_null=True)
    message = serializers.CharField(required=False, allow_blank=True)
    error = serializers.CharField(required=False, help_text="Why the rerun failed")


class RunRerunView(APIView):
    @extend_schema(
        operation_id="run_rerun_check",
        parameters=[RUN_ID_PARAM],
        responses={
            200: RerunCheckSerializer,
            **error_responses(401),
            404: error_response(404, "No run has that id, or it has never been rerun."),
        },
        summary="The latest rerun of a run: its status and whether the fills are identical",
    )
    def get(self, request: Request, run_id: str) -> Response:
        from backtests.services.rerun import rerun_latest

        return Response(rerun_latest(run_id=run_id))

    @extend_schema(
        operation_id="run_rerun",
        request=None,
        parameters=[RUN_ID_PARAM],
        responses={
            200: RerunSubmittedSerializer,
            **error_responses(401, 503),
            404: error_response(404, "No run has that id."),
            409: error_response(
                409, "The run is not completed, or its config no longer runs (the message says)."
            ),
        },
        summary="Run a completed run again from its config (trades recorded) to compare fills",
    )
    def post(self, request: Request, run_id: str) -> Response:
        from backtests.services.rerun import RERUN_OF, rerun_submit

        rerun = rerun_submit(run_id=run_id)
        return Response({"run_id": rerun.run_id, RERUN_OF: run_id, "status": rerun.status})
