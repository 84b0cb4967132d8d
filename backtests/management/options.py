"""Command-line options shared by the commands that take a backtest's data and money:
``run_backtest``, ``run_study`` (and what builds on them). Declaring and reading them here
keeps one spelling, one help text and one message per option."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from backtests.engine.enums import BarPeriod
from backtests.services.backtest_spec import publisher_resolve, strategy_classes
from ostsite.errors import ServiceError
from secmaster.selectors import preset_get

# Request fields as the user typed them on the command line.
DATA_OPTION_OF_FIELD = {
    "strategy": "--strategy",
    "strategy_params": "--param",
    "symbols": "--symbols/--preset",
    "rtype": "--bar-period",
    "publisher_id": "--publisher/--publisher-id",
    "start_date": "--start",
    "end_date": "--end",
    "commission_per_unit": "--commission-per-unit",
    "minimum_commission": "--minimum-commission",
    "fill_timing": "--fill-timing",
    "capital": "--capital",
    "risk_free_rate": "--risk-free-rate",
}
MSG_SYMBOLS_OR_PRESET = "give the symbols with --symbols A,B,C or --preset NAME (not both)"
MSG_PARAM_FORMAT = "--param expects name=value, got {raw!r}"
MSG_PARAM_TWICE = "--param {name} is given more than once"
MSG_BAR_PERIOD = "--bar-period must be one of {choices}, got {raw!r}"
MSG_PUBLISHER_BOTH = "give --publisher (with --dataset) or --publisher-id, not both"


def add_data_arguments(parser: CommandParser, *, strategy_required: bool, param_help: str) -> None:
    """The strategy, its fixed parameters and the bars it runs on."""
    parser.add_argument(
        "--strategy", required=strategy_required, help="strategy id, e.g. SMACrossover"
    )
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
        "--param", action="append", default=[], metavar="NAME=VALUE", help=param_help
    )


def add_money_arguments(parser: CommandParser) -> None:
    """Commissions, when fills are seen, the starting capital and the risk-free rate."""
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
    parser.add_argument(
        "--capital", default="100000", help="starting capital in the quote currency"
    )
    parser.add_argument(
        "--risk-free-rate",
        default="0",
        help="annual risk-free rate for Sharpe and Sortino, as a fraction (0.03 = 3 %%)",
    )


def describe(exc: ServiceError, option_of_field: dict[str, str]) -> str:
    """A service's refusal in the command's words: one line per option at fault (a field
    ``space.fast_period`` is told as ``--space fast_period``)."""
    if not exc.fields:
        return exc.message
    lines = []
    for field, message in exc.fields.items():
        head, _, rest = field.partition(".")
        option = option_of_field.get(head, head)
        lines.append(f"{option} {rest}: {message}" if rest else f"{option}: {message}")
    return "\n".join(lines)


def params_parse(raw: list[str]) -> dict[str, str]:
    """``--param name=value`` options as a mapping (each name once)."""
    params: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(MSG_PARAM_FORMAT.format(raw=item))
        if name.strip() in params:
            raise CommandError(MSG_PARAM_TWICE.format(name=name.strip()))
        params[name.strip()] = value.strip()
    return params


def symbols_parse(symbols: str | None, preset: str | None) -> list[str]:
    """The symbols of ``--symbols A,B`` or of ``--preset NAME`` (exactly one of them)."""
    if (symbols is None) == (preset is None):
        raise CommandError(MSG_SYMBOLS_OR_PRESET)
    if preset is not None:
        try:
            return list(preset_get(name=preset).symbols)
        except ServiceError as exc:
            raise CommandError(f"--preset: {exc.message}: {preset!r}") from None
    return [s.strip() for s in symbols.split(",") if s.strip()]


def rtype_parse(bar_period: str | None, strategy_id: str) -> int:
    """The bar period's rtype; by default the strategy's own (an unknown strategy is
    reported later, by the request's validation)."""
    if bar_period is None:
        cls = strategy_classes().get(strategy_id)
        return cls.parameters["bar_period"].default.rtype if cls else BarPeriod.MINUTE.rtype
    try:
        return BarPeriod[bar_period.strip().upper()].rtype
    except KeyError:
        choices = ", ".join(p.name for p in BarPeriod)
        raise CommandError(MSG_BAR_PERIOD.format(choices=choices, raw=bar_period)) from None


def publisher_parse(options: dict) -> int:
    """The publisher id of ``--publisher`` + ``--dataset`` or of ``--publisher-id``."""
    if options["publisher_id"] is not None and (options["publisher"] or options["dataset"]):
        raise CommandError(MSG_PUBLISHER_BOTH)
    try:
        return publisher_resolve(
            name=options["publisher"],
            dataset=options["dataset"],
            publisher_id=options["publisher_id"],
        )
    except ServiceError as exc:
        raise CommandError(describe(exc, DATA_OPTION_OF_FIELD)) from None
