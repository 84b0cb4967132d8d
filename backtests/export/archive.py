"""A run's export as one zip (streamed from a temporary file) or a folder (the command).

Both hold the same files under a folder named after the run: every table of
``EXPORT_TABLES`` as ``<table>.csv`` or ``<table>.parquet``, ``metrics.json`` (the stored
metrics with their notes and warnings), ``strategy/<file>.py`` (the strategy's source) and
``manifest.json`` (``backtests.export.manifest``), written last with each table's row count.
Tables are written chunk by chunk; a Parquet member of a zip goes through a temporary file
first (its writer needs a seekable file), so memory stays bounded by a chunk.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from backtests.export.manifest import manifest_build, strategy_source
from backtests.export.tables import EXPORT_FORMATS, EXPORT_TABLES, ExportTable
from backtests.export.writers import csv_write, parquet_write
from backtests.models import Run
from backtests.results.selectors import run_metrics_get, run_result_get
from ostsite.errors import Conflict, InvalidInput, NotFound

FORMAT_INVALID = "format must be csv or parquet, got {value!r}"
TABLE_UNKNOWN = "No export file {file!r}: the tables are {tables}, each as .csv or .parquet"
TARGET_EXISTS = "{path} exists already: remove it or choose another --out folder"

MemberOpener = Callable[[str, bool], AbstractContextManager[BinaryIO]]


def export_format_check(value: Any) -> str:
    if value not in EXPORT_FORMATS:
        raise InvalidInput(
            FORMAT_INVALID.format(value=value),
            fields={"format": FORMAT_INVALID.format(value=value)},
        )
    return value


def export_file_parse(file: str) -> tuple[ExportTable, str]:
    """``"fills.csv"`` -> (the fills table, "csv"); NotFound for anything else."""
    stem, _, suffix = file.rpartition(".")
    table = EXPORT_TABLES.get(stem)
    if table is None or suffix not in EXPORT_FORMATS:
        shown = file.replace("\x00", "\\x00")
        raise NotFound(TABLE_UNKNOWN.format(file=shown, tables=", ".join(EXPORT_TABLES)))
    return table, suffix


def export_run_check(run: Run) -> None:
    """Conflict for a queued or running run; its results stored (rebuilt if needed)."""
    run_result_get(run)


def table_write(table: ExportTable, run: Run, export_format: str, sink: BinaryIO) -> int:
    writer = csv_write if export_format == "csv" else parquet_write
    return writer(table, run, sink)


def _members_write(run: Run, export_format: str, open_member: MemberOpener) -> dict[str, Any]:
    """Write every file of the export through ``open_member(name, compressed)``; returns
    the manifest (also written)."""
    tables: dict[str, Any] = {}
    for table in EXPORT_TABLES.values():
        name = f"{table.name}.{export_format}"
        if export_format == "parquet":
            with tempfile.TemporaryFile() as scratch:
                rows = parquet_write(table, run, scratch)
                scratch.seek(0)
                with open_member(name, False) as member:
                    shutil.copyfileobj(scratch, member, 1 << 20)
        else:
            with open_member(name, True) as member:
                rows = csv_write(table, run, member)
        tables[table.name] = {
            "file": name,
            "rows": rows,
            "columns": table.column_names,
            "description": table.description,
        }
    with open_member("metrics.json", True) as member:
        member.write(json.dumps(run_metrics_get(run), indent=2, sort_keys=True).encode())
    path, strategy_entry = strategy_source((run.config or {}).get("strategy"))
    if path is not None:
        with open_member(strategy_entry["source_file"], True) as member, path.open("rb") as src:
            shutil.copyfileobj(src, member)
    manifest = manifest_build(
        run, export_format=export_format, strategy_entry=strategy_entry, tables=tables
    )
    with open_member("manifest.json", True) as member:
        member.write(json.dumps(manifest, indent=2, default=str).encode())
    return manifest


def export_zip_write(run: Run, *, export_format: str, sink: BinaryIO) -> dict[str, Any]:
    """The whole export as a zip written to ``sink``; returns the manifest."""
    prefix = f"{run.run_id}/"
    stamp = time.gmtime()[:6]

    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:

        @contextmanager
        def open_member(name: str, compressed: bool) -> Iterator[BinaryIO]:
            info = zipfile.ZipInfo(prefix + name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                yield member

        return _members_write(run, export_format, open_member)


def export_dir_write(run: Run, *, export_format: str, out_dir: Path) -> Path:
    """The whole export as files in ``out_dir/<run_id>/`` (written to a scratch folder
    beside it, then renamed: never half-written); Conflict if that folder exists."""
    target = out_dir / run.run_id
    if target.exists():
        raise Conflict(TARGET_EXISTS.format(path=target))
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{run.run_id}-", dir=out_dir))

    @contextmanager
    def open_member(name: str, compressed: bool) -> Iterator[BinaryIO]:
        path = scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as member:
            yield member

    try:
        _members_write(run, export_format, open_member)
        scratch.chmod(0o755)
        scratch.rename(target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return target
