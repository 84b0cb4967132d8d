"""Assembling a comparison of runs from their stored results.

``compare_run_ids_parse`` checks the ``run_ids`` text (2..``OST_COMPARE_MAX_RUNS`` distinct
ids) before any database work; ``runs_for_compare`` loads them (404 naming every unknown id,
409 naming every queued or running one); ``runs_compare`` and ``compare_curves`` read their
stored metrics and equity series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from backtests.comparison.curves import Curve, curve_from_series
from backtests.comparison.metric_table import best_indices, metric_rows_for
from backtests.models import ACTIVE_STATUSES, Run
from backtests.results.selectors import equity_series_get, run_metrics_get
from ostsite.errors import Conflict, InvalidInput, NotFound

COMPARE_IDS_MISSING = "run_ids is required: {low} to {high} run ids separated by commas"
COMPARE_TOO_FEW = "compare needs at least 2 different runs; run_ids names {count}"
COMPARE_TOO_MANY = "at most {limit} runs can be compared at once; run_ids names {count}"
COMPARE_UNKNOWN = "Run not found: {run_ids}"
COMPARE_ACTIVE = (
    "still queued or running: {runs}; their results exist once they stop, compare them then"
)
CURVE_POINTS = 500  # per run in the comparison JSON and the PNG
MAX_CURVE_POINTS = 20_000  # the stored series holds about this many buckets at most


def compare_max_runs() -> int:
    return int(settings.OST_COMPARE_MAX_RUNS)


def compare_run_ids_parse(text: str | None) -> list[str]:
    """Distinct run ids of ``"a,b,c"`` in their order (blanks around ids ignored)."""
    limit = compare_max_runs()
    ids = list(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))
    if not ids:
        message = COMPARE_IDS_MISSING.format(low=2, high=limit)
        raise InvalidInput(message, fields={"run_ids": message})
    if len(ids) < 2:
        message = COMPARE_TOO_FEW.format(count=len(ids))
        raise InvalidInput(message, fields={"run_ids": message})
    if len(ids) > limit:
        message = COMPARE_TOO_MANY.format(limit=limit, count=len(ids))
        raise InvalidInput(message, fields={"run_ids": message})
    return ids


def runs_for_compare(run_ids: list[str]) -> list[Run]:
    """The runs in the order asked; NotFound naming every unknown id, Conflict naming every
    queued or running run."""
    wanted = [run_id for run_id in run_ids if "\x00" not in run_id]
    found = {run.run_id: run for run in Run.objects.filter(run_id__in=wanted)}
    unknown = [run_id for run_id in run_ids if run_id not in found]
    if unknown:
        shown = ", ".join(run_id.replace("\x00", "\\x00") for run_id in unknown)
        raise NotFound(COMPARE_UNKNOWN.format(run_ids=shown))
    runs = [found[run_id] for run_id in run_ids]
    active = [run for run in runs if run.status in ACTIVE_STATUSES]
    if active:
        shown = ", ".join(f"{run.run_id} ({run.status})" for run in active)
        raise Conflict(COMPARE_ACTIVE.format(runs=shown))
    return runs


@dataclass(frozen=True)
class RunCurve:
    run: Run
    capital: float
    curve: Curve


def _capital(run: Run, metrics: dict[str, Any], attrs: dict[str, Any]) -> float:
    for value in (metrics.get("capital"), attrs.get("capital"), (run.config or {}).get("capital")):
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return 0.0


def compare_curves(runs: list[Run], *, points: int = CURVE_POINTS) -> list[RunCurve]:
    """Each run's stored equity as % return and drawdown %, at most ``points`` points."""
    curves = []
    for run in runs:
        series, attrs = equity_series_get(run)
        capital = _capital(run, run_metrics_get(run), attrs)
        curves.append(
            RunCurve(run, capital, curve_from_series(series, capital=capital, points=points))
        )
    return curves


def _flat_config(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{"strategy_params": {"fast": 5}}`` as ``{"strategy_params.fast": 5}``."""
    if not isinstance(config, dict):
        return {}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flat_config(value, prefix=name + "."))
        else:
            flat[name] = value
    return flat


def config_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per config key of any run (sorted): the runs' values and whether they differ."""
    flats = [_flat_config(run.config) for run in runs]
    keys = sorted(set().union(*flats))
    rows = []
    for key in keys:
        values = [flat.get(key) for flat in flats]
        rows.append({"key": key, "values": values, "differs": any(v != values[0] for v in values)})
    return rows


def _figure(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def metric_rows(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every metric side by side, with its direction and the best run(s) of the row."""
    keys = list(dict.fromkeys(key for block in metrics for key in block))
    rows = []
    for row in metric_rows_for(keys):
        values = [_figure(block.get(row.key)) for block in metrics]
        rows.append(
            {
                "key": row.key,
                "label": row.label,
                "unit": row.unit,
                "better": row.better,
                "values": values,
                "best": best_indices(values, row.better),
            }
        )
    return rows


def per_symbol_rows(runs: list[Run], metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Net P&L of each symbol of any run; 0 for a symbol a run held but never traded, null
    for a symbol not in the run."""
    symbol_sets = []
    for run, block in zip(runs, metrics, strict=True):
        configured = [s for s in (run.config or {}).get("symbols") or [] if isinstance(s, str)]
        symbol_sets.append(set(configured) | set(block.get("per_symbol") or {}))
    symbols = sorted(set().union(*symbol_sets))
    rows = []
    for symbol in symbols:
        values = []
        for held, block in zip(symbol_sets, metrics, strict=True):
            if symbol not in held:
                values.append(None)
                continue
            value = ((block.get("per_symbol") or {}).get(symbol) or {}).get("net_pnl", 0.0)
            values.append(value if isinstance(value, int | float) else None)
        rows.append({"symbol": symbol, "net_pnl": values, "best": best_indices(values, "higher")})
    return rows


def run_summary(run: Run, capital: float) -> dict[str, Any]:
    config = run.config or {}
    return {
        "run_id": run.run_id,
        "name": run.name,
        "status": run.status,
        "strategy": config.get("strategy"),
        "symbols": [s for s in config.get("symbols") or [] if isinstance(s, str)],
        "capital": capital,
        "ts_start": run.ts_start,
    }


def runs_compare(run_ids: list[str], *, points: int = CURVE_POINTS) -> dict[str, Any]:
    """The comparison of these runs (see the module docstring and the API's schema)."""
    runs = runs_for_compare(run_ids)
    metrics = [run_metrics_get(run) for run in runs]
    curves = compare_curves(runs, points=points)
    return {
        "runs": [run_summary(c.run, c.capital) for c in curves],
        "config": config_rows(runs),
        "metrics": metric_rows(metrics),
        "per_symbol": per_symbol_rows(runs, metrics),
        "curves": [
            {"run_id": c.run.run_id, "capital": c.capital, **c.curve.as_json()} for c in curves
        ],
        "max_runs": compare_max_runs(),
    }


def compare_overlay(run_ids: list[str], *, points: int) -> dict[str, Any]:
    """Only the curves (columnar), for an interactive overlay."""
    curves = compare_curves(runs_for_compare(run_ids), points=points)
    return {
        "runs": [
            {
                "run_id": c.run.run_id,
                "name": c.run.name,
                "capital": c.capital,
                **c.curve.as_json(),
            }
            for c in curves
        ]
    }
