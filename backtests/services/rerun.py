"""Running a run again from its config and saying whether its fills are identical.

A rerun is a new run of the original's config (recording trades only: fills are what is
compared), named after it and carrying ``rerun_of`` in its config. Its fills are compared
with the original's one by one in execution order on time, symbol, side, quantity, price
and commission (exact equality: the engine is deterministic); the first difference is
reported. Both lists are read in chunks, side by side, so a run of millions of fills costs
no more memory than a chunk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import zip_longest
from typing import Any

from django.db import transaction

from backtests.models import ACTIVE_STATUSES, Fill, Run, RunStatus
from backtests.services.backtest_spec import BacktestSpec, backtest_spec_from_mapping
from ostsite.errors import Conflict, NotFound

RERUN_OF = "rerun_of"
FILL_FIELDS = ("ts_event_ns", "symbol", "side", "quantity_filled", "fill_price", "commission")
CHUNK = 10_000

RUN_NOT_FOUND = "Run not found: {run_id}"
RERUN_NOT_COMPLETED = (
    "run {run_id} is {status}: only a completed run can be rerun to compare its fills"
)
RERUN_NOT_RUNNABLE = "run {run_id} cannot run again as it was configured: {error}"
NEVER_RERUN = "run {run_id} has not been rerun: POST /api/runs/{run_id}/rerun first"
FILLS_DIFFER = "fill #{index} differs in {fields}: original {original}, rerun {rerun}"
FILL_MISSING = (
    "the original has {original} fills, the rerun {rerun}: fill #{index} is only in the {side}"
)


@dataclass(frozen=True)
class FillsComparison:
    """Whether two runs filled identically; the first difference when not."""

    identical: bool
    original_fills: int
    rerun_fills: int
    first_difference: dict[str, Any] | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run(run_id: str) -> Run:
    run = None if "\x00" in run_id else Run.objects.filter(run_id=run_id).first()
    if run is None:
        raise NotFound(RUN_NOT_FOUND.format(run_id=run_id.replace("\x00", "\\x00")))
    return run


def rerun_spec(run: Run) -> BacktestSpec:
    """The spec of a rerun of ``run``: its config, recording trades only; Conflict when the
    run is not completed or its config no longer validates (strategy or data gone)."""
    if run.status != RunStatus.COMPLETED:
        raise Conflict(RERUN_NOT_COMPLETED.format(run_id=run.run_id, status=run.status))
    config = dict(run.config or {})
    config["record"] = "trades"
    try:
        return backtest_spec_from_mapping(config)
    except Exception as exc:  # InvalidInput, UserCodeError: the config was valid once
        message = getattr(exc, "message", str(exc))
        raise Conflict(RERUN_NOT_RUNNABLE.format(run_id=run.run_id, error=message)) from None


def _mark_rerun(new: Run, original: Run) -> Run:
    new.config = {**(new.config or {}), RERUN_OF: original.run_id}
    Run.objects.filter(run_id=new.run_id).update(config=new.config)
    return new


def rerun_create(*, run_id: str) -> tuple[Run, Run]:
    """(original, new queued rerun) created here, for the caller to execute."""
    from backtests.services.runs import run_create

    original = _run(run_id)
    spec = rerun_spec(original)
    with transaction.atomic():
        new = run_create(spec=spec, name=f"Rerun of {original.name}")
        return original, _mark_rerun(new, original)


def rerun_submit(*, run_id: str) -> Run:
    """A rerun of ``run_id`` queued for a worker (once the row is committed)."""
    from backtests.services.jobs import backtest_submit

    original = _run(run_id)
    spec = rerun_spec(original)
    with transaction.atomic():
        new = backtest_submit(spec=spec, name=f"Rerun of {original.name}")
        return _mark_rerun(new, original)


def _fill_rows(run_id: str):
    return (
        Fill.objects.filter(run_id=run_id)
        .order_by("ts_event_ns", "id")
        .values_list(*FILL_FIELDS)
        .iterator(chunk_size=CHUNK)
    )


def _as_record(row: tuple | None) -> dict[str, Any] | None:
    return None if row is None else dict(zip(FILL_FIELDS, row, strict=True))


def fills_compare(*, original_id: str, rerun_id: str) -> FillsComparison:
    """Compare the two runs' fills one by one (see the module docstring)."""
    first: dict[str, Any] | None = None
    message = ""
    counts = [0, 0]
    for index, (a, b) in enumerate(
        zip_longest(_fill_rows(original_id), _fill_rows(rerun_id)), start=1
    ):
        counts[0] += a is not None
        counts[1] += b is not None
        if first is not None or a == b:
            continue
        fields = (
            [f for f, x, y in zip(FILL_FIELDS, a, b, strict=True) if x != y]
            if a is not None and b is not None
            else list(FILL_FIELDS)
        )
        first = {
            "index": index,
            "fields": fields,
            "original": _as_record(a),
            "rerun": _as_record(b),
        }
    if first is None:
        return FillsComparison(True, counts[0], counts[1], None, "")
    if first["original"] is None or first["rerun"] is None:
        side = "rerun" if first["original"] is None else "original"
        message = FILL_MISSING.format(
            original=counts[0], rerun=counts[1], index=first["index"], side=side
        )
    else:
        shown = first["fields"]
        message = FILLS_DIFFER.format(
            index=first["index"],
            fields=", ".join(shown),
            original={k: first["original"][k] for k in shown},
            rerun={k: first["rerun"][k] for k in shown},
        )
    return FillsComparison(False, counts[0], counts[1], first, message)


def rerun_latest(*, run_id: str) -> dict[str, Any]:
    """The latest rerun of ``run_id``: its status and, once it completed, the comparison."""
    original = _run(run_id)
    rerun = (
        Run.objects.filter(**{f"config__{RERUN_OF}": original.run_id})
        .order_by("-ts_start", "-run_id")
        .first()
    )
    if rerun is None:
        raise NotFound(NEVER_RERUN.format(run_id=original.run_id))
    answer: dict[str, Any] = {
        "run_id": original.run_id,
        "rerun_id": rerun.run_id,
        "status": rerun.status,
        "identical": None,
    }
    if rerun.status in ACTIVE_STATUSES:
        return answer
    if rerun.status != RunStatus.COMPLETED:
        answer["error"] = str((rerun.metadata or {}).get("error") or rerun.status)
        return answer
    comparison = fills_compare(original_id=original.run_id, rerun_id=rerun.run_id)
    return {**answer, **comparison.as_dict()}
