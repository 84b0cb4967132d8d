"""``manage.py export_run``: the README's example, refusals as CommandError."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from backtests.export.archive import FORMAT_INVALID, TARGET_EXISTS
from backtests.export.tables import EXPORT_TABLES
from backtests.models import Fill, RunStatus
from backtests.results.selectors import RUN_NOT_FOUND
from tests.backtests.run_rows import run_row

pytestmark = pytest.mark.django_db(databases=["default", "secmaster"])


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_run", *args, stdout=out)
    return out.getvalue()


def test_export_run_writes_a_folder_of_parquet_tables(executed_run, tmp_path):
    run_id = executed_run.run_id
    out = tmp_path / "exports"
    text = export(run_id, "--format", "parquet", "--out", str(out))
    folder = out / run_id
    assert f"Exported run {run_id} (parquet) to {folder}" in text
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert files == {f"{name}.parquet" for name in EXPORT_TABLES} | {
        "manifest.json",
        "metrics.json",
        "strategy/sma_crossover.py",
    }
    fills = pq.read_table(folder / "fills.parquet")
    assert fills.num_rows == Fill.objects.filter(run_id=run_id).count()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "parquet"
    assert manifest["tables"]["fills"]["rows"] == fills.num_rows
    # Nothing else was left beside it (the scratch folder was renamed).
    assert [p.name for p in out.iterdir()] == [run_id]


def test_export_run_zip_of_csv(executed_run, tmp_path):
    run_id = executed_run.run_id
    out = tmp_path / "exports"
    export(run_id, "--out", str(out), "--zip")
    archive = zipfile.ZipFile(out / f"{run_id}-csv.zip")
    rows = list(csv.DictReader(io.StringIO(archive.read(f"{run_id}/fills.csv").decode())))
    assert len(rows) == Fill.objects.filter(run_id=run_id).count()
    assert [p.name for p in out.iterdir()] == [f"{run_id}-csv.zip"]


def test_export_run_refuses_existing_target_unknown_run_active_run_and_format(
    executed_run, tmp_path
):
    run_id = executed_run.run_id
    out = tmp_path / "exports"
    export(run_id, "--out", str(out))
    with pytest.raises(CommandError, match="exists already"):
        export(run_id, "--out", str(out))
    assert TARGET_EXISTS.format(path=out / run_id).startswith(str(out))
    with pytest.raises(CommandError) as unknown:
        export("nope", "--out", str(out))
    assert str(unknown.value) == RUN_NOT_FOUND.format(run_id="nope")
    run_row("busy", status=RunStatus.RUNNING)
    with pytest.raises(CommandError, match="running"):
        export("busy", "--out", str(out))
    with pytest.raises(CommandError) as bad_format:
        export(run_id, "--format", "xlsx", "--out", str(out / "other"))
    assert str(bad_format.value) == FORMAT_INVALID.format(value="xlsx")
    assert not (out / "busy").exists() and not (out / "other").exists()
