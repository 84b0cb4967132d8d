"""Laying walk-forward windows over a calendar of trading days (pure: no Django, no I/O).

A window is an in-sample part (where a parameter study picks the best point) followed at once
by an out-of-sample part (where that point is run on data the study never saw). Lengths and
the step are counted in trading days (days with at least one bar of the chosen symbols):

- ``rolling``: every in-sample part is ``in_sample_days`` long; window k's starts at day
  ``k * step_days``;
- ``anchored``: every in-sample part starts at the first day and grows by ``step_days``.

Window k's out-of-sample part is the ``out_of_sample_days`` days right after its in-sample
part. Windows are laid while their out-of-sample part fits the calendar in full.

Refused, with the reason and the dates: a length below 1, fewer than two windows, and a step
shorter than the out-of-sample length. That last one would make consecutive out-of-sample
parts overlap: the stitched out-of-sample curve would count the shared days twice, and the
next window's in-sample part would hold days the previous window is still judged on. A step
longer than the out-of-sample length is allowed: the days in between belong to no
out-of-sample part (the stitched curve skips them, and the windows table says so).

Within one window the in-sample part always ends the trading day before its out-of-sample
part starts, so no out-of-sample bar can leak into the study that picks the parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

MODES = ("rolling", "anchored")
MAX_DAYS = 100_000

MODE_INVALID = "mode must be rolling or anchored"
DAYS_INVALID = "{field} must be a whole number of trading days from 1 to {high:,}"
OOS_ZERO = (
    "out_of_sample_days must be at least 1: each window's parameters are judged on the "
    "trading days after its in-sample part"
)
STEP_OVERLAPS = (
    "step_days {step} is shorter than out_of_sample_days {oos}: the out-of-sample parts of "
    "windows 1 ({a_start} to {a_end}) and 2 ({b_start} to {b_end}) would share "
    "{shared} trading days, counted twice in the stitched curve; use a step of at least {oos}"
)
NO_DAYS = "the chosen symbols have no trading days in the chosen dates"
ONE_WINDOW_DOES_NOT_FIT = (
    "one window needs {need:,} trading days ({is_days:,} in-sample + {oos:,} out-of-sample), "
    "the data has {have:,} ({first} to {last})"
)
TOO_FEW_WINDOWS = (
    "only 1 window fits: two need {need:,} trading days ({is_days:,} in-sample + {oos:,} "
    "out-of-sample + a step of {step:,}), the data has {have:,} ({first} to {last}); "
    "shorten the parts or the step, or choose more dates"
)


class WindowsError(ValueError):
    """Windows that cannot be laid; ``fields`` maps the option at fault to the reason."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


@dataclass(frozen=True)
class Window:
    """One window's dates (inclusive) and where its out-of-sample warm-up starts."""

    index: int
    is_start: date
    is_end: date
    oos_start: date
    oos_end: date
    warmup_start: date  # ``in_sample_days`` trading days before ``oos_start``
    is_days: int
    oos_days: int


def _days(raw: object, field: str, low: int, errors: dict[str, str]) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | str | float):
        value = None
    elif isinstance(raw, float):
        value = int(raw) if raw.is_integer() else None
    elif isinstance(raw, str):
        text = raw.strip()
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None
    else:
        value = raw
    if value is None or not low <= value <= MAX_DAYS:
        errors[field] = DAYS_INVALID.format(field=field, high=MAX_DAYS)
        return None
    return value


def window_options_clean(
    *, mode: object, in_sample_days: object, out_of_sample_days: object, step_days: object
) -> tuple[str, int, int, int]:
    """The window options as (mode, in-sample, out-of-sample, step) or ``WindowsError``
    naming each wrong one; ``step_days`` None or "" means ``out_of_sample_days``."""
    errors: dict[str, str] = {}
    if not isinstance(mode, str) or mode not in MODES:
        errors["mode"] = MODE_INVALID
    is_days = _days(in_sample_days, "in_sample_days", 1, errors)
    oos = _days(out_of_sample_days, "out_of_sample_days", 0, errors)
    if oos == 0:
        errors["out_of_sample_days"] = OOS_ZERO
    step = oos if step_days is None or step_days == "" else _days(step_days, "step_days", 1, errors)
    if errors:
        raise WindowsError(errors)
    assert is_days is not None and oos is not None and step is not None
    return str(mode), is_days, oos, step


def windows_layout(
    trading_days: Sequence[date],
    *,
    mode: str,
    in_sample_days: int,
    out_of_sample_days: int,
    step_days: int | None = None,
) -> list[Window]:
    """The windows over ``trading_days`` (ascending, distinct), or ``WindowsError`` with
    the reason and the dates."""
    mode, is_days, oos, step = window_options_clean(
        mode=mode,
        in_sample_days=in_sample_days,
        out_of_sample_days=out_of_sample_days,
        step_days=step_days,
    )
    days = list(trading_days)
    if not days:
        raise WindowsError({"start_date": NO_DAYS})
    have, first, last = len(days), days[0], days[-1]
    if step < oos:
        a, b = is_days, is_days + step  # first days of windows 1 and 2's out-of-sample parts

        def at(i: int) -> str:
            return days[min(i, have - 1)].isoformat()

        raise WindowsError(
            {
                "step_days": STEP_OVERLAPS.format(
                    step=step,
                    oos=oos,
                    a_start=at(a),
                    a_end=at(a + oos - 1),
                    b_start=at(b),
                    b_end=at(b + oos - 1),
                    shared=oos - step,
                )
            }
        )
    windows: list[Window] = []
    k = 0
    while True:
        oos_first = is_days + k * step
        if oos_first + oos > have:
            break
        is_first = 0 if mode == "anchored" else k * step
        windows.append(
            Window(
                index=k,
                is_start=days[is_first],
                is_end=days[oos_first - 1],
                oos_start=days[oos_first],
                oos_end=days[oos_first + oos - 1],
                warmup_start=days[oos_first - is_days],
                is_days=oos_first - is_first,
                oos_days=oos,
            )
        )
        k += 1
    if not windows:
        raise WindowsError(
            {
                "in_sample_days": ONE_WINDOW_DOES_NOT_FIT.format(
                    need=is_days + oos, is_days=is_days, oos=oos, have=have, first=first, last=last
                )
            }
        )
    if len(windows) < 2:
        raise WindowsError(
            {
                "windows": TOO_FEW_WINDOWS.format(
                    need=is_days + oos + step,
                    is_days=is_days,
                    oos=oos,
                    step=step,
                    have=have,
                    first=first,
                    last=last,
                )
            }
        )
    return windows
