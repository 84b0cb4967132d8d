"""Backtests JSON API: runs, their analysis, strategies and background backtests.

Views are thin: validate with a serializer, call one service or selector, shape the answer.
Analysis, charts and the engine registry are imported where used, so loading the URLconf
does not import matplotlib or the user's strategy files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests.api import serializers as s
from backtests.models import ACTIVE_STATUSES, Fill, Run, RunStatus
from backtests.services.jobs import stale_runs_recover_in_request
from ostsite.api_schema import BodyOnDeleteAutoSchema, error_response, error_responses
from ostsite.errors import InvalidInput, NotFound
from ostsite.permissions import user_may

RUN_NOT_FOUND = "Run not found: {run_id}"
STREAM_ROUNDTRIPS_OVER = 5_000
SYMBOL_NOT_IN_RUN = "Symbol {symbol!r} is not part of run {run_id}"
STRATEGY_NOT_FOUND = "Strategy not found: {strategy_id}"
BODY_NOT_OBJECT = "The request body must be a JSON object"

ERRORS = error_responses(400, 401, 404)
RUN_NOT_FOUND_RESPONSE = error_response(404, "No run has that id, or the symbol is not the run's.")
RUN_ERRORS = {**ERRORS, 404: RUN_NOT_FOUND_RESPONSE}
RUN_ACTIVE_RESPONSE = error_response(
    409, "The run is queued or running: its results exist once it stops."
)
RUN_ID_PARAM = OpenApiParameter("run_id", OpenApiTypes.STR, OpenApiParameter.PATH)
SYMBOL_PARAM = OpenApiParameter(
    "symbol", OpenApiTypes.STR, description="Only this symbol (one of the run's symbols)"
)


def validated(serializer_class: type[s.serializers.Serializer], data: Any) -> dict[str, Any]:
    """Run an input serializer; a DRF ValidationError becomes a 400 naming the fields."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def run_get(run_id: str) -> Run:
    # PostgreSQL refuses NUL in text: such an id cannot exist, so it is simply not found.
    run = None if "\x00" in run_id else Run.objects.filter(run_id=run_id).first()
    if run is None:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id))
    return run


def run_symbols(run: Run) -> list[str]:
    config = run.config if isinstance(run.config, dict) else {}
    symbols = config.get("symbols") or []
    return [symbol for symbol in symbols if isinstance(symbol, str)]


def run_symbol_check(run: Run, symbol: str | None) -> str | None:
    """``symbol`` when it belongs to the run (None or "" means all symbols); else 404."""
    if not symbol:
        return None
    if symbol not in run_symbols(run):
        raise NotFound(SYMBOL_NOT_IN_RUN.format(symbol=symbol, run_id=run.run_id))
    return symbol


def run_and_symbol(request: Request, run_id: str) -> tuple[Run, str | None]:
    """The run (404 if unknown) and the optional ``?symbol=`` query, checked to be its own."""
    run = run_get(run_id)
    symbol = validated(s.SymbolQuerySerializer, request.query_params).get("symbol")
    return run, run_symbol_check(run, symbol)


def json_list_response(key: str, items: Iterator[dict], **extra: Any) -> StreamingHttpResponse:
    """``{key: [items...], **extra}`` written as the items come (bounded memory)."""
    import orjson

    def chunks() -> Iterator[bytes]:
        yield b'{"' + key.encode() + b'":['
        batch: list[bytes] = []
        for index, item in enumerate(items):
            batch.append((b"," if index else b"") + orjson.dumps(item))
            if len(batch) >= 1000:
                yield b"".join(batch)
                batch.clear()
        tail = b"".join(batch) + b"]"
        for name, value in extra.items():
            tail += b',"' + name.encode() + b'":' + orjson.dumps(value)
        yield tail + b"}"

    return StreamingHttpResponse(chunks(), content_type="application/json")


def run_access(run: Run, user: Any) -> dict[str, Any]:
    """Who owns the run, and what ``user`` may do to it (the pages enable buttons by it)."""
    return {
        "owner": run.owner.get_username() if run.owner is not None else None,
        "can_cancel": user_may(user, run, "cancel"),
        "can_delete": user_may(user, run, "delete"),
    }


def run_as_dict(run: Run, user: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "ts_start": run.ts_start,
        "ts_end": run.ts_end,
        "started_ns": run.started_ns,
        "status": run.status,
        "config": run.config,
        "metadata": run.metadata,
        "progress": run.progress,
        **run_access(run, user),
    }


