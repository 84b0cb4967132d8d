"""``manage.py run_walkforward``: a walk-forward study in N local processes.

The same options as ``run_study`` plus the windows (--mode, --in-sample-days,
--out-of-sample-days, --step-days). Only parses arguments and prints; validation, execution
and reading are the services' (``walkforward_definition_build``, ``walkforward_create``,
``walkforward_run_locally``, selectors).
"""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from backtests.management.commands.run_study import OPTION_OF_FIELD as STUDY_OPTIONS
from backtests.management.commands.run_study import Command as RunStudyCommand
from backtests.management.commands.run_study import _whole, study_fields
from backtests.management.options import describe
from backtests.studies.local import default_jobs
from backtests.walkforward.definition import walkforward_definition_build
from backtests.walkforward.local import walkforward_run_locally
from backtests.walkforward.models import WalkForwardStatus, WalkForwardWindow
from backtests.walkforward.selectors import walkforward_as_dict
from backtests.walkforward.services import (
    walkforward_create,
    walkforward_get,
    walkforward_resume,
)
from ostsite.errors import ServiceError

OPTION_OF_FIELD = {
    **STUDY_OPTIONS,
    "mode": "--mode",
    "in_sample_days": "--in-sample-days",
    "out_of_sample_days": "--out-of-sample-days",
    "step_days": "--step-days",
    "windows": "windows",
}
MSG_JOBS = "--jobs must be a whole number of processes from 1 to 256, got {raw!r}"
MSG_INTERRUPTED = (
    "interrupted; walk-forward {walkforward_id} is cancelled "
    "(continue it with --resume {walkforward_id})"
)
MSG_FAILED = "walk-forward {walkforward_id} failed: {error}"
MSG_RESUME_ALONE = "--resume continues a walk-forward as it was defined: give only --jobs with it"
WINDOW_OPTIONS = ("mode", "in_sample_days", "out_of_sample_days", "step_days")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


class Command(RunStudyCommand):
    help = (
        "Walk-forward: a parameter study on each in-sample window, its best point run on the "
        "out-of-sample days after it, the out-of-sample parts stitched; prints the windows "
        "table and the verdict."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--mode", default="rolling", help="rolling (default) or anchored")
        parser.add_argument("--in-sample-days", help="trading days of each in-sample part")
        parser.add_argument("--out-of-sample-days", help="trading days of each out-of-sample part")
        parser.add_argument("--step-days", help="trading days between windows (default: OOS)")

    def handle(self, *args, **options) -> None:
        jobs = (
            default_jobs() if options["jobs"] is None else _whole(options["jobs"], 1, 256, MSG_JOBS)
        )
        try:
            if options["resume"]:
                if options["strategy"] or options["in_sample_days"]:
                    raise CommandError(MSG_RESUME_ALONE)
                walkforward = walkforward_resume(walkforward_id=options["resume"], enqueue=False)
            else:
                definition = walkforward_definition_build(
                    mode=options["mode"],
                    in_sample_days=options["in_sample_days"],
                    out_of_sample_days=options["out_of_sample_days"],
                    step_days=options["step_days"],
                    **study_fields(options),
                )
                walkforward = walkforward_create(definition=definition, enqueue=False)
        except ServiceError as exc:
            raise CommandError(describe(exc, OPTION_OF_FIELD)) from None
        total = walkforward.windows.count()
        self.stdout.write(f"walk-forward {walkforward.walkforward_id}: {walkforward.name}")
        self.stdout.write(
            f"{total} {walkforward.mode} windows of {walkforward.in_sample_days} in-sample + "
            f"{walkforward.out_of_sample_days} out-of-sample trading days (step "
            f"{walkforward.step_days}); each study on {jobs} process(es)"
        )
        self.stdout.flush()

        def on_window(window: WalkForwardWindow) -> None:
            oos = window.oos_metrics or {}
            self.stdout.write(
                f"window {window.index + 1}/{total} {window.status}: "
                f"in-sample {window.is_start}..{window.is_end} chose {window.params}, "
                f"out-of-sample {window.oos_start}..{window.oos_end} net P&L "
                f"{_num(oos.get('net_pnl'))}{' ' + window.error if window.error else ''}"
            )
            self.stdout.flush()

        try:
            walkforward_run_locally(
                walkforward_id=walkforward.walkforward_id, jobs=jobs, on_window=on_window
            )
        except KeyboardInterrupt:
            raise CommandError(
                MSG_INTERRUPTED.format(walkforward_id=walkforward.walkforward_id)
            ) from None
        self._report_walkforward(walkforward.walkforward_id)

    def _report_walkforward(self, walkforward_id: str) -> None:
        walkforward = walkforward_get(walkforward_id=walkforward_id)
        data = walkforward_as_dict(walkforward, detail=True)
        names = list(data["parameters"])
        header = ["window", "in-sample", "out-of-sample", *names, "IS ann.", "OOS ann.", "WFE"]
        header += ["OOS P&L", "trades"]
        rows = [
            [
                str(w["number"]),
                f"{w['is_start']}..{w['is_end']}",
                f"{w['oos_start']}..{w['oos_end']}",
                *(str((w["params"] or {}).get(n, "-")) for n in names),
                _pct(w["is_annual_return"]),
                _pct(w["oos_annual_return"]),
                _num(w["efficiency"]),
                _num(w["oos_net_pnl"]),
                "-" if w["oos_trades"] is None else f"{w['oos_trades']:,}",
            ]
            for w in data["windows"]
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        metrics = data.get("metrics") or {}
        if metrics:
            self.stdout.write(
                f"stitched out of sample: {metrics.get('trading_days', 0):,} trading days, "
                f"return {_num(metrics.get('total_return_pct'))}% (buy and hold "
                f"{_num(metrics.get('benchmark_return_pct'))}%), Sharpe "
                f"{_num(metrics.get('sharpe'))}, max drawdown "
                f"{_num(metrics.get('max_drawdown_pct'))}%, efficiency {_num(data['efficiency'])}"
            )
        if data.get("verdict"):
            self.stdout.write(data["verdict"])
        if walkforward.status == WalkForwardStatus.FAILED:
            raise CommandError(
                MSG_FAILED.format(walkforward_id=walkforward_id, error=walkforward.error)
            )
        self.stdout.write(f"{walkforward.status} {walkforward_id}")
