"""What a backtest runs: validated up front, stored as the run's config JSON.

``backtest_spec_build`` takes raw values (a POST body, command-line strings or a stored config)
and either returns a ``BacktestSpec`` or raises ``InvalidInput`` naming every wrong field, so no
run is ever created from a request that could not execute.

User strategy files are brought up to date (``discover_user_code``: new or edited files are
imported again) on every ``strategy_classes()`` call, that is whenever strategies are listed, a
request is validated, and a run starts executing. A strategy whose file fails to import is
refused with ``UserCodeError``, which carries the import traceback for the run's metadata.
"""

from __future__ import annotations

import enum
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings

from backtests.engine.accounting import DEFAULT_CAPITAL
from backtests.engine.enums import BarPeriod, FillTiming
from backtests.engine.fill_model import FillConfig
from backtests.engine.registry import (
    UserCodeFailure,
    discover_user_code,
    strategy_registry,
    user_code_failure,
    user_code_failures,
)
from backtests.engine.strategies.base import ParamError
from backtests.feeds import DEFAULT_SYMBOL_TYPE, NS_PER_DAY
from backtests.services.fill_spec import fill_config_clean, fill_fields_from_mapping
from ostsite.errors import InvalidInput
from secmaster.models import Publisher, SymbolCoverage

RECORD_LEVELS = ("full", "trades")

