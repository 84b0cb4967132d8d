"""What a walk-forward is, validated up front: a study definition (validated by the studies'
own ``study_definition_build``) plus its windows, laid over the trading days of the chosen
symbols and dates (``windows.windows_layout``). ``walkforward_definition_build`` raises
``InvalidInput`` naming every wrong field, with the dates where windows do not fit, before
anything is written or queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backtests.studies.definition import StudyDefinition, study_definition_build
from backtests.walkforward.calendar import trading_days_of
from backtests.walkforward.windows import (
    Window,
    WindowsError,
    window_options_clean,
    windows_layout,
)
from ostsite.errors import InvalidInput

WINDOW_FIELDS = ("mode", "in_sample_days", "out_of_sample_days", "step_days")
# The study fields a walk-forward keeps to build each window's study (dates excepted).
STUDY_FIELDS = (
    "strategy",
    "symbols",
    "rtype",
    "publisher_id",
    "space",
    "start_date",
    "end_date",
    "commission_per_unit",
    "minimum_commission",
    "fill_timing",
    "capital",
    "risk_free_rate",
    "strategy_params",
    "constraints",
    "sampler",
    "objective",
    "direction",
    "min_trades",
    "n_trials",
    "time_limit_seconds",
    "seed",
    "batch_size",
    "pbo_splits",
    "name",
)
WINDOW_STUDY_NAME = "{name} · window {number} in-sample"


@dataclass(frozen=True)
class WalkForwardDefinition:
    """A validated walk-forward: the base study, the window options and the windows."""

    study: StudyDefinition
    fields: dict[str, Any]  # the study fields as given, with the seed chosen
    mode: str
    in_sample_days: int
    out_of_sample_days: int
    step_days: int
    windows: tuple[Window, ...]
    name: str


def walkforward_definition_build(
    *,
    mode: Any = "rolling",
    in_sample_days: Any = None,
    out_of_sample_days: Any = None,
    step_days: Any = None,
    **study_fields: Any,
) -> WalkForwardDefinition:
    """Validate the study part and the windows; ``InvalidInput`` names each wrong field."""
    errors: dict[str, str] = {}
    options: tuple[str, int, int, int] | None = None
    try:
        options = window_options_clean(
            mode=mode,
            in_sample_days=in_sample_days,
            out_of_sample_days=out_of_sample_days,
            step_days=step_days,
        )
    except WindowsError as exc:
        errors.update(exc.fields)
    unknown = sorted(set(study_fields) - set(STUDY_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown fields: {', '.join(unknown)}", fields=dict.fromkeys(unknown, "unknown field")
        )
    study: StudyDefinition | None = None
    try:
        study = study_definition_build(**study_fields)
    except InvalidInput as exc:
        errors.update({k: v for k, v in exc.fields.items() if k not in errors})
        if not exc.fields:
            errors.setdefault("strategy", exc.message)
    if errors or study is None or options is None:
        raise InvalidInput("; ".join(f"{k}: {v}" for k, v in errors.items()), fields=errors)
    chosen_mode, is_days, oos, step = options
    try:
        windows = windows_layout(
            trading_days_of(study.spec),
            mode=chosen_mode,
            in_sample_days=is_days,
            out_of_sample_days=oos,
            step_days=step,
        )
    except WindowsError as exc:
        raise InvalidInput(
            "; ".join(f"{k}: {v}" for k, v in exc.fields.items()), fields=exc.fields
        ) from None
    fields = {key: value for key, value in study_fields.items() if key in STUDY_FIELDS}
    fields["seed"] = study.seed
    return WalkForwardDefinition(
        study=study,
        fields=fields,
        mode=chosen_mode,
        in_sample_days=is_days,
        out_of_sample_days=oos,
        step_days=step,
        windows=tuple(windows),
        name=study.name or f"{study.spec.default_name()} · walk-forward {chosen_mode}",
    )


def window_study_definition(definition: WalkForwardDefinition, window: Window) -> StudyDefinition:
    """The in-sample study of one window: the base study on the window's in-sample dates."""
    fields = {
        **definition.fields,
        "start_date": window.is_start.isoformat(),
        "end_date": window.is_end.isoformat(),
        "name": WINDOW_STUDY_NAME.format(name=definition.name, number=window.index + 1),
    }
    return study_definition_build(**fields)
