"""manage.py ingest_databento PATH [PATH...]: load Databento downloads into the security master."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from ostsite.errors import ServiceError
from secmaster.services.ingest import ingest_databento_paths


class TerminalProgress:
    """A one-line progress bar on a terminal (carriage return, no dependency); silent otherwise."""

    def __init__(self, stream: TextIO, width: int = 30, unit: str = "records") -> None:
        self.stream = stream
        self.width = width
        self.unit = unit
        self.enabled = stream.isatty()
        self._last_shown = -1

    def __call__(self, done: int, total: int, records: int) -> None:
        if not self.enabled:
            return
        fraction = min(done / total, 1.0) if total else 1.0
        permille = int(fraction * 1000)
        if permille == self._last_shown:
            return
        self._last_shown = permille
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {fraction:6.1%}  {records:,} {self.unit}")
        self.stream.flush()

    def finish(self, records: int | None = None) -> None:
        """End the bar's line; with ``records`` (the ingest's total), redraw it complete first,
        so the bar ends at the count the summary gives (redraws are skipped within a permille,
        and the last records of a file arrive after its last bytes were read)."""
        if not self.enabled or self._last_shown < 0:
            return
        if records is not None:
            self._last_shown = -1
            self(1, 1, records)
        self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Ingest Databento OHLCV data: batch zips (.dbn.zst/.dbn members with metadata.json and "
        "symbology.json), single .dbn/.dbn.zst files, or folders of them. Each file is stored "
        "whole or not at all; re-ingesting changes nothing. Symbol coverage is rebuilt after. "
        "Refused with the reason, storing nothing: unsafe zip member paths, members or files "
        "expanding beyond OST_INGEST_MAX_MEMBER_BYTES or OST_INGEST_MAX_RATIO times their size, "
        "metadata beyond OST_INGEST_MAX_METADATA_BYTES, non-UTF-8 JSON, unsupported DBN."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Zip, DBN file or folder.")
        parser.add_argument("--publisher", default="databento", help="Publisher name.")
        parser.add_argument(
            "--symbol-type", default="raw_symbol", help="Symbol type stored with the mappings."
        )
        parser.add_argument(
            "--dataset", default=None, help="Dataset to use instead of the files' own."
        )

    def handle(self, *args, paths, publisher, symbol_type, dataset, **options) -> None:
        progress = TerminalProgress(sys.stderr)
        try:
            summary = ingest_databento_paths(
                paths,
                publisher_name=publisher,
                symbol_type=symbol_type,
                dataset=dataset,
                progress=progress,
            )
        except ServiceError as exc:
            progress.finish()
            raise CommandError(exc.message) from exc
        except DatabaseError as exc:
            progress.finish()
            raise CommandError(f"database error (the failing file was not stored): {exc}") from exc
        progress.finish(summary.records)
        self.stdout.write(summary.line())
