"""manage.py rebuild_bar_blocks [--publisher-id N]: rewrite ohlcv_blocks from the ohlcv table."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from ostsite.errors import ServiceError
from secmaster.management.commands.ingest_databento import TerminalProgress
from secmaster.services.bar_blocks import bar_blocks_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the columnar bar blocks (ohlcv_blocks) from the ohlcv table, for every "
        "publisher or one. Ingest keeps the blocks in step by itself; run this after changing "
        "ohlcv by other means, so that backtests read those bars from blocks again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--publisher-id",
            type=int,
            default=None,
            help="Only the instruments of this publisher (default: all).",
        )

    def handle(self, *args, publisher_id: int | None, **options) -> None:
        progress = TerminalProgress(sys.stderr, unit="blocks")
        instruments = 0

        def report(done: int, total: int, blocks: int) -> None:
            nonlocal instruments
            instruments = total
            progress(done, total, blocks)

        started = time.perf_counter()
        try:
            blocks = bar_blocks_rebuild(publisher_id=publisher_id, progress=report)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        finally:
            progress.finish()
        scope = "all publishers" if publisher_id is None else f"publisher {publisher_id}"
        self.stdout.write(
            f"Rebuilt bar blocks of {scope}: {blocks:,} blocks for {instruments:,} instruments"
            f" in {time.perf_counter() - started:.1f} s."
        )
