"""``manage.py run_backtest``: run one backtest in this process and print its summary.

Only parses arguments; validation and execution are the services'
(``backtest_spec_build``, ``run_create``, ``run_execute``).
"""

from __future__ import annotations

import sys
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests.engine.enums import BarPeriod
from backtests.services.backtest_spec import (
    backtest_spec_build,
    publisher_resolve,
    strategy_classes,
)
from backtests.services.runs import run_create, run_execute
from ostsite.errors import ServiceError
from secmaster.selectors import preset_get

# Request fields as the user typed them here.
OPTION_OF_FIELD = {
    "strategy": "--strategy",
    "strategy_params": "--param",
    "symbols": "--symbols/--preset",
    "rtype": "--bar-period",
    "publisher_id": "--publisher/--publisher-id",
    "start_date": "--start",
    "end_date": "--end",
    "record": "--record",
    "commission_per_unit": "--commission-per-unit",
    "minimum_commission": "--minimum-commission",
    "fill_timing": "--fill-timing",
}
MSG_SYMBOLS_OR_PRESET = "give the symbols with --symbols A,B,C or --preset NAME (not both)"
MSG_PARAM_FORMAT = "--param expects name=value, got {raw!r}"
MSG_PARAM_TWICE = "--param {name} is given more than once"
MSG_BAR_PERIOD = "--bar-period must be one of {choices}, got {raw!r}"
MSG_PUBLISHER_BOTH = "give --publisher (with --dataset) or --publisher-id, not both"
MSG_RUN_FAILED = "run {run_id} failed: {error}"
MSG_RUN_CANCELLED = "run {run_id} was cancelled"
MSG_INTERRUPTED = "interrupted; run {run_id} is cancelled"
MSG_OWNER_UNKNOWN = "--owner: no user is called {username!r}"


class Command(BaseCommand):
    help = "Run a backtest on the security master's bars and record it in the runs database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True, help="strategy id, e.g. SMACrossover")
        parser.add_argument("--symbols", help="comma-separated symbols, e.g. AAPL,MSFT")
        parser.add_argument("--preset", help="name of a saved symbol preset")
        parser.add_argument(
            "--bar-period", help="SECOND, MINUTE, HOUR or DAY (default: the strategy's)"
        )
        parser.add_argument("--publisher", help="publisher name, e.g. databento")
        parser.add_argument("--dataset", help="dataset of that publisher, e.g. XNAS.ITCH")
        parser.add_argument("--publisher-id", help="publisher id (instead of name + dataset)")
        parser.add_argument("--start", help="first day, YYYY-MM-DD (default: first bar)")
        parser.add_argument("--end", help="last day, inclusive, YYYY-MM-DD (default: last bar)")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="strategy parameter (repeatable), e.g. --param fast_period=20",
        )
        parser.add_argument("--record", default="full", help="full (default) or trades")
        parser.add_argument("--commission-per-unit", default="0")
        parser.add_argument("--minimum-commission", default="0")
        parser.add_argument(
            "--fill-timing",
            default="next_bar",
            help=(
                "when on_bar learns of fills at its bar's open: next_bar (default, as "
                "OneSecondTrader 0.75: after on_bar) or same_bar (before on_bar)"
            ),
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
                strategy_params=_params(options["param"]),
                symbols=_symbols(options["symbols"], options["preset"]),
                rtype=_rtype(options["bar_period"], options["strategy"]),
                publisher_id=_publisher(options),
                start_date=options["start"],
                end_date=options["end"],
                record=options["record"],
                commission_per_unit=options["commission_per_unit"],
                minimum_commission=options["minimum_commission"],
                fill_timing=options["fill_timing"],
            )
        except ServiceError as exc:
            raise CommandError(_describe(exc)) from None

        run = run_create(spec=spec, name=options["name"], owner=_owner(options["owner"]))
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
            f"run {run.run_id} completed: bars {meta['bars']}, orders {meta['orders']}, "
            f"fills {meta['fills']}, net P&L {meta['net_pnl']:.2f}, "
            f"gross P&L {meta['gross_pnl']:.2f}, {meta['bars_per_second']:,.0f} bars/s"
        )
        self.stdout.write(run.run_id)


def _owner(username: str | None) -> object | None:
    if username is None:
        return None
    user_model = get_user_model()
    try:
        username.encode("utf-8")  # undecodable bytes of a command line: no user has them
        return user_model._default_manager.get_by_natural_key(username)
    except (user_model.DoesNotExist, UnicodeEncodeError):
        raise CommandError(MSG_OWNER_UNKNOWN.format(username=username)) from None


def _describe(exc: ServiceError) -> str:
    if not exc.fields:
        return exc.message
    return "\n".join(f"{OPTION_OF_FIELD.get(f, f)}: {m}" for f, m in exc.fields.items())


def _params(raw: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(MSG_PARAM_FORMAT.format(raw=item))
        if name.strip() in params:
            raise CommandError(MSG_PARAM_TWICE.format(name=name.strip()))
        params[name.strip()] = value.strip()
    return params


def _symbols(symbols: str | None, preset: str | None) -> list[str]:
    if (symbols is None) == (preset is None):
        raise CommandError(MSG_SYMBOLS_OR_PRESET)
    if preset is not None:
        try:
            return list(preset_get(name=preset).symbols)
        except ServiceError as exc:
            raise CommandError(f"--preset: {exc.message}: {preset!r}") from None
    return [s.strip() for s in symbols.split(",") if s.strip()]


def _rtype(bar_period: str | None, strategy_id: str) -> int:
    if bar_period is None:  # the strategy's own default (an unknown strategy is reported later)
        cls = strategy_classes().get(strategy_id)
        return cls.parameters["bar_period"].default.rtype if cls else BarPeriod.MINUTE.rtype
    try:
        return BarPeriod[bar_period.strip().upper()].rtype
    except KeyError:
        choices = ", ".join(p.name for p in BarPeriod)
        raise CommandError(MSG_BAR_PERIOD.format(choices=choices, raw=bar_period)) from None


def _publisher(options: dict) -> int:
    if options["publisher_id"] is not None and (options["publisher"] or options["dataset"]):
        raise CommandError(MSG_PUBLISHER_BOTH)
    try:
        return publisher_resolve(
            name=options["publisher"],
            dataset=options["dataset"],
            publisher_id=options["publisher_id"],
        )
    except ServiceError as exc:
        raise CommandError(_describe(exc)) from None


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
