"""Studies JSON API: create, list, get, trials, cancel, resume, extend, delete, open a trial
as a run, the overfitting statistics and the charts. Views are thin: validate, call one
service or selector, shape the answer."""

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
from backtests.studies.api import serializers as s
from backtests.studies.models import Study
from backtests.studies.recovery import studies_recover_throttled
from backtests.studies.selectors import (
    studies_list,
    study_as_dict,
    trial_as_dict,
    trial_sorts,
    trials_queryset,
)
from backtests.studies.services import (
    studies_delete,
    study_cancel,
    study_create,
    study_extend,
    study_get,
    study_resume,
    trial_get,
    trial_open_as_run,
)
from ostsite.api_schema import BodyOnDeleteAutoSchema, error_response, error_responses
from ostsite.errors import InvalidInput
from ostsite.permissions import user_may_check, user_may_check_all

STUDY_ID_PARAM = OpenApiParameter("study_id", OpenApiTypes.STR, OpenApiParameter.PATH)
NUMBER_PARAM = OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH)
STUDY_NOT_FOUND_RESPONSE = error_response(404, "No study has that id.")
TRIAL_NOT_FOUND_RESPONSE = error_response(404, "No study has that id, or it has no such trial.")
STUDY_ERRORS = {**error_responses(400, 401), 404: STUDY_NOT_FOUND_RESPONSE}
SORT_INVALID = "sort must be one of: {valid}"
NOT_SEARCHED = "{name!r} is not a searched parameter of this study; searched: {searched}"
SAME_AXES = "x and y must be two different parameters"
PNG_RESPONSES: dict[Any, Any] = {
    (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="A PNG image."),
    **STUDY_ERRORS,
}


