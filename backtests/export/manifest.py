"""What an export's ``manifest.json`` says about the run, so it can be understood and run
again elsewhere: its config, the strategy's source file (copied into the export) and its
SHA-256, the indicators, the data it read, the fill model and costs, the engine's version.

The data section is read from the security master at export time through the run's
symbology (the same spans the datafeed reads): per symbol the first and last bar and the bar
count in the run's date range. The strategy file is hashed as it is at export time.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import platform
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min

from backtests.engine.enums import BarPeriod
from backtests.engine.version import ENGINE_VERSION, FILLS_COMPATIBLE_WITH
from backtests.feeds import SecmasterDatafeed
from backtests.models import Run
from backtests.services.fill_spec import FILL_FIELDS
from secmaster.models import OhlcvBar

MANIFEST_FORMAT = 1
STRATEGY_NOT_REGISTERED = "strategy {strategy!r} is not registered now: {error}"
STRATEGY_SOURCE_UNREADABLE = "the source file of {strategy!r} cannot be read: {error}"
DATA_NOT_DESCRIBED = "the run's config names no publisher and bar period"
GIT_TIMEOUT_SECONDS = 3
# Config keys that describe fills and costs (also those the fill models add).
# The config keys that say how orders fill and what they cost.
FILL_KEYS = ("fill_timing", "commission_per_unit", "minimum_commission", *FILL_FIELDS)


@functools.cache
def git_describe() -> str | None:
    """``git describe --always --dirty --tags`` of the project's checkout; None without git."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = result.stdout.strip()
    return text if result.returncode == 0 and text else None


def engine_version_info() -> dict[str, Any]:
    """The engine's version (``backtests.engine.version``), the checkout's git description
    when there is one, and the Python that ran the export."""
    return {
        "version": ENGINE_VERSION,
        "git": git_describe(),
        "fills_compatible_with": FILLS_COMPATIBLE_WITH,
        "python": platform.python_version(),
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def strategy_source(strategy_id: Any) -> tuple[Path | None, dict[str, Any]]:
    """The strategy's source file (None when unavailable) and its manifest entry."""
    from backtests.services.backtest_spec import strategy_classes

    entry: dict[str, Any] = {"id": strategy_id}
    cls = strategy_classes().get(strategy_id) if isinstance(strategy_id, str) else None
    if cls is None:
        entry["error"] = STRATEGY_NOT_REGISTERED.format(
            strategy=strategy_id, error="no such strategy in the registry"
        )
        return None, entry
    entry["class"] = f"{cls.__module__}.{cls.__qualname__}"
    try:
        path = Path(inspect.getsourcefile(cls) or "")
        entry.update(source_file=f"strategy/{path.name}", path=str(path), sha256=file_sha256(path))
    except (OSError, TypeError) as exc:
        entry["error"] = STRATEGY_SOURCE_UNREADABLE.format(strategy=strategy_id, error=exc)
        return None, entry
    return path, entry


def _ns_iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _config_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def data_read(config: dict[str, Any]) -> dict[str, Any]:
    """Publisher, dataset, bar period, dates and, per symbol, the first and last bar and the
    bar count the run's symbology gives in its date range (security master, now)."""
    publisher_id, rtype = config.get("publisher_id"), config.get("rtype")
    symbols = [s for s in config.get("symbols") or [] if isinstance(s, str)]
    described = {
        "publisher_id": publisher_id,
        "publisher": config.get("publisher"),
        "dataset": config.get("dataset"),
        "bar_period": config.get("bar_period"),
        "rtype": rtype,
        "start_date": config.get("start_date"),
        "end_date": config.get("end_date"),
    }
    try:
        period = BarPeriod.from_rtype(rtype) if isinstance(rtype, int) else None
    except ValueError:
        period = None
    if not isinstance(publisher_id, int) or period is None or not symbols:
        return {**described, "symbols": {}, "note": DATA_NOT_DESCRIBED}
    feed = SecmasterDatafeed(
        symbols=symbols,
        bar_period=period,
        publisher_id=publisher_id,
        start_date=_config_date(config.get("start_date")),
        end_date=_config_date(config.get("end_date")),
    )
    per_symbol: dict[str, dict[str, Any]] = {
        s: {"first_bar_ns": None, "last_bar_ns": None, "bars": 0, "instruments": []}
        for s in symbols
    }
    for symbol, instrument_id, start_ns, end_ns in feed.span_tuples():
        stats = OhlcvBar.objects.filter(
            instrument_id=instrument_id,
            rtype=period.rtype,
            ts_event__gte=start_ns,
            ts_event__lt=end_ns,
        ).aggregate(first=Min("ts_event"), last=Max("ts_event"), bars=Count("ts_event"))
        entry = per_symbol[symbol]
        if instrument_id not in entry["instruments"]:
            entry["instruments"].append(instrument_id)
        if stats["bars"]:
            entry["bars"] += stats["bars"]
            first, last = entry["first_bar_ns"], entry["last_bar_ns"]
            entry["first_bar_ns"] = stats["first"] if first is None else min(first, stats["first"])
            entry["last_bar_ns"] = stats["last"] if last is None else max(last, stats["last"])
    for entry in per_symbol.values():
        entry["first_bar"] = _ns_iso(entry["first_bar_ns"])
        entry["last_bar"] = _ns_iso(entry["last_bar_ns"])
    return {**described, "symbols": per_symbol}


def fill_model(config: dict[str, Any]) -> dict[str, Any]:
    """The config's fill rules and costs (fill timing and model, commissions, slippage...)."""
    return {key: value for key, value in sorted(config.items()) if key in FILL_KEYS}


def manifest_build(
    run: Run, *, export_format: str, strategy_entry: dict[str, Any], tables: dict[str, Any]
) -> dict[str, Any]:
    """The manifest of an export of ``run`` (``tables``: name -> file, rows, columns)."""
    config = run.config if isinstance(run.config, dict) else {}
    metadata = run.metadata if isinstance(run.metadata, dict) else {}
    return {
        "manifest_format": MANIFEST_FORMAT,
        "exported_at": _ns_iso(time.time_ns()),
        "format": export_format,
        "run": {
            "run_id": run.run_id,
            "name": run.name,
            "status": run.status,
            "ts_start": run.ts_start,
            "ts_end": run.ts_end,
            "started": _ns_iso(run.ts_start),
            "ended": _ns_iso(run.ts_end),
            "summary": metadata.get("summary"),
            "warnings": metadata.get("warnings") or [],
            "counts": {key: metadata.get(key) for key in ("bars", "orders", "fills")},
        },
        "config": config,
        "strategy": strategy_entry,
        "indicators": metadata.get("indicators") or [],
        "data": data_read(config),
        "fill_model": fill_model(config),
        "engine": engine_version_info(),
        "tables": tables,
    }
