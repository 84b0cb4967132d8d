"""``manage.py run_backtest``: run one backtest in this process and print its summary.

Only parses arguments; validation and execution are the services'
(``backtest_spec_build``, ``run_create``, ``run_execute``).
"""

from __future__ import annotations

import sys
import time

from django.contrib.auth import get_user_model
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
from backtests.services.backtest_spec import (
    backtest_spec_build,
)
from backtests.services.fill_spec import FILL_FIELDS
from backtests.services.runs import run_create, run_execute
from backtests.services.sensitivity import sensitivity_execute
from ostsite.errors import ServiceError

# Request fields as the user typed them here.
OPTION_OF_FIELD = {
    **DATA_OPTION_OF_FIELD,
    "record": "--record",
    "fill_model": "--fill-model",
    "slippage_ticks": "--slippage-ticks",
    "slippage_bps": "--slippage-bps",
    "tick_size": "--tick-size",
    "participation_cap": "--participation-cap",
    "latency_ms": "--latency-ms",
}
MSG_RUN_FAILED = "run {run_id} failed: {error}"
MSG_RUN_CANCELLED = "run {run_id} was cancelled"
MSG_SENSITIVITY_FAILED = "run {run_id} completed, but its sensitivity report failed: {error}"
MSG_INTERRUPTED = "interrupted; run {run_id} is cancelled"
MSG_NOTE = "note: {note}"
MSG_OWNER_UNKNOWN = "--owner: no user is called {username!r}"


class Command(BaseCommand):
    help = "Run a backtest on the security master's bars and record it in the runs database."

    def add_arguments(self, parser: CommandParser) -> None:
        add_data_arguments(
            parser,
            strategy_required=True,
            param_help="strategy parameter (repeatable), e.g. --param fast_period=20",
        )
        parser.add_argument("--record", default="full", help="full (default) or trades")
        add_money_arguments(parser)
        _add_fill_arguments(parser)
        parser.add_argument(
            "--sensitivity",
            action="store_true",
            help="then run it again under slippage 0/1/2 ticks x participation 100/10/1 %% and"
            " print net P&L and Sharpe per cell (README: Sensitivity report)",
        )
        parser.add_argument("--name", help="run name (default: strategy, symbols and dates)")
        parser.add_argument(
            "--owner",
            metavar="USERNAME",
            help="the user the run belongs to (default: nobody; only users with the "
            "permission may then delete or cancel it)",
        )

    def handle(self, *args, **options) -> None:
        try:
            spec = backtest_spec_build(
                strategy=options["strategy"],
                strategy_params=params_parse(options["param"]),
                symbols=symbols_parse(options["symbols"], options["preset"]),
                rtype=rtype_parse(options["bar_period"], options["strategy"]),
                publisher_id=publisher_parse(options),
                start_date=options["start"],
                end_date=options["end"],
                record=options["record"],
                commission_per_unit=options["commission_per_unit"],
                minimum_commission=options["minimum_commission"],
                fill_timing=options["fill_timing"],
                capital=options["capital"],
                risk_free_rate=options["risk_free_rate"],
                **{field: options[field] for field in FILL_FIELDS},
            )
        except ServiceError as exc:
            raise CommandError(describe(exc, OPTION_OF_FIELD)) from None

        owner = _owner(options["owner"])
        for note in spec.notes:
            self.stdout.write(MSG_NOTE.format(note=note))
        run = run_create(spec=spec, name=options["name"], owner=owner)
        self.stdout.write(f"run {run.run_id}: {run.name}")
        bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() else None
        try:
            run = run_execute(run_id=run.run_id, on_progress=bar.update if bar else None)
        except KeyboardInterrupt:
            raise CommandError(MSG_INTERRUPTED.format(run_id=run.run_id)) from None
        finally:
            if bar:
                bar.close()
        if run.status == "failed":
            raise CommandError(
                MSG_RUN_FAILED.format(run_id=run.run_id, error=run.metadata["error"])
            )
        if run.status != "completed":
            raise CommandError(MSG_RUN_CANCELLED.format(run_id=run.run_id))
        meta = run.metadata
        self.stdout.write(
            f"run {run.run_id} completed: bars {meta['bars']:,}, orders {meta['orders']:,}, "
            f"fills {meta['fills']:,}, {meta['bars_per_second']:,.0f} bars/s"
        )
        self.stdout.write(summary_text(meta.get("summary") or {}))
        fills_line = fills_summary(run.config or {}, meta)
        if fills_line:
            self.stdout.write(fills_line)
        for warning in meta.get("warnings") or []:
            self.stdout.write(f"warning: {warning}")
        if options["sensitivity"]:
            self._sensitivity(run.run_id)
        self.stdout.write(run.run_id)

    def _sensitivity(self, run_id: str) -> None:
        """The run's sensitivity report, computed here, as a table of net P&L and Sharpe."""
        bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() else None
        try:
            progress = (lambda done, total: bar.update(done / total)) if bar else None
            report = sensitivity_execute(run_id=run_id, on_cell=progress)
        finally:
            if bar:
                bar.close()
        if report["status"] != "completed":
            raise CommandError(MSG_SENSITIVITY_FAILED.format(run_id=run_id, error=report["error"]))
        for line in sensitivity_table(report):
            self.stdout.write(line)


