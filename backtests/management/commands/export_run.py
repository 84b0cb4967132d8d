"""``manage.py export_run RUN_ID --format csv|parquet --out DIR``: a run's tables, metrics,
strategy source and manifest as files in ``DIR/RUN_ID/`` (or one zip with ``--zip``).

Only parses arguments; the export is ``backtests.export.archive``'s.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests.export.archive import (
    TARGET_EXISTS,
    export_dir_write,
    export_format_check,
    export_run_check,
    export_zip_write,
)
from backtests.export.tables import EXPORT_FORMATS
from backtests.results.selectors import run_for_results
from ostsite.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Export a run's round trips, fills, orders, equity and metrics (CSV or Parquet) with "
        "its strategy's source and a manifest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", help="the run to export")
        parser.add_argument(
            "--format", default="csv", help=f"{' or '.join(EXPORT_FORMATS)} (default csv)"
        )
        parser.add_argument(
            "--out", default=".", help="folder to write RUN_ID/ (or the zip) into (default .)"
        )
        parser.add_argument(
            "--zip", action="store_true", help="write one RUN_ID-FORMAT.zip instead of a folder"
        )

    def handle(self, *args, **options) -> None:
        out_dir = Path(options["out"]).expanduser()
        try:
            export_format = export_format_check(options["format"])
            run = run_for_results(options["run_id"])
            export_run_check(run)
            if options["zip"]:
                target = out_dir / f"{run.run_id}-{export_format}.zip"
                if target.exists():
                    raise CommandError(TARGET_EXISTS.format(path=target))
                out_dir.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                try:
                    with partial.open("wb") as sink:
                        manifest = export_zip_write(run, export_format=export_format, sink=sink)
                    partial.rename(target)
                finally:
                    partial.unlink(missing_ok=True)
            else:
                target = export_dir_write(run, export_format=export_format, out_dir=out_dir)
                manifest = None
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"cannot write to {out_dir}: {exc}") from None
        if manifest is None:
            import json

            manifest = json.loads((target / "manifest.json").read_text())
        tables = manifest["tables"]
        counts = ", ".join(f"{name} {entry['rows']:,}" for name, entry in tables.items())
        self.stdout.write(f"Exported run {run.run_id} ({export_format}) to {target}")
        self.stdout.write(f"Rows: {counts}")
        strategy = manifest["strategy"]
        if strategy.get("sha256"):
            self.stdout.write(
                f"Strategy source {strategy['source_file']} sha256 {strategy['sha256']}"
            )
        else:
            self.stdout.write(f"Strategy source not included: {strategy.get('error')}")