class StudiesAPIView(APIView):
    """Base of views that show study state: trials of dead workers are recovered first (at
    most every 30 s per process)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        studies_recover_throttled()


class StudiesView(StudiesAPIView):
    schema = BodyOnDeleteAutoSchema()

    @extend_schema(
        operation_id="studies_list",
        parameters=[s.StudiesQuerySerializer],
        responses={200: s.StudyListSerializer, **error_responses(400, 401)},
        summary="Parameter studies, newest first",
    )
    def get(self, request: Request) -> Response:
        query = validated(s.StudiesQuerySerializer, request.query_params)
        studies = studies_list(limit=query["limit"], status=query.get("status"))
        return Response({"studies": [study_as_dict(study, user=request.user) for study in studies]})

    @extend_schema(
        operation_id="studies_create",
        request=s.StudyCreateSerializer,
        responses={200: s.StudyCreatedSerializer, **error_responses(400, 401, 503)},
        summary="Validate a parameter study and queue its first batch of trials",
    )
    def post(self, request: Request) -> Response:
        from backtests.studies.definition import study_definition_build

        body = request.data
        if not isinstance(body, dict):
            raise InvalidInput(BODY_NOT_OBJECT)
        known = set(s.StudyCreateSerializer().fields) | {"space"}
        definition = study_definition_build(
            **{key: value for key, value in body.items() if key in known}
        )
        study = study_create(definition=definition, owner=request.user)
        return Response({"study_id": study.study_id, "status": study.status})

    @extend_schema(
        operation_id="studies_delete",
        request=s.StudiesDeleteSerializer,
        responses={200: s.StudiesDeletedSerializer, **error_responses(400, 401, 403)},
        summary="Delete studies, their trials and the runs opened from them",
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput(BODY_NOT_OBJECT)
        study_ids = validated(s.StudiesDeleteSerializer, request.data)["study_ids"]
        user_may_check_all(
            user=request.user,
            objects=Study.objects.filter(study_id__in=study_ids),
            action="delete",
            ident="study_id",
        )
        return Response({"deleted": studies_delete(study_ids=study_ids)})


class StudyView(StudiesAPIView):
    @extend_schema(
        operation_id="study_get",
        parameters=[STUDY_ID_PARAM],
        responses={
            200: s.StudyDetailSerializer,
            **error_responses(401),
            404: STUDY_NOT_FOUND_RESPONSE,
        },
        summary="A study: definition, progress, best trial, overfitting verdict",
    )
    def get(self, request: Request, study_id: str) -> Response:
        return Response(study_as_dict(study_get(study_id=study_id), detail=True, user=request.user))

    @extend_schema(
        operation_id="study_delete",
        parameters=[STUDY_ID_PARAM],
        responses={
            200: s.StudiesDeletedSerializer,
            **error_responses(401, 403),
            404: STUDY_NOT_FOUND_RESPONSE,
        },
        summary="Delete one study, its trials and the runs opened from them",
    )
    def delete(self, request: Request, study_id: str) -> Response:
        study = _yours(request, study_id, "delete")
        return Response({"deleted": studies_delete(study_ids=[study.study_id])})


class StudyTrialsView(APIView):
    @extend_schema(
        operation_id="study_trials_list",
        parameters=[STUDY_ID_PARAM, s.TrialsQuerySerializer],
        responses={200: s.TrialListSerializer, **STUDY_ERRORS},
        summary="A sorted page of a study's trials",
    )
    def get(self, request: Request, study_id: str) -> Response:
        study = study_get(study_id=study_id)
        query = validated(s.TrialsQuerySerializer, request.query_params)
        sorts = trial_sorts(study)
        if query["sort"] not in sorts:
            message = SORT_INVALID.format(valid=", ".join(sorts))
            raise InvalidInput(message, fields={"sort": message})
        trials = trials_queryset(
            study,
            sort=query["sort"],
            descending=query["order"] == "desc",
            status=query.get("status"),
        )
        offset, limit = query["offset"], query["limit"]
        page = [trial_as_dict(t) for t in trials[offset : offset + limit]]
        return Response(
            {
                "trials": page,
                "count": trials.count(),
                "offset": offset,
                "limit": limit,
                "sort": query["sort"],
                "order": query["order"],
            }
        )


class StudyTrialView(APIView):
    @extend_schema(
        operation_id="study_trial_get",
        parameters=[STUDY_ID_PARAM, NUMBER_PARAM],
        responses={
            200: s.TrialDetailSerializer,
            **error_responses(401),
            404: TRIAL_NOT_FOUND_RESPONSE,
        },
        summary="One trial with its error's traceback and where it ran",
    )
    def get(self, request: Request, study_id: str, number: int) -> Response:
        trial = trial_get(study=study_get(study_id=study_id), number=number)
        return Response(trial_as_dict(trial, full=True))


class TrialRunView(APIView):
    @extend_schema(
        operation_id="study_trial_open_run",
        request=None,
        parameters=[STUDY_ID_PARAM, NUMBER_PARAM],
        responses={
            200: s.TrialRunSerializer,
            **error_responses(401, 503),
            404: TRIAL_NOT_FOUND_RESPONSE,
            409: error_response(409, "The trial has not run yet."),
        },
        summary="Open a trial as a full run (record=full) of its exact spec",
    )
    def post(self, request: Request, study_id: str, number: int) -> Response:
        run = trial_open_as_run(study_id=study_id, number=number)
        return Response({"run_id": run.run_id, "status": run.status})


def _yours(request: Request, study_id: str, action: str) -> Study:
    """The study, if ``request.user`` may ``action`` it (ostsite.permissions); else 403."""
    study = study_get(study_id=study_id)
    user_may_check(user=request.user, obj=study, action=action, ident=study.study_id)
    return study


def _state(study) -> Response:
    return Response(
        {"study_id": study.study_id, "status": study.status, "n_trials": study.n_trials}
    )


class StudyCancelView(APIView):
    @extend_schema(
        operation_id="study_cancel",
        request=None,
        parameters=[STUDY_ID_PARAM],
        responses={
            200: s.StudyStateSerializer,
            **error_responses(401, 403),
            404: STUDY_NOT_FOUND_RESPONSE,
            409: error_response(409, "The study has finished already."),
        },
        summary="Cancel a study: running trials stop within a second",
    )
    def post(self, request: Request, study_id: str) -> Response:
        study = _yours(request, study_id, "cancel")
        return _state(study_cancel(study_id=study.study_id))


class StudyResumeView(APIView):
    @extend_schema(
        operation_id="study_resume",
        request=None,
        parameters=[STUDY_ID_PARAM],
        responses={
            200: s.StudyStateSerializer,
            **error_responses(401, 403, 503),
            404: STUDY_NOT_FOUND_RESPONSE,
            409: error_response(409, "The study has finished: extend it instead."),
        },
        summary="Continue a cancelled study (or one whose workers died)",
    )
    def post(self, request: Request, study_id: str) -> Response:
        study = _yours(request, study_id, "cancel")  # the same right: stop and go on
        return _state(study_resume(study_id=study.study_id))


class StudyExtendView(APIView):
    @extend_schema(
        operation_id="study_extend",
        request=s.ExtendSerializer,
        parameters=[STUDY_ID_PARAM],
        responses={
            200: s.StudyStateSerializer,
            **error_responses(400, 401, 403, 503),
            404: STUDY_NOT_FOUND_RESPONSE,
            409: error_response(409, "A grid study has no more points."),
        },
        summary="Run more trials (a finished study starts again)",
    )
    def post(self, request: Request, study_id: str) -> Response:
        study = _yours(request, study_id, "cancel")
        if not isinstance(request.data, dict):
            raise InvalidInput(BODY_NOT_OBJECT)
        more = validated(s.ExtendSerializer, request.data)["n_trials"]
        return _state(study_extend(study_id=study.study_id, n_trials=more))


class StudyOverfittingView(APIView):
    @extend_schema(
        operation_id="study_overfitting",
        parameters=[STUDY_ID_PARAM, s.OverfittingQuerySerializer],
        responses={200: s.OverfittingSerializer, **STUDY_ERRORS},
        summary="Deflated Sharpe ratio, PBO and the verdict of the study's best trial",
    )
    def get(self, request: Request, study_id: str) -> Response:
        from backtests.studies.analysis import study_analysis_get
        from backtests.studies.definition import SPLITS_INVALID

        study = study_get(study_id=study_id)
        splits = validated(s.OverfittingQuerySerializer, request.query_params).get("pbo_splits")
        if splits is not None and splits % 2:
            raise InvalidInput(SPLITS_INVALID, fields={"pbo_splits": SPLITS_INVALID})
        analysis, _ = study_analysis_get(study, n_splits=splits)
        return Response(analysis)


def _searched(study, name: str, field: str) -> str:
    from backtests.studies.charts import searched_names

    names = searched_names(study)
    if name not in names:
        message = NOT_SEARCHED.format(name=name, searched=", ".join(names))
        raise InvalidInput(message, fields={field: message})
    return name


class HeatmapView(PNGView):
    @extend_schema(
        operation_id="study_heatmap_png",
        parameters=[STUDY_ID_PARAM, s.HeatmapQuerySerializer],
        responses=PNG_RESPONSES,
        summary="Heatmap of two searched parameters against a metric",
    )
    def get(self, request: Request, study_id: str) -> HttpResponse:
        from backtests.studies.charts import heatmap_png

        study = study_get(study_id=study_id)
        query = validated(s.HeatmapQuerySerializer, request.query_params)
        x, y = _searched(study, query["x"], "x"), _searched(study, query["y"], "y")
        if x == y:
            raise InvalidInput(SAME_AXES, fields={"y": SAME_AXES})
        metric = query.get("metric") or study.objective
        return png_response(
            heatmap_png(study, x=x, y=y, metric=metric, aggregate=query["aggregate"])
        )


class SensitivityView(PNGView):
    @extend_schema(
        operation_id="study_sensitivity_png",
        parameters=[STUDY_ID_PARAM, s.SensitivityQuerySerializer],
        responses=PNG_RESPONSES,
        summary="One parameter against a metric",
    )
    def get(self, request: Request, study_id: str) -> HttpResponse:
        from backtests.studies.charts import sensitivity_png

        study = study_get(study_id=study_id)
        query = validated(s.SensitivityQuerySerializer, request.query_params)
        param = _searched(study, query["param"], "param")
        metric = query.get("metric") or study.objective
        return png_response(sensitivity_png(study, param=param, metric=metric))


class ObjectiveView(PNGView):
    @extend_schema(
        operation_id="study_objective_png",
        parameters=[STUDY_ID_PARAM],
        responses={k: v for k, v in PNG_RESPONSES.items() if k != 400},
        summary="The objective of each trial, and the best so far",
    )
    def get(self, request: Request, study_id: str) -> HttpResponse:
        from backtests.studies.charts import objective_png

        return png_response(objective_png(study_get(study_id=study_id)))


class ImportanceView(PNGView):
    @extend_schema(
        operation_id="study_importance_png",
        parameters=[STUDY_ID_PARAM],
        responses={k: v for k, v in PNG_RESPONSES.items() if k != 400},
        summary="Each searched parameter's importance for the objective",
    )
    def get(self, request: Request, study_id: str) -> HttpResponse:
        from backtests.studies.charts import importance_png

        return png_response(importance_png(study_get(study_id=study_id)))


class PboView(PNGView):
    @extend_schema(
        operation_id="study_pbo_png",
        parameters=[STUDY_ID_PARAM, s.OverfittingQuerySerializer],
        responses=PNG_RESPONSES,
        summary="Histogram of the CSCV out-of-sample rank logits (PBO)",
    )
    def get(self, request: Request, study_id: str) -> HttpResponse:
        from backtests.studies.charts import pbo_png
        from backtests.studies.definition import SPLITS_INVALID

        study = study_get(study_id=study_id)
        splits = validated(s.OverfittingQuerySerializer, request.query_params).get("pbo_splits")
        if splits is not None and splits % 2:
            raise InvalidInput(SPLITS_INVALID, fields={"pbo_splits": SPLITS_INVALID})
        return png_response(pbo_png(study, n_splits=splits))