def _number(value: object, spec: str, suffix: str = "") -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:{spec}}{suffix}"


def summary_text(summary: dict) -> str:
    """One line of a run's money: the stored summary's figures (``metrics_summary``)."""
    return (
        f"net P&L {_number(summary.get('net_pnl'), ',.2f')} "
        f"(realised {_number(summary.get('realised_pnl'), ',.2f')}, "
        f"open {_number(summary.get('open_pnl'), ',.2f')}) on capital "
        f"{_number(summary.get('capital'), ',.2f')}: return "
        f"{_number(summary.get('total_return_pct'), '.2f', ' %')}, Sharpe "
        f"{_number(summary.get('sharpe'), '.2f')}, max drawdown "
        f"{_number(summary.get('max_drawdown'), ',.2f')} "
        f"({_number(summary.get('max_drawdown_pct'), '.2f', ' %')}), "
        f"trades {_number(summary.get('trades'), ',d')}"
    )


def _add_fill_arguments(parser: CommandParser) -> None:
    group = parser.add_argument_group("fills and costs (README: Fill models)")
    group.add_argument(
        "--fill-model",
        default="classic",
        help="classic (default, OneSecondTrader 0.75's rules), strict or intrabar",
    )
    group.add_argument("--slippage-ticks", default="0", help="ticks against the trader")
    group.add_argument("--slippage-bps", default="0", help="basis points against the trader")
    group.add_argument(
        "--tick-size", default=None, help="tick size for --slippage-ticks (default: from prices)"
    )
    group.add_argument(
        "--participation-cap",
        default=None,
        help="largest share of a bar's volume an order takes, e.g. 0.1 (default: no cap)",
    )
    group.add_argument(
        "--latency-ms", default="0", help="ms from the end of a bar to the broker (default 0)"
    )


def fills_summary(config: dict, meta: dict) -> str:
    """E.g. ``fills: intrabar, 12 ambiguous bars (10 resolved from finer bars, 2 unresolved);
    slippage 1 ticks`` (empty for classic without costs)."""
    parts = []
    model = config.get("fill_model", "classic")
    if "ambiguous_bars" in meta:
        parts.append(
            f"{model}, {meta['ambiguous_bars']:,} ambiguous bars ({meta['resolved_bars']:,}"
            f" resolved from finer bars, {meta['unresolved_bars']:,} unresolved)"
        )
    elif model != "classic":
        parts.append(model)
    if config.get("slippage_ticks"):
        tick = config.get("tick_size")
        parts.append(
            f"slippage {config['slippage_ticks']:g} ticks"
            + (f" of {tick:g}" if tick else " (tick sizes from prices)")
        )
    if config.get("slippage_bps"):
        parts.append(f"slippage {config['slippage_bps']:g} bp")
    if config.get("participation_cap") is not None:
        parts.append(f"at most {config['participation_cap'] * 100:g} % of a bar's volume")
    if config.get("latency_ms"):
        parts.append(f"latency {config['latency_ms']:g} ms")
    return "fills: " + "; ".join(parts) if parts else ""


def sensitivity_table(report: dict) -> list[str]:
    """The report's cells as lines: a row per participation cap, a column per slippage."""
    ticks, caps = report["slippage_ticks"], report["participation_caps"]
    cells = {(c["participation_cap"], c["slippage_ticks"]): c for c in report["cells"]}
    width = 24
    lines = [
        f"sensitivity (fill model {report['fill_model']}): net P&L / Sharpe per cell",
        "volume cap".ljust(12)
        + "".join(f"slippage {t:g} tick{'' if t == 1 else 's'}".rjust(width) for t in ticks),
    ]
    for cap in caps:
        row = f"{cap * 100:g} %".ljust(12)
        for tick in ticks:
            cell = cells.get((cap, tick), {})
            row += (
                f"{_number(cell.get('net_pnl'), ',.2f')} / {_number(cell.get('sharpe'), '.2f')}"
            ).rjust(width)
        lines.append(row)
    lines.append(f"chart: /api/runs/{report['run_id']}/sensitivity.png")
    return lines


def _owner(username: str | None) -> object | None:
    if username is None:
        return None
    user_model = get_user_model()
    try:
        username.encode("utf-8")  # undecodable bytes of a command line: no user has them
        return user_model._default_manager.get_by_natural_key(username)
    except (user_model.DoesNotExist, UnicodeEncodeError):
        raise CommandError(MSG_OWNER_UNKNOWN.format(username=username)) from None


class _ProgressBar:
    """A one-line progress bar on a terminal, redrawn at most ten times a second."""

    WIDTH = 40

    def __init__(self, stream) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and fraction < 1.0:
            return
        self.last = now
        filled = int(self.WIDTH * fraction)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {fraction * 100:5.1f}%  {now - self.started:6.1f}s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
