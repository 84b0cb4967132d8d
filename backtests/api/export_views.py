"""Exports of a run: one table as CSV or Parquet, or everything as a zip with a manifest.

CSV is streamed as it is read; Parquet and zip files are written to a temporary file (their
writers need to seek) and streamed from it, so no table sits in memory whatever its size.
Errors are JSON like every API error: 404 unknown run or file, 409 a run still active.
"""

from __future__ import annotations

import tempfile
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from backtests.api.chart_views import PNGView
from backtests.api.views import RUN_ACTIVE_RESPONSE, RUN_ID_PARAM, run_get, validated
from backtests.export.tables import EXPORT_FORMATS, EXPORT_TABLES
from backtests.export.writers import CSV_CONTENT_TYPE, PARQUET_CONTENT_TYPE
from ostsite.api_schema import error_response, error_responses

ZIP_CONTENT_TYPE = "application/zip"
EXPORT_FILES = [f"{name}.{fmt}" for name in EXPORT_TABLES for fmt in EXPORT_FORMATS]
FILE_PARAM = OpenApiParameter(
    "file",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=EXPORT_FILES,
    description="A table and a format: " + ", ".join(EXPORT_TABLES) + "; .csv or .parquet",
)
EXPORT_ERRORS: dict[Any, Any] = {
    **error_responses(400, 401),
    404: error_response(404, "No run has that id, or no table has that file name."),
    409: RUN_ACTIVE_RESPONSE,
}


def _binary(description: str) -> OpenApiResponse:
    return OpenApiResponse(OpenApiTypes.BINARY, description=description)


class ExportZipQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=list(EXPORT_FORMATS), default="csv", required=False, help_text="Of the tables"
    )


def _temporary_file_response(write, *, filename: str, content_type: str) -> FileResponse:
    scratch = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it when sent)
    try:
        write(scratch)
        scratch.seek(0)
    except BaseException:
        scratch.close()
        raise
    return FileResponse(scratch, as_attachment=True, filename=filename, content_type=content_type)


class ExportView(PNGView):
    """Errors are always JSON; the success is a file, whatever Accept says."""


class RunExportFileView(ExportView):
    @extend_schema(
        operation_id="run_export_table",
        parameters=[RUN_ID_PARAM, FILE_PARAM],
        responses={
            (200, "text/csv"): _binary("The table as CSV (header line, UTF-8)."),
            (200, PARQUET_CONTENT_TYPE): _binary("The table as Parquet."),
            **EXPORT_ERRORS,
        },
        summary="One table of a run (round trips, fills, orders, equity, metrics) as a file",
    )
    def get(self, request: Request, run_id: str, file: str) -> HttpResponseBase:
        from backtests.export.archive import export_file_parse, export_run_check, table_write
        from backtests.export.writers import csv_chunks

        run = run_get(run_id)
        table, export_format = export_file_parse(file)
        export_run_check(run)
        filename = f"{run.run_id}-{table.name}.{export_format}"
        if export_format == "csv":
            response = StreamingHttpResponse(csv_chunks(table, run), content_type=CSV_CONTENT_TYPE)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        return _temporary_file_response(
            lambda sink: table_write(table, run, export_format, sink),
            filename=filename,
            content_type=PARQUET_CONTENT_TYPE,
        )


class RunExportZipView(ExportView):
    @extend_schema(
        operation_id="run_export_zip",
        parameters=[RUN_ID_PARAM, ExportZipQuerySerializer],
        responses={
            (200, ZIP_CONTENT_TYPE): _binary(
                "Every table, metrics.json, the strategy's source and manifest.json, in a "
                "folder named after the run."
            ),
            **EXPORT_ERRORS,
        },
        summary="Everything of a run as one zip with a manifest",
    )
    def get(self, request: Request, run_id: str) -> HttpResponseBase:
        from backtests.export.archive import export_run_check, export_zip_write

        run = run_get(run_id)
        export_format = validated(ExportZipQuerySerializer, request.query_params)["format"]
        export_run_check(run)
        return _temporary_file_response(
            lambda sink: export_zip_write(run, export_format=export_format, sink=sink),
            filename=f"{run.run_id}-{export_format}.zip",
            content_type=ZIP_CONTENT_TYPE,
        )
