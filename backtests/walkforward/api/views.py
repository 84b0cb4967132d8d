"""Walk-forward JSON API: create, list, get, cancel, resume, delete, and the charts. Views
are thin: validate, call one service or selector, shape the answer."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests.api.chart_views import PNGView, png_response
from backtests.api.views import BODY_NOT_OBJECT, validated
from backtests.walkforward.api import serializers as s
from backtests.walkforward.models import WalkForward
from backtests.walkforward.recovery import walkforwards_recover_throttled
from backtests.walkforward.selectors import walkforward_as_dict, walkforwards_list
from backtests.walkforward.services import (
    walkforward_cancel,
    walkforward_create,
    walkforward_get,
    walkforward_resume,
    walkforwards_delete,
)
from ostsite.api_schema import BodyOnDeleteAutoSchema, error_response, error_responses
from ostsite.errors import InvalidInput
from ostsite.permissions import user_may_check, user_may_check_all

ID_PARAM = OpenApiParameter("walkforward_id", OpenApiTypes.STR, OpenApiParameter.PATH)
NOT_FOUND_RESPONSE = error_response(404, "No walk-forward has that id.")
PNG_RESPONSES: dict[Any, Any] = {
    (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="A PNG image."),
    **error_responses(401),
    404: NOT_FOUND_RESPONSE,
}


class WalkForwardsAPIView(APIView):
    """Base of views that show walk-forward state: lost out-of-sample tasks are queued again
    first (at most every 30 s per process)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        walkforwards_recover_throttled()


