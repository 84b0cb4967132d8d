"""``manage.py list_studies``: the parameter studies, newest first, with progress and best."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests.studies.models import StudyStatus
from backtests.studies.selectors import studies_list, study_as_dict

MSG_LIMIT = "--limit must be a whole number from 1 to 10000, got {raw!r}"
MSG_STATUS = "--status must be one of: " + ", ".join(StudyStatus.values)


class Command(BaseCommand):
    help = "List parameter studies (newest first): status, search, progress and best value."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", default="50", help="how many (default 50)")
        parser.add_argument("--status", help="only studies with this status")

    def handle(self, *args, **options) -> None:
        try:
            limit = int(options["limit"])
        except ValueError:
            raise CommandError(MSG_LIMIT.format(raw=options["limit"])) from None
        if not 1 <= limit <= 10_000:
            raise CommandError(MSG_LIMIT.format(raw=options["limit"]))
        status = options["status"]
        if status is not None and status not in StudyStatus.values:
            raise CommandError(MSG_STATUS)
        studies = studies_list(limit=limit, status=status)
        header = ["study", "status", "strategy", "sampler", "objective", "trials", "best", "name"]
        rows = []
        for study in studies:
            data = study_as_dict(study)
            progress, best = data["progress"], data["best"]
            rows.append(
                [
                    study.study_id,
                    study.status,
                    study.strategy,
                    study.sampler,
                    f"{study.objective} ({'max' if study.direction == 'maximize' else 'min'})",
                    f"{progress['done']:,}/{progress['total']:,}"
                    + (f" ({progress['failed']:,} failed)" if progress["failed"] else ""),
                    "-" if not best or best["value"] is None else f"{best['value']:,.4g}",
                    study.name,
                ]
            )
        if not rows:
            self.stdout.write("no studies yet (start one with manage.py run_study)")
            return
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)] + [row[-1]]
            self.stdout.write("  ".join(cells).rstrip())
