"""manage.py make_demo_data: write the demo Databento batch zip and ingest it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ostsite.errors import ServiceError
from secmaster.demo_data import DEMO_PRESETS, ZIP_NAME, demo_zip_write
from secmaster.models import OhlcvBar, SymbolPreset
from secmaster.services.ingest import ingest_databento_paths
from secmaster.services.presets import preset_create

DEFAULT_DIR = Path(settings.BASE_DIR) / "var" / "demo"
PRESET_CREATED = "Created preset {name!r}: {symbols}"


class Command(BaseCommand):
    help = (
        "Write a deterministic demo Databento batch zip (AAPL, MSFT, NVDA, QQQ, SPY; 1s, 1m, 1h "
        "and 1d bars, January 2024), ingest it into the security master and create the preset "
        "'Tech majors' (AAPL, MSFT, NVDA) unless one of that name exists."
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
        for name, symbols in DEMO_PRESETS.items():
            if SymbolPreset.objects.filter(name=name).exists():
                continue  # the user's own preset of that name stays as it is
            preset_create(name=name, symbols=symbols)
            self.stdout.write(PRESET_CREATED.format(name=name, symbols=", ".join(symbols)))
