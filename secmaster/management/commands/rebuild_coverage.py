"""manage.py rebuild_coverage: recompute symbol_coverage from symbology and bars."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from secmaster.services.coverage import coverage_rebuild


class Command(BaseCommand):
    help = "Rebuild the symbol_coverage table from the symbology mappings and the stored bars."

    def handle(self, *args, **options) -> None:
        rows = coverage_rebuild()
        self.stdout.write(f"Rebuilt symbol coverage: {rows} (publisher, symbol, rtype) rows.")
