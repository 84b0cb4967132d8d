"""``manage.py rerun RUN_ID``: run a completed run again here from its config and say
whether the fills are identical. Exit code 0 identical, 1 different, 2 when it cannot tell
(unknown or unfinished run, a config that no longer runs, a rerun that failed).

Only parses arguments and prints; the work is ``backtests.services.rerun``'s.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests.models import RunStatus
from backtests.services.rerun import fills_compare, rerun_create
from backtests.services.runs import run_execute
from ostsite.errors import ServiceError

EXIT_DIFFERENT = 1
EXIT_CANNOT_TELL = 2
RERUN_FAILED = "rerun {rerun_id} of {run_id} ended {status}: {error}"


class Command(BaseCommand):
    help = "Run a completed run again from its config and compare the fills one by one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", help="the completed run to run again")

    def handle(self, *args, **options) -> None:
        try:
            original, rerun = rerun_create(run_id=options["run_id"])
            self.stdout.write(f"Running {original.run_id} again as {rerun.run_id}…")
            rerun = run_execute(run_id=rerun.run_id)
        except ServiceError as exc:
            raise CommandError(exc.message, returncode=EXIT_CANNOT_TELL) from None
        if rerun.status != RunStatus.COMPLETED:
            error = (rerun.metadata or {}).get("error") or "no error recorded"
            message = RERUN_FAILED.format(
                rerun_id=rerun.run_id, run_id=original.run_id, status=rerun.status, error=error
            )
            raise CommandError(message, returncode=EXIT_CANNOT_TELL)
        result = fills_compare(original_id=original.run_id, rerun_id=rerun.run_id)
        if result.identical:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Fills identical: {result.original_fills:,} fills of {original.run_id} "
                    f"and its rerun {rerun.run_id} agree on time, symbol, side, quantity, "
                    "price and commission."
                )
            )
            return
        self.stdout.write(
            self.style.ERROR(f"Fills differ ({original.run_id} vs rerun {rerun.run_id}): ")
            + result.message
        )
        sys.exit(EXIT_DIFFERENT)