STRATEGY_NOT_STRING = "strategy must be a strategy id (a string)"
STRATEGY_UNKNOWN = "unknown strategy {strategy!r}; known: {known}"
STRATEGY_NOT_LOADED = "strategy {strategy!r} is not loaded: {path} failed to import: {error}"
PARAMS_NOT_OBJECT = "strategy_params must be an object of parameter name -> value"
PARAMS_BAR_PERIOD_CONFLICT = (
    "strategy_params.bar_period {given!r} disagrees with rtype {rtype} ({period}); "
    "the bar period comes from rtype"
)
RTYPE_INVALID = "rtype must be one of {valid}"
PUBLISHER_INVALID = "publisher_id must be an integer"
PUBLISHER_UNKNOWN = "publisher_id {publisher_id} does not exist"
SYMBOLS_NOT_LIST = "symbols must be a non-empty list of strings"
SYMBOLS_EMPTY = "symbols must name at least one symbol"
SYMBOL_NOT_STRING = "symbol #{index} is not a non-empty string"
SYMBOLS_NO_COVERAGE = "no {period} bars of {publisher} for: {symbols}"
DATE_INVALID = "{field} must be a date YYYY-MM-DD, got {value!r}"
DATE_OUT_OF_RANGE = (
    "{field} must be between {first} and {last} (bar times are 64-bit nanoseconds), got {value}"
)
DATES_REVERSED = "end_date {end} is before start_date {start}"
START_AFTER_DATA = "start_date {start} is after the last bar of these symbols ({last})"
END_BEFORE_DATA = "end_date {end} is before the first bar of these symbols ({first})"
# Dates reaching beyond the data are narrowed to it (the same bars run either way), with a note.
START_CLAMPED = (
    "start_date {start} is before the first bar of these symbols: the run starts on {first}"
)
END_CLAMPED = "end_date {end} is after the last bar of these symbols: the run ends on {last}"
RECORD_INVALID = "record must be one of: full, trades"
FILL_TIMINGS = tuple(t.value for t in FillTiming)
FILL_TIMING_INVALID = "fill_timing must be one of: " + ", ".join(FILL_TIMINGS)
COMMISSION_INVALID = "{field} must be a finite number >= 0"
MAX_CAPITAL = 1e15
CAPITAL_INVALID = f"capital must be a number above 0 and at most {MAX_CAPITAL:,.0f}"
RISK_FREE_INVALID = (
    "risk_free_rate must be an annual rate as a fraction between -0.5 and 1 (0.03 for 3 %)"
)
# Whole UTC days whose bars have 64-bit nanosecond times (1677-09-21 00:12 .. 2262-04-11 23:47).
FIRST_DATE = date(1677, 9, 22)
LAST_DATE = date(2262, 4, 10)
INT64_MAX = 2**63 - 1
_ASCII_INTEGER = re.compile(r"-?[0-9]{1,19}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_registry_lock = threading.Lock()


class UserCodeError(InvalidInput):
    """The strategy's user file failed to import; ``traceback_text`` says where."""

    def __init__(self, message: str, *, fields: dict[str, str], failure: UserCodeFailure) -> None:
        super().__init__(message, fields=fields)
        self.failure = failure
        self.traceback_text = failure.traceback


def strategy_classes() -> dict[str, type]:
    """The strategy registry, after bringing the user's strategy and indicator files up to
    date (new or changed files are imported again)."""
    with _registry_lock:
        discover_user_code(
            strategies_dir=settings.OST_STRATEGIES_DIR,
            indicators_dir=settings.OST_INDICATORS_DIR,
        )
        return strategy_registry()


def user_code_not_loaded() -> list[UserCodeFailure]:
    """The configured folders' user files that failed to import, as of the last discovery."""
    folders = {
        Path(folder)
        for folder in (settings.OST_STRATEGIES_DIR, settings.OST_INDICATORS_DIR)
        if folder is not None
    }
    return [f for f in user_code_failures() if f.path.parent in folders]


def user_code_errors() -> list[str]:
    """Messages ("path: ErrorType: detail") of the user files that are not loaded."""
    return [failure.message for failure in user_code_not_loaded()]


@dataclass(frozen=True)
class BacktestSpec:
    """Everything a run needs, validated; ``params`` are resolved (defaults filled, coerced)."""

    strategy_id: str
    params: Mapping[str, Any]
    symbols: tuple[str, ...]
    bar_period: BarPeriod
    publisher_id: int
    publisher_name: str
    dataset: str
    start_date: date | None
    end_date: date | None
    record: str
    commission_per_unit: float
    minimum_commission: float
    fill_timing: FillTiming = FillTiming.NEXT_BAR
    capital: float = DEFAULT_CAPITAL
    risk_free_rate: float = 0.0
    fills: FillConfig = FillConfig()  # fill model and costs
    notes: tuple[str, ...] = ()  # what validation changed (dates narrowed to the data); not config

    def to_config(self) -> dict:
        """The runs.config JSON (enum values as their names)."""
        return {
            "strategy": self.strategy_id,
            "strategy_params": {k: _json_value(v) for k, v in self.params.items()},
            "symbols": list(self.symbols),
            "rtype": self.bar_period.rtype,
            "bar_period": self.bar_period.name,
            "publisher_id": self.publisher_id,
            "publisher": self.publisher_name,
            "dataset": self.dataset,
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "record": self.record,
            "commission_per_unit": self.commission_per_unit,
            "minimum_commission": self.minimum_commission,
            "fill_timing": self.fill_timing.value,
            "capital": self.capital,
            "risk_free_rate": self.risk_free_rate,
            **self.fills.to_config(),
        }

    def default_name(self) -> str:
        """E.g. ``SMACrossover AAPL,MSFT 2024-01-02..2024-01-31``."""
        shown = ",".join(self.symbols[:5])
        if len(self.symbols) > 5:
            shown += f" +{len(self.symbols) - 5} more"
        start = self.start_date.isoformat() if self.start_date else "first"
        end = self.end_date.isoformat() if self.end_date else "last"
        return f"{self.strategy_id} {shown} {start}..{end}"


def _json_value(value: Any) -> Any:
    return value.name if isinstance(value, enum.Enum) else value


def backtest_spec_from_mapping(data: Mapping[str, Any]) -> BacktestSpec:
    """Build (and validate) a spec from a request body or a run's stored config."""
    if not isinstance(data, Mapping):
        raise InvalidInput("the run has no valid config")
    return backtest_spec_build(
        strategy=data.get("strategy"),
        strategy_params=data.get("strategy_params"),
        symbols=data.get("symbols"),
        rtype=data.get("rtype"),
        publisher_id=data.get("publisher_id"),
        start_date=data.get("start_date"),
        end_date=data.get("end_date"),
        record=data.get("record", "full"),
        commission_per_unit=data.get("commission_per_unit", 0),
        minimum_commission=data.get("minimum_commission", 0),
        fill_timing=data.get("fill_timing", FillTiming.NEXT_BAR.value),
        capital=data.get("capital", DEFAULT_CAPITAL),
        risk_free_rate=data.get("risk_free_rate", 0.0),
        **fill_fields_from_mapping(data),
    )


def backtest_spec_build(
    *,
    strategy: Any,
    strategy_params: Any,
    symbols: Any,
    rtype: Any,
    publisher_id: Any,
    start_date: Any = None,
    end_date: Any = None,
    record: Any = "full",
    commission_per_unit: Any = 0,
    minimum_commission: Any = 0,
    fill_timing: Any = FillTiming.NEXT_BAR.value,
    capital: Any = DEFAULT_CAPITAL,
    risk_free_rate: Any = 0.0,
    **fill_fields: Any,
) -> BacktestSpec:
    """Validate every field of a backtest request; ``InvalidInput`` names each wrong one.

    ``fill_fields``: ``fill_model``, ``slippage_ticks``, ``slippage_bps``, ``tick_size``,
    ``participation_cap``, ``latency_ms`` (``fill_spec.fill_config_clean``).
    """
    errors: dict[str, str] = {}

    period = _clean_rtype(rtype, errors)
    publisher = _clean_publisher(publisher_id, errors)
    symbol_list = _clean_symbols(symbols, errors)
    start = _clean_date("start_date", start_date, errors)
    end = _clean_date("end_date", end_date, errors)
    if start and end and end < start:
        errors["end_date"] = DATES_REVERSED.format(start=start, end=end)
    if record not in RECORD_LEVELS:
        errors["record"] = RECORD_INVALID
    if fill_timing not in FILL_TIMINGS:
        errors["fill_timing"] = FILL_TIMING_INVALID
    per_unit = _clean_money("commission_per_unit", commission_per_unit, errors)
    minimum = _clean_money("minimum_commission", minimum_commission, errors)
    starting = number_clean(capital, 0.0, MAX_CAPITAL, "capital", CAPITAL_INVALID, errors)
    rate = number_clean(risk_free_rate, -0.5, 1.0, "risk_free_rate", RISK_FREE_INVALID, errors)
    if starting is not None and starting <= 0:
        errors["capital"] = CAPITAL_INVALID
    fills = fill_config_clean(**fill_fields, errors=errors)
    strategy_id, params = _clean_strategy(strategy, strategy_params, period, rtype, errors)

    notes: list[str] = []
    if period and publisher and symbol_list:
        start, end = _check_coverage(publisher, period, symbol_list, start, end, errors, notes)

    if errors:
        message = "; ".join(errors.values())
        failure = user_code_failure(strategy) if isinstance(strategy, str) else None
        if failure is not None:
            raise UserCodeError(message, fields=errors, failure=failure)
        raise InvalidInput(message, fields=errors)
    return BacktestSpec(
        strategy_id=strategy_id,
        params=params,
        symbols=tuple(symbol_list),
        bar_period=period,
        publisher_id=publisher.publisher_id,
        publisher_name=publisher.name,
        dataset=publisher.dataset,
        start_date=start,
        end_date=end,
        record=record,
        commission_per_unit=per_unit,
        minimum_commission=minimum,
        fill_timing=FillTiming(fill_timing),
        capital=starting,
        risk_free_rate=rate,
        fills=fills,
        notes=tuple(notes),
    )


def integer_parse(raw: Any) -> int | None:
    """A 64-bit integer given as a JSON number or a string of ASCII digits; else None.

    Other digits (``"²"``, ``"١"``, which ``str.isdigit`` accepts) and numbers beyond 64 bits
    (no id or rtype is that large; databases refuse them) are not integers here.
    """
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _ASCII_INTEGER.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None or not -INT64_MAX - 1 <= value <= INT64_MAX:
        return None
    return value


def _clean_rtype(raw: Any, errors: dict[str, str]) -> BarPeriod | None:
    value = integer_parse(raw)
    if value is None or value not in {p.rtype for p in BarPeriod}:
        valid = ", ".join(f"{p.rtype} ({p.name})" for p in BarPeriod)
        errors["rtype"] = RTYPE_INVALID.format(valid=valid)
        return None
    return BarPeriod.from_rtype(value)


def _clean_publisher(raw: Any, errors: dict[str, str]) -> Publisher | None:
    value = integer_parse(raw)
    if value is None:
        errors["publisher_id"] = PUBLISHER_INVALID
        return None
    publisher = Publisher.objects.filter(publisher_id=value).first()
    if publisher is None:
        errors["publisher_id"] = PUBLISHER_UNKNOWN.format(publisher_id=value)
    return publisher


def _clean_symbols(raw: Any, errors: dict[str, str]) -> list[str]:
    if not isinstance(raw, list | tuple):
        errors["symbols"] = SYMBOLS_NOT_LIST
        return []
    if not raw:
        errors["symbols"] = SYMBOLS_EMPTY
        return []
    cleaned: list[str] = []
    for index, symbol in enumerate(raw, start=1):
        if not isinstance(symbol, str) or not symbol.strip() or not _storable(symbol):
            errors["symbols"] = SYMBOL_NOT_STRING.format(index=index)
            return []
        if symbol.strip() not in cleaned:
            cleaned.append(symbol.strip())
    return cleaned


def _storable(text: str) -> bool:
    """No NUL (PostgreSQL refuses it) and no lone surrogate (no database encodes it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean_date(field: str, raw: Any, errors: dict[str, str]) -> date | None:
    if raw is None or raw == "":
        return None
    day = None
    if isinstance(raw, date):
        day = raw
    elif isinstance(raw, str) and _ISO_DATE.fullmatch(raw.strip()):
        # YYYY-MM-DD in ASCII digits only: not 20240102, not the week date 2024-W01-1.
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            day = None
    if day is None:
        errors[field] = DATE_INVALID.format(field=field, value=raw)
        return None
    if not FIRST_DATE <= day <= LAST_DATE:
        errors[field] = DATE_OUT_OF_RANGE.format(
            field=field, first=FIRST_DATE, last=LAST_DATE, value=day
        )
        return None
    return day


def _clean_money(field: str, raw: Any, errors: dict[str, str]) -> float:
    message = COMMISSION_INVALID.format(field=field)
    value = number_clean(raw, 0.0, math.inf, field, message, errors)
    return 0.0 if value is None else value


def number_clean(
    raw: Any, low: float, high: float, field: str, message: str, errors: dict[str, str]
) -> float | None:
    """A finite number in [low, high] (JSON number or decimal text); None and an error if not."""
    value: float | None = None
    try:
        number = isinstance(raw, int | float) and not isinstance(raw, bool)
        if number or (isinstance(raw, str) and raw.strip().isascii()):
            value = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):  # not a number; an integer beyond any float
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        errors[field] = message
        return None
    return value


def _clean_strategy(
    raw: Any, raw_params: Any, period: BarPeriod | None, rtype: Any, errors: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    if not isinstance(raw, str) or not raw:
        errors["strategy"] = STRATEGY_NOT_STRING
        return "", {}
    registry = strategy_classes()
    cls = registry.get(raw)
    if cls is None:
        failure = user_code_failure(raw)
        if failure is not None:
            errors["strategy"] = STRATEGY_NOT_LOADED.format(
                strategy=raw, path=failure.path, error=failure.error
            )
        else:
            errors["strategy"] = STRATEGY_UNKNOWN.format(strategy=raw, known=", ".join(registry))
        return raw, {}
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, Mapping):
        errors["strategy_params"] = PARAMS_NOT_OBJECT
        return raw, {}
    given = dict(raw_params)
    if period is not None:
        wanted = given.get("bar_period")
        if wanted is not None and _json_value(wanted) not in (period.name, period.rtype):
            errors["strategy_params"] = PARAMS_BAR_PERIOD_CONFLICT.format(
                given=_json_value(wanted), rtype=rtype, period=period.name
            )
            return raw, {}
        given["bar_period"] = period.name
    else:
        given.pop("bar_period", None)
    try:
        return raw, cls.resolve_params(given)
    except ParamError as exc:
        errors["strategy_params"] = str(exc)
        return raw, {}


def _check_coverage(
    publisher: Publisher,
    period: BarPeriod,
    symbols: list[str],
    start: date | None,
    end: date | None,
    errors: dict[str, str],
    notes: list[str],
) -> tuple[date | None, date | None]:
    """Refuse symbols without bars and dates that miss the data; narrow dates reaching beyond
    it to the first / last bar's day (with a note). Returns the (start, end) to run."""
    rows = SymbolCoverage.objects.filter(
        publisher_id=publisher.publisher_id,
        rtype=period.rtype,
        symbol_type=DEFAULT_SYMBOL_TYPE,
        symbol__in=symbols,
    ).values_list("symbol", "min_ts", "max_ts")
    found = {symbol: (lo, hi) for symbol, lo, hi in rows}
    missing = [s for s in symbols if s not in found]
    if missing:
        errors["symbols"] = SYMBOLS_NO_COVERAGE.format(
            period=period.name,
            publisher=f"{publisher.name}/{publisher.dataset}",
            symbols=", ".join(missing),
        )
        return start, end
    first = _ns_date(min(lo for lo, _ in found.values()))
    last = _ns_date(max(hi for _, hi in found.values()))
    if start is not None and start > last:
        errors["start_date"] = START_AFTER_DATA.format(start=start, last=last)
    if end is not None and end < first:
        errors["end_date"] = END_BEFORE_DATA.format(end=end, first=first)
    if "start_date" in errors or "end_date" in errors:
        return start, end
    if start is not None and start < first:
        notes.append(START_CLAMPED.format(start=start, first=first))
        start = first
    if end is not None and end > last:
        notes.append(END_CLAMPED.format(end=end, last=last))
        end = last
    return start, end


def _ns_date(ns: int) -> date:
    return date.fromordinal(date(1970, 1, 1).toordinal() + ns // NS_PER_DAY)


PUBLISHER_NONE = "the security master has no publishers; ingest data first"
PUBLISHER_AMBIGUOUS = "several publishers exist; choose one with {how}: {choices}"
PUBLISHER_NAME_UNKNOWN = "no publisher {what}; known: {choices}"


def publisher_resolve(
    *, name: str | None = None, dataset: str | None = None, publisher_id: Any = None
) -> int:
    """The id of the publisher the caller means: by id, by name (+ dataset), or the only one.

    Raises ``InvalidInput`` (field ``publisher_id``) listing the candidates when the choice is
    missing, unknown or ambiguous.
    """
    if publisher_id is not None:
        value = integer_parse(publisher_id)
        if value is None:
            raise InvalidInput(PUBLISHER_INVALID, fields={"publisher_id": PUBLISHER_INVALID})
        return value
    publishers = list(Publisher.objects.order_by("name", "dataset"))
    if not publishers:
        raise InvalidInput(PUBLISHER_NONE, fields={"publisher_id": PUBLISHER_NONE})
    candidates = [
        p
        for p in publishers
        if (name is None or p.name == name) and (dataset is None or p.dataset == dataset)
    ]
    if len(candidates) == 1:
        return candidates[0].publisher_id

    def listing(items: list[Publisher]) -> str:
        return ", ".join(f"{p.name} {p.dataset} (id {p.publisher_id})" for p in items)

    if not candidates:
        what = " ".join(f"{k} {v!r}" for k, v in (("named", name), ("with dataset", dataset)) if v)
        message = PUBLISHER_NAME_UNKNOWN.format(what=what, choices=listing(publishers))
    else:
        how = "--dataset" if name is not None else "--publisher and --dataset, or --publisher-id"
        message = PUBLISHER_AMBIGUOUS.format(how=how, choices=listing(candidates))
    raise InvalidInput(message, fields={"publisher_id": message})
