"""JSON API of the security master and the symbol presets, with token login (the API root is
``ostsite.api_root``).

Views are thin: an input serializer checks the request, one selector or service does the
work, and the answer is returned in the shape the original dashboard used. Errors are raised
as ``ostsite.errors`` types and rendered by the project's exception handler as
``{"error": "...", "fields": {...}}``.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import parsers, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ostsite.api_schema import error_response
from ostsite.auth_tokens import token_revoke, token_rotate
from ostsite.json_input import StrictJSONParser
from ostsite.login_throttle import login_failure_record, login_throttled_error, login_wait
from ostsite.permissions import user_may
from secmaster import selectors
from secmaster.api import serializers as io
from secmaster.services import presets as preset_services

ERROR_400, ERROR_401 = error_response(400), error_response(401)
ERROR_403 = error_response(403, "The preset is not yours and you lack the permission.")
ERROR_404 = error_response(404, "No preset has that name.")
ERROR_409 = error_response(409, "The name is taken.")

NAME_PARAMETER = OpenApiParameter(
    "name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Any text; may contain '/'."
)


def _validated(serializer_class: type[serializers.Serializer], data: object) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Security master --------------------------------------------------------------------


class PublisherListView(APIView):
    """Publisher names, sorted and distinct; with ``rtype``, only those holding that bar type."""

    @extend_schema(
        operation_id="secmaster_publishers_list",
        parameters=[io.RtypeQuerySerializer],
        responses={200: io.PublisherListSerializer, 400: ERROR_400, 401: ERROR_401},
    )
    def get(self, request: Request) -> Response:
        query = _validated(io.RtypeQuerySerializer, request.query_params)
        return Response({"publishers": selectors.publisher_name_list(**query)})


class PublisherDatasetListView(APIView):
    """The datasets of one publisher (by name), sorted; an unknown name gives an empty list."""

    @extend_schema(
        operation_id="secmaster_publisher_datasets_list",
        parameters=[io.RtypeQuerySerializer, NAME_PARAMETER],
        responses={200: io.DatasetListSerializer, 400: ERROR_400, 401: ERROR_401},
    )
    def get(self, request: Request, name: str) -> Response:
        query = _validated(io.RtypeQuerySerializer, request.query_params)
        return Response({"datasets": selectors.publisher_dataset_list(name=name, **query)})


class SymbolCoverageListView(APIView):
    """Which symbols have bars of which type, and from when to when (UTC nanoseconds).

    Ordered by symbol, then rtype, then publisher id.
    """

    @extend_schema(
        operation_id="secmaster_symbols_coverage_list",
        parameters=[io.CoverageQuerySerializer],
        responses={200: io.CoverageListSerializer, 400: ERROR_400, 401: ERROR_401},
    )
    def get(self, request: Request) -> Response:
        query = _validated(io.CoverageQuerySerializer, request.query_params)
        return Response({"symbols": selectors.coverage_list(**query)})


# --- Presets ----------------------------------------------------------------------------


class PresetListView(APIView):
    """List preset names (sorted) or create a preset.

    Names and symbols are stripped of surrounding whitespace; case is kept; a symbol may
    appear only once (a repeat is refused with 400, not dropped).
    """

    @extend_schema(
        operation_id="presets_list", responses={200: io.PresetListSerializer, 401: ERROR_401}
    )
    def get(self, request: Request) -> Response:
        return Response({"presets": selectors.preset_name_list()})

    @extend_schema(
        operation_id="presets_create",
        request=io.PresetCreateSerializer,
        responses={201: io.PresetStatusSerializer, 400: ERROR_400, 401: ERROR_401, 409: ERROR_409},
    )
    def post(self, request: Request) -> Response:
        data = _validated(io.PresetCreateSerializer, request.data)
        preset = preset_services.preset_create(
            name=data["name"], symbols=data["symbols"], owner=request.user
        )
        return Response({"status": "created", "name": preset.name}, status=status.HTTP_201_CREATED)


class PresetDetailView(APIView):
    """Read, replace the symbols of, or delete one preset. Presets cannot be renamed."""

    @extend_schema(
        operation_id="presets_retrieve",
        parameters=[NAME_PARAMETER],
        responses={200: io.PresetSerializer, 401: ERROR_401, 404: ERROR_404},
    )
    def get(self, request: Request, name: str) -> Response:
        preset = selectors.preset_get(name=name)
        return Response(
            {
                "name": preset.name,
                "symbols": preset.symbols,
                "owner": preset.owner_username or None,
                "can_change": user_may(request.user, preset, "change"),
                "can_delete": user_may(request.user, preset, "delete"),
            }
        )

    @extend_schema(
        operation_id="presets_update",
        parameters=[NAME_PARAMETER],
        request=io.PresetUpdateSerializer,
        responses={
            200: io.PresetStatusSerializer,
            400: ERROR_400,
            401: ERROR_401,
            403: ERROR_403,
            404: ERROR_404,
        },
    )
    def put(self, request: Request, name: str) -> Response:
        data = _validated(io.PresetUpdateSerializer, request.data)
        preset = preset_services.preset_update(
            name=name, symbols=data["symbols"], body_name=data.get("name"), user=request.user
        )
        return Response({"status": "updated", "name": preset.name})

    @extend_schema(
        operation_id="presets_destroy",
        parameters=[NAME_PARAMETER],
        responses={200: io.PresetStatusSerializer, 401: ERROR_401, 403: ERROR_403, 404: ERROR_404},
    )
    def delete(self, request: Request, name: str) -> Response:
        preset_services.preset_delete(name=name, user=request.user)
        return Response({"status": "deleted", "name": name})


# --- Token login for scripts ------------------------------------------------------------


TOKEN_ANSWER = inline_serializer("TokenAnswer", fields={"token": serializers.CharField()})
ERROR_429 = error_response(429, "Too many failed logins for this account or address.")


class TokenObtainView(ObtainAuthToken):
    """Trade a username and password for the user's API token (created on first use);
    ``DELETE`` revokes the caller's own token.

    Scripts send the token in the Authorization header instead of logging in::

        curl -X POST -H 'Content-Type: application/json' \\
             -d '{"username": "alice", "password": "..."}' http://127.0.0.1:8000/api/auth/token
        # -> {"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}
        curl -H 'Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b' \\
             http://127.0.0.1:8000/api/presets

    The same token is returned on every call until it is rotated (``POST
    /api/auth/token/rotate``), revoked (``DELETE /api/auth/token``, or by an administrator in
    the admin) or the password changes. Wrong credentials answer 400 with the reason; too
    many of them for one account or from one address answer 429 with ``Retry-After``
    (``ostsite.login_throttle``), even for the right password.
    """

    parser_classes = (parsers.FormParser, parsers.MultiPartParser, StrictJSONParser)

    def get_permissions(self) -> list:
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return []

    @extend_schema(
        operation_id="auth_token_create",
        summary="Obtain an API token",
        request=AuthTokenSerializer,
        responses={
            200: TOKEN_ANSWER,
            400: ERROR_400,
            401: error_response(401, "An Authorization header with an invalid token was sent."),
            429: ERROR_429,
        },
        auth=[],
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        data = request.data
        username = data.get("username") if hasattr(data, "get") else None
        wait = login_wait(request=request, username=username)
        if wait:
            raise login_throttled_error(wait)
        serializer = AuthTokenSerializer(data=data, context={"request": request})
        if not serializer.is_valid():
            if "non_field_errors" in serializer.errors:  # a password was checked and wrong
                login_failure_record(request=request, username=username)
            raise serializers.ValidationError(serializer.errors)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})

    @extend_schema(
        operation_id="auth_token_revoke",
        summary="Revoke your own API token",
        request=None,
        responses={
            200: inline_serializer("TokenRevoked", fields={"revoked": serializers.IntegerField()}),
            401: ERROR_401,
        },
    )
    def delete(self, request: Request) -> Response:
        return Response({"revoked": token_revoke(user=request.user)})


class TokenRotateView(APIView):
    """Replace your own API token by a new one: the old key is refused at once."""

    @extend_schema(
        operation_id="auth_token_rotate",
        summary="Rotate your own API token",
        request=None,
        responses={200: TOKEN_ANSWER, 401: ERROR_401},
    )
    def post(self, request: Request) -> Response:
        return Response({"token": token_rotate(user=request.user).key})