class RunsAPIView(APIView):
    """Base of views that show run state: fail stale runs once per web process first."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        stale_runs_recover_in_request()


class RunsView(RunsAPIView):
    schema = BodyOnDeleteAutoSchema()

    @extend_schema(
        operation_id="runs_list",
        parameters=[s.RunsQuerySerializer],
        responses={200: s.RunListSerializer, **error_responses(400, 401)},
        summary="Recent runs, newest first",
    )
    def get(self, request: Request) -> Response:
        limit = validated(s.RunsQuerySerializer, request.query_params)["limit"]
        runs = Run.objects.select_related("owner").order_by("-ts_start", "-run_id")[:limit]
        return Response({"runs": [run_as_dict(run, request.user) for run in runs]})

    @extend_schema(
        request=s.RunsDeleteSerializer,
        responses={
            200: s.RunsDeletedSerializer,
            **error_responses(400, 401),
            403: error_response(403, "Some runs are not yours (nothing was deleted)."),
        },
        summary="Delete runs and their events (running ones are cancelled first)",
    )
    def delete(self, request: Request) -> Response:
        from backtests.services.run_access import runs_delete_as

        if not isinstance(request.data, dict):
            raise InvalidInput(BODY_NOT_OBJECT)
        run_ids = validated(s.RunsDeleteSerializer, request.data)["run_ids"]
        return Response({"deleted": runs_delete_as(user=request.user, run_ids=run_ids)})


class RunDetailView(RunsAPIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM],
        responses={200: s.RunSerializer, **error_responses(401), 404: RUN_NOT_FOUND_RESPONSE},
        summary="One run (as in the runs list)",
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(run_as_dict(run_get(run_id), request.user))


class RunRoundtripsView(APIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM, s.RoundtripsQuerySerializer],
        responses={200: s.RoundtripListSerializer, **RUN_ERRORS, 409: RUN_ACTIVE_RESPONSE},
        summary="Round-trip trades of a run (all, streamed, or a sorted page)",
    )
    def get(self, request: Request, run_id: str) -> HttpResponseBase:
        from backtests.results.selectors import roundtrip_records, roundtrips_queryset

        run = run_get(run_id)
        query = validated(s.RoundtripsQuerySerializer, request.query_params)
        symbol = run_symbol_check(run, query.get("symbol"))
        trips = roundtrips_queryset(
            run, symbol=symbol, sort=query.get("sort"), descending=query["order"] == "desc"
        )
        count = trips.count()
        if "limit" not in query:  # the whole list, as the original
            if count > STREAM_ROUNDTRIPS_OVER:  # streamed: a big run's list never sits in memory
                return json_list_response("roundtrips", roundtrip_records(trips), count=count)
            return Response({"roundtrips": list(roundtrip_records(trips)), "count": count})
        offset, limit = query["offset"], query["limit"]
        page = list(roundtrip_records(trips[offset : offset + limit]))
        return Response({"roundtrips": page, "count": count, "offset": offset, "limit": limit})


class RunMetricsView(APIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM, SYMBOL_PARAM],
        responses={200: s.MetricsSerializer, **RUN_ERRORS, 409: RUN_ACTIVE_RESPONSE},
        summary="Performance metrics of a run",
    )
    def get(self, request: Request, run_id: str) -> Response:
        from backtests.results.selectors import run_metrics_get

        run, symbol = run_and_symbol(request, run_id)
        return Response(run_metrics_get(run, symbol=symbol))


class RunSymbolsView(APIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM],
        responses={
            200: s.RunSymbolsSerializer,
            **error_responses(401),
            404: RUN_NOT_FOUND_RESPONSE,
        },
        summary="Symbols of a run, and those that traded",
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_get(run_id)
        traded = (
            Fill.objects.filter(run_id=run.run_id)
            .order_by("symbol")
            .values_list("symbol", flat=True)
            .distinct()
        )
        return Response({"symbols": run_symbols(run), "traded": list(traded)})


class StrategiesView(APIView):
    @extend_schema(
        operation_id="strategies_list",
        responses={200: s.StrategyListSerializer, **error_responses(401)},
        summary="Registered strategies",
    )
    def get(self, request: Request) -> Response:
        from backtests.services.backtest_spec import strategy_classes, user_code_not_loaded

        items = [{"id": key, "name": cls.name} for key, cls in strategy_classes().items()]
        not_loaded = [
            {"file": str(f.path), "error": f.error, "strategies": list(f.strategy_ids)}
            for f in user_code_not_loaded()
        ]
        return Response({"strategies": items, "not_loaded": not_loaded})


class StrategyDetailView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("strategy_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={
            200: s.StrategySchemaSerializer,
            **error_responses(401),
            404: error_response(404, "No strategy has that id."),
        },
        summary="Parameter schema of a strategy",
    )
    def get(self, request: Request, strategy_id: str) -> Response:
        from backtests.services.backtest_spec import strategy_classes

        cls = strategy_classes().get(strategy_id)
        if cls is None:
            raise NotFound(STRATEGY_NOT_FOUND.format(strategy_id=strategy_id))
        return Response(cls.schema())


def backtest_request_spec(request: Request) -> tuple[Any, str | None]:
    """The validated spec of a backtest request body and its optional run name."""
    from backtests.services.backtest_spec import backtest_spec_from_mapping

    body = request.data
    if not isinstance(body, dict):
        raise InvalidInput(BODY_NOT_OBJECT)
    name = validated(s.BacktestNameSerializer, {"name": body.get("name")})["name"]
    return backtest_spec_from_mapping(body), name or None


class BacktestExampleBody:
    """The browsable API's POST form starts from a body that runs on this site's data."""

    def example_body(self, request: Request, method: str) -> dict[str, Any] | None:
        from backtests.api.examples import backtest_request_example

        return backtest_request_example() if method == "POST" else None


class BacktestRunView(BacktestExampleBody, APIView):
    @extend_schema(
        request=s.BacktestRunRequestSerializer,
        responses={200: s.BacktestSubmittedSerializer, **error_responses(400, 401, 503)},
        examples=[s.BACKTEST_REQUEST_EXAMPLE],
        summary="Validate a backtest and queue it for a worker",
    )
    def post(self, request: Request) -> Response:
        from backtests.services.jobs import backtest_submit

        spec, name = backtest_request_spec(request)
        run = backtest_submit(spec=spec, name=name, owner=request.user)
        body: dict[str, Any] = {"run_id": run.run_id, "status": RunStatus.QUEUED.value}
        if spec.notes:  # the seed's shape, plus what validation changed when it did
            body["notes"] = list(spec.notes)
        return Response(body)


class BacktestValidateView(BacktestExampleBody, APIView):
    @extend_schema(
        request=s.BacktestRunRequestSerializer,
        responses={200: s.BacktestValidatedSerializer, **error_responses(400, 401)},
        examples=[s.BACKTEST_REQUEST_EXAMPLE],
        summary="Check a backtest request without running it (the page checks as you type)",
    )
    def post(self, request: Request) -> Response:
        spec, name = backtest_request_spec(request)
        return Response(
            {
                "valid": True,
                "name": name or spec.default_name(),
                "config": spec.to_config(),
                "notes": list(spec.notes),
            }
        )


class BacktestStatusView(RunsAPIView):
    @extend_schema(
        parameters=[RUN_ID_PARAM],
        responses={
            200: s.BacktestStatusSerializer,
            **error_responses(401),
            404: RUN_NOT_FOUND_RESPONSE,
        },
        summary="Status and progress of a run",
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_get(run_id)
        body: dict[str, Any] = {
            "run_id": run.run_id,
            "status": run.status,
            "progress": run.progress,
        }
        if run.status == RunStatus.FAILED:
            body["error"] = str((run.metadata or {}).get("error") or "unknown error")
        return Response(body)


class BacktestRunningView(RunsAPIView):
    @extend_schema(
        operation_id="backtest_running_list",
        responses={200: s.RunningListSerializer, **error_responses(401)},
        summary="Queued, running and cancelling runs",
    )
    def get(self, request: Request) -> Response:
        runs = (
            Run.objects.filter(status__in=ACTIVE_STATUSES)
            .select_related("owner")
            .order_by("-ts_start", "-run_id")
        )
        items = [
            {
                "run_id": run.run_id,
                "name": run.name,
                "status": run.status,
                "progress": run.progress,
                "ts_start": run.ts_start,
                "started_ns": run.started_ns,
                "config": run.config,
                **run_access(run, request.user),
            }
            for run in runs
        ]
        return Response({"runs": items})


class BacktestCancelView(APIView):
    @extend_schema(
        request=None,
        parameters=[RUN_ID_PARAM],
        responses={
            200: s.BacktestCancelledSerializer,
            **error_responses(401),
            403: error_response(403, "The run is not yours."),
            404: RUN_NOT_FOUND_RESPONSE,
            409: error_response(409, "The run has finished already."),
        },
        summary="Cancel a queued or running run",
    )
    def post(self, request: Request, run_id: str) -> Response:
        from backtests.services.run_access import run_cancel_as

        run = run_cancel_as(user=request.user, run_id=run_id)
        return Response({"run_id": run.run_id, "status": run.status})
