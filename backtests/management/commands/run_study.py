"""``manage.py run_study``: search a strategy's parameters in N local processes.

Only parses arguments and prints; validation, execution and reading are the services'
(``study_definition_build``, ``study_create``, ``study_run_locally``, selectors).
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests.management.options import (
    DATA_OPTION_OF_FIELD,
    add_data_arguments,
    add_money_arguments,
    describe,
    params_parse,
    publisher_parse,
    rtype_parse,
    symbols_parse,
)
from backtests.studies.analysis import study_analysis_get
from backtests.studies.definition import study_definition_build
from backtests.studies.local import default_jobs, study_run_locally
from backtests.studies.models import Study, StudyStatus
from backtests.studies.selectors import study_progress, trials_queryset
from backtests.studies.services import study_create, study_get, study_resume
from ostsite.errors import ServiceError

OPTION_OF_FIELD = {
    **DATA_OPTION_OF_FIELD,
    "strategy_params": "--param",
    "space": "--space",
    "constraints": "--constraint",
    "sampler": "--sampler",
    "objective": "--objective",
    "direction": "--direction",
    "min_trades": "--min-trades",
    "n_trials": "--trials",
    "time_limit_seconds": "--time-limit",
    "seed": "--seed",
    "batch_size": "--batch-size",
    "pbo_splits": "--pbo-splits",
    "name": "--name",
}
MSG_SPACE_FORMAT = "--space expects NAME=MIN:MAX[:STEP], NAME=A,B,C or NAME=VALUE, got {raw!r}"
MSG_SPACE_TWICE = "--space {name} is given more than once"
MSG_JOBS = "--jobs must be a whole number of processes from 1 to 256, got {raw!r}"
MSG_TOP = "--top must be a whole number from 1 to 1000, got {raw!r}"
MSG_RESUME_ALONE = (
    "--resume continues a study as it was defined: give only --jobs and --top with it"
)
MSG_INTERRUPTED = (
    "interrupted; study {study_id} is cancelled (continue it with --resume {study_id})"
)
MSG_FAILED = "study {study_id} failed: {error}"
STUDY_OPTIONS = (
    "strategy",
    "symbols",
    "preset",
    "bar_period",
    "publisher",
    "dataset",
    "publisher_id",
    "start",
    "end",
    "param",
    "space",
    "constraint",
    "objective",
    "direction",
    "min_trades",
    "sampler",
    "trials",
    "time_limit",
    "seed",
    "batch_size",
    "pbo_splits",
    "name",
)


def space_entry(text: str) -> dict:
    """``5:50:5`` -> a range with a step, ``5:50`` -> a range, ``a,b,c`` -> values,
    ``7`` -> fixed (texts as typed: the strategy's ParamSpec converts them)."""
    if ":" in text:
        parts = [part.strip() for part in text.split(":")]
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise ValueError(text)
        entry: dict = {"min": parts[0], "max": parts[1]}
        if len(parts) == 3 and parts[2]:
            entry["step"] = parts[2]
        return entry
    if "," in text:
        values = [part.strip() for part in text.split(",")]
        if not all(values):
            raise ValueError(text)
        return {"values": values}
    if not text.strip():
        raise ValueError(text)
    return {"value": text.strip()}


def _space(raw: list[str]) -> dict:
    space: dict = {}
    for item in raw:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CommandError(MSG_SPACE_FORMAT.format(raw=item))
        if name in space:
            raise CommandError(MSG_SPACE_TWICE.format(name=name))
        try:
            space[name] = space_entry(value)
        except ValueError:
            raise CommandError(MSG_SPACE_FORMAT.format(raw=item)) from None
    return space


def _whole(raw: str, low: int, high: int, message: str) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise CommandError(message.format(raw=raw)) from None
    if not low <= value <= high:
        raise CommandError(message.format(raw=raw))
    return value


class _StudyBar:
    """One line on a terminal: trials done / total, failed, best so far, ETA."""

    WIDTH = 30

    def __init__(self, stream) -> None:
        self.stream = stream
        self.last = 0.0

    def update(self, study: Study) -> None:
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        progress = study_progress(study)
        fraction = progress["done"] / progress["total"] if progress["total"] else 1.0
        filled = int(self.WIDTH * fraction)
        best = trials_queryset(
            study, sort="value", descending=study.direction == "maximize", status="complete"
        ).first()
        best_text = f"best {best.value:,.4g}" if best and best.value is not None else "best -"
        eta = progress["eta_seconds"]
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress['done']:,}/"
            f"{progress['total']:,} trials, {progress['failed']:,} failed, {best_text}"
            f"{'' if eta is None else f', ETA {eta:,.0f} s'}   "
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Search a strategy's parameters (grid, random, TPE or CMA-ES) in N local processes; "
        "prints the top trials and the study id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_data_arguments(
            parser,
            strategy_required=False,
            param_help="fix a parameter that is not searched (repeatable)",
        )
        parser.add_argument(
            "--space",
            action="append",
            default=[],
            metavar="NAME=SPEC",
            help="search a parameter: NAME=MIN:MAX[:STEP], NAME=A,B,C or NAME=VALUE (repeatable)",
        )
        parser.add_argument(
            "--constraint",
            action="append",
            default=[],
            metavar="RULE",
            help='a rule between parameters, e.g. "fast_period < slow_period" (repeatable)',
        )
        parser.add_argument("--objective", help="run metric (default net_pnl)")
        parser.add_argument("--direction", help="maximize or minimize (default per metric)")
        parser.add_argument("--min-trades", help="fewer trades make a trial infeasible")
        parser.add_argument(
            "--sampler",
            help="grid, random, tpe or cmaes (default: grid when every range has a step)",
        )
        parser.add_argument("--trials", help="number of trials (default: the grid's size)")
        parser.add_argument("--time-limit", help="stop after this many seconds")
        parser.add_argument("--seed", help="seed of random and model-based samplers")
        parser.add_argument("--batch-size", help="trials per task (default 4)")
        parser.add_argument("--pbo-splits", help="CSCV blocks for PBO (default 16)")
        add_money_arguments(parser)
        parser.add_argument("--name", help="study name")
        parser.add_argument(
            "--jobs", default=None, help="local processes (default: the machine's cores)"
        )
        parser.add_argument("--top", default="5", help="how many of the best trials to print")
        parser.add_argument("--resume", metavar="STUDY_ID", help="continue this study")

    def handle(self, *args, **options) -> None:
        jobs = (
            default_jobs() if options["jobs"] is None else _whole(options["jobs"], 1, 256, MSG_JOBS)
        )
        top = _whole(options["top"], 1, 1000, MSG_TOP)
        try:
            if options["resume"]:
                given = [k for k in STUDY_OPTIONS if options.get(k) not in (None, [], "")]
                if given:
                    raise CommandError(MSG_RESUME_ALONE)
                study = study_resume(study_id=options["resume"], enqueue=False)
            else:
                study = study_create(definition=self._definition(options), enqueue=False)
        except ServiceError as exc:
            raise CommandError(describe(exc, OPTION_OF_FIELD)) from None
        self.stdout.write(f"study {study.study_id}: {study.name}")
        self.stdout.write(
            f"{study.sampler} search of {study.n_trials:,} trials on {jobs} process(es); "
            f"objective {study.objective} ({study.direction}), seed {study.seed}"
        )
        self.stdout.flush()
        bar = _StudyBar(sys.stderr) if sys.stderr.isatty() else None
        try:
            study = study_run_locally(
                study_id=study.study_id, jobs=jobs, on_poll=bar.update if bar else None
            )
        except KeyboardInterrupt:
            raise CommandError(MSG_INTERRUPTED.format(study_id=study.study_id)) from None
        finally:
            if bar:
                bar.close()
        self._report(study_get(study_id=study.study_id), top)

    def _definition(self, options: dict):
        return study_definition_build(**study_fields(options))

    def _report(self, study: Study, top: int) -> None:
        progress = study_progress(study)
        self.stdout.write(
            f"study {study.study_id} {study.status}: {progress['done']:,} trials "
            f"({progress['complete']:,} complete, {progress['infeasible']:,} infeasible, "
            f"{progress['failed']:,} failed) in {progress['elapsed_seconds'] or 0:,.1f} s"
        )
        if study.note:
            self.stdout.write(study.note)
        searched = [n for n, e in study.space.items() if e.get("kind") != "fixed"]
        best = list(
            trials_queryset(
                study, sort="value", descending=study.direction == "maximize", status="complete"
            )[:top]
        )
        if best:
            self.stdout.write(f"top {len(best)} by {study.objective}:")
            header = ["trial", *searched, study.objective, "trades", "sharpe", "max_drawdown"]
            rows = [
                [
                    str(t.number),
                    *(str(t.params.get(n)) for n in searched),
                    _fmt(t.value),
                    _fmt((t.metrics or {}).get("trades")),
                    _fmt((t.metrics or {}).get("sharpe")),
                    _fmt((t.metrics or {}).get("max_drawdown")),
                ]
                for t in best
            ]
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
            for row in [header, *rows]:
                cells = (cell.rjust(w) for cell, w in zip(row, widths, strict=True))
                self.stdout.write("  ".join(cells))
        if study.status in (StudyStatus.COMPLETED, StudyStatus.FAILED):
            analysis, _ = study_analysis_get(study)
            if analysis.get("verdict"):
                self.stdout.write(analysis["verdict"])
        if study.status == StudyStatus.FAILED:
            raise CommandError(MSG_FAILED.format(study_id=study.study_id, error=study.error))
        self.stdout.write(study.study_id)


def study_fields(options: dict) -> dict:
    """The study's fields from the command's options (``run_walkforward`` shares them)."""
    if not options["strategy"]:
        raise CommandError("--strategy is required (or --resume ID)")
    return dict(
        strategy=options["strategy"],
        symbols=symbols_parse(options["symbols"], options["preset"]),
        rtype=rtype_parse(options["bar_period"], options["strategy"]),
        publisher_id=publisher_parse(options),
        start_date=options["start"],
        end_date=options["end"],
        strategy_params=params_parse(options["param"]),
        space=_space(options["space"]),
        constraints=options["constraint"],
        sampler=options["sampler"],
        objective=options["objective"] or "net_pnl",
        direction=options["direction"],
        min_trades=options["min_trades"],
        n_trials=options["trials"],
        time_limit_seconds=options["time_limit"],
        seed=options["seed"],
        batch_size=options["batch_size"] or 4,
        pbo_splits=options["pbo_splits"] or 16,
        commission_per_unit=options["commission_per_unit"],
        minimum_commission=options["minimum_commission"],
        fill_timing=options["fill_timing"],
        capital=options["capital"],
        risk_free_rate=options["risk_free_rate"],
        name=options["name"],
    )


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
