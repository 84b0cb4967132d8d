"""manage.py make_demo_data: write the demo Databento batch zip and ingest it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ostsite.errors import ServiceError
from secmaster.demo_data import ZIP_NAME, demo_zip_write
from secmaster.models import OhlcvBar
from secmaster.services.ingest import ingest_databento_paths

DEFAULT_DIR = Path(settings.BASE_DIR) / "var" / "demo"


class Command(BaseCommand):
    help = (
        "Write a deterministic demo Databento batch zip (AAPL, MSFT, NVDA, QQQ, SPY; 1s, 1m, 1h "
        "and 1d bars, January 2024) and ingest it into the security master."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the security master already holds bars.",
        )
        parser.add_argument(
            "--out", type=Path, default=None, help=f"Zip to write (default var/demo/{ZIP_NAME})."
        )

    def handle(self, *args, if_empty: bool, out: Path | None, **options) -> None:
        if if_empty and OhlcvBar.objects.exists():
            self.stdout.write("The security master already holds bars; demo data not loaded.")
            return
        out = out or DEFAULT_DIR / ZIP_NAME
        if out.is_dir():
            out = out / ZIP_NAME
        try:
            path = demo_zip_write(out)
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc}") from exc
        self.stdout.write(f"Wrote {path}")
        try:
            summary = ingest_databento_paths([path])
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(summary.line())