class WalkForwardsView(WalkForwardsAPIView):
    schema = BodyOnDeleteAutoSchema()

    @extend_schema(
        operation_id="walkforwards_list",
        parameters=[s.WalkForwardsQuerySerializer],
        responses={200: s.WalkForwardListSerializer, **error_responses(400, 401)},
        summary="Walk-forward studies, newest first",
    )
    def get(self, request: Request) -> Response:
        query = validated(s.WalkForwardsQuerySerializer, request.query_params)
        found = walkforwards_list(limit=query["limit"], status=query.get("status"))
        return Response(
            {"walkforwards": [walkforward_as_dict(w, user=request.user) for w in found]}
        )

    @extend_schema(
        operation_id="walkforwards_create",
        request=s.WalkForwardCreateSerializer,
        responses={200: s.WalkForwardCreatedSerializer, **error_responses(400, 401, 503)},
        summary="Validate a walk-forward, lay its windows and queue one study per window",
    )
    def post(self, request: Request) -> Response:
        from backtests.walkforward.definition import walkforward_definition_build

        body = request.data
        if not isinstance(body, dict):
            raise InvalidInput(BODY_NOT_OBJECT)
        known = set(s.WalkForwardCreateSerializer().fields) | {"space"}
        definition = walkforward_definition_build(
            **{key: value for key, value in body.items() if key in known}
        )
        walkforward = walkforward_create(definition=definition, owner=request.user)
        return Response(
            {
                "walkforward_id": walkforward.walkforward_id,
                "status": walkforward.status,
                "windows": len(definition.windows),
            }
        )

    @extend_schema(
        operation_id="walkforwards_delete",
        request=s.WalkForwardsDeleteSerializer,
        responses={200: s.WalkForwardsDeletedSerializer, **error_responses(400, 401, 403)},
        summary="Delete walk-forwards, their windows and their in-sample studies",
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput(BODY_NOT_OBJECT)
        ids = validated(s.WalkForwardsDeleteSerializer, request.data)["walkforward_ids"]
        user_may_check_all(
            user=request.user,
            objects=WalkForward.objects.filter(walkforward_id__in=ids),
            action="delete",
            ident="walkforward_id",
        )
        return Response({"deleted": walkforwards_delete(walkforward_ids=ids)})


def _yours(request: Request, walkforward_id: str, action: str) -> WalkForward:
    """The walk-forward, if ``request.user`` may ``action`` it (ostsite.permissions)."""
    walkforward = walkforward_get(walkforward_id=walkforward_id)
    user_may_check(
        user=request.user, obj=walkforward, action=action, ident=walkforward.walkforward_id
    )
    return walkforward


class WalkForwardView(WalkForwardsAPIView):
    @extend_schema(
        operation_id="walkforward_get",
        parameters=[ID_PARAM],
        responses={
            200: s.WalkForwardDetailSerializer,
            **error_responses(401),
            404: NOT_FOUND_RESPONSE,
        },
        summary="A walk-forward: windows table, stitched equity, efficiency, parameters, verdict",
    )
    def get(self, request: Request, walkforward_id: str) -> Response:
        walkforward = walkforward_get(walkforward_id=walkforward_id)
        return Response(walkforward_as_dict(walkforward, detail=True, user=request.user))

    @extend_schema(
        operation_id="walkforward_delete",
        parameters=[ID_PARAM],
        responses={
            200: s.WalkForwardsDeletedSerializer,
            **error_responses(401, 403),
            404: NOT_FOUND_RESPONSE,
        },
        summary="Delete one walk-forward, its windows and its in-sample studies",
    )
    def delete(self, request: Request, walkforward_id: str) -> Response:
        walkforward = _yours(request, walkforward_id, "delete")
        return Response(
            {"deleted": walkforwards_delete(walkforward_ids=[walkforward.walkforward_id])}
        )


def _state(walkforward: WalkForward) -> Response:
    return Response({"walkforward_id": walkforward.walkforward_id, "status": walkforward.status})


class WalkForwardCancelView(APIView):
    @extend_schema(
        operation_id="walkforward_cancel",
        request=None,
        parameters=[ID_PARAM],
        responses={
            200: s.WalkForwardStateSerializer,
            **error_responses(401, 403),
            404: NOT_FOUND_RESPONSE,
            409: error_response(409, "The walk-forward has finished already."),
        },
        summary="Cancel a walk-forward: its studies and out-of-sample runs stop",
    )
    def post(self, request: Request, walkforward_id: str) -> Response:
        walkforward = _yours(request, walkforward_id, "cancel")
        return _state(walkforward_cancel(walkforward_id=walkforward.walkforward_id))


class WalkForwardResumeView(APIView):
    @extend_schema(
        operation_id="walkforward_resume",
        request=None,
        parameters=[ID_PARAM],
        responses={
            200: s.WalkForwardStateSerializer,
            **error_responses(401, 403, 503),
            404: NOT_FOUND_RESPONSE,
            409: error_response(409, "Only a cancelled walk-forward can be resumed."),
        },
        summary="Continue a cancelled walk-forward",
    )
    def post(self, request: Request, walkforward_id: str) -> Response:
        walkforward = _yours(request, walkforward_id, "cancel")
        return _state(walkforward_resume(walkforward_id=walkforward.walkforward_id))


class EquityChartView(PNGView):
    @extend_schema(
        operation_id="walkforward_equity_png",
        parameters=[ID_PARAM],
        responses=PNG_RESPONSES,
        summary="Stitched out-of-sample equity vs in-sample curves vs buy and hold",
    )
    def get(self, request: Request, walkforward_id: str) -> HttpResponse:
        from backtests.walkforward.charts import equity_png

        return png_response(equity_png(walkforward_get(walkforward_id=walkforward_id)))


class ParametersChartView(PNGView):
    @extend_schema(
        operation_id="walkforward_parameters_png",
        parameters=[ID_PARAM],
        responses=PNG_RESPONSES,
        summary="The chosen value of each parameter, window by window",
    )
    def get(self, request: Request, walkforward_id: str) -> HttpResponse:
        from backtests.walkforward.charts import parameters_png

        return png_response(parameters_png(walkforward_get(walkforward_id=walkforward_id)))
