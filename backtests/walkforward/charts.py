"""Charts of a walk-forward (matplotlib PNGs in the house style of ``backtests.charts.style``):

- ``equity_png``: the stitched out-of-sample equity against the buy-and-hold benchmark
  (stitched the same way) and, dashed, each window's in-sample equity of the chosen trial,
  every curve from the capital, on one date axis;
- ``parameters_png``: the chosen value of each searched parameter, window by window.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from matplotlib.lines import Line2D

from backtests.charts import style
from backtests.results.codec import arrays_decode
from backtests.studies.models import Trial
from backtests.walkforward.models import WalkForward, WindowStatus

NOT_FINISHED = "The walk-forward has not finished: the stitched curve exists once it has"
NO_PARAMETERS = "No window has chosen parameters yet"
_EPOCH = date(1970, 1, 1)


def _dates(days: np.ndarray) -> list[date]:
    return [_EPOCH + timedelta(days=int(d)) for d in days]


def equity_png(walkforward: WalkForward) -> bytes:
    """Stitched out-of-sample equity vs in-sample curves vs buy and hold."""
    title = "Walk-forward: stitched out-of-sample equity"
    stitched = (walkforward.analysis or {}).get("stitched")
    if not stitched or not stitched.get("days"):
        return style.message_png(title, NOT_FINISHED)
    fig = style.new_figure()
    (ax,), side = style.main_and_side(fig)
    style.set_title(
        fig,
        title,
        "Out-of-sample parts joined, capital carried over; dashed: each window's in-sample "
        "equity of the chosen trial",
    )
    style.style_axes(ax, ylabel="equity")
    for window in walkforward.windows.filter(status=WindowStatus.COMPLETE).order_by("index"):
        trial = Trial.objects.filter(study_id=window.study_id, number=window.best_trial).first()
        if trial is None or not trial.daily:
            continue
        arrays, _ = arrays_decode(trial.daily)
        ax.plot(
            _dates(arrays["day"]),
            arrays["equity"],
            color=style.MUTED,
            linewidth=0.9,
            linestyle="--",
            alpha=0.8,
        )
    days = _dates(np.asarray(stitched["days"]))
    ax.plot(days, stitched["benchmark"], color=style.GROSS, linewidth=1.4)
    ax.plot(days, stitched["equity"], color=style.NEUTRAL, linewidth=2.2)
    capital = float((walkforward.config or {}).get("capital") or 0.0)
    ax.axhline(capital, color=style.ZERO_LINE, linewidth=0.8)
    metrics = (walkforward.analysis or {}).get("metrics") or {}
    efficiency = (walkforward.analysis or {}).get("efficiency")
    handles = [
        Line2D([], [], color=style.NEUTRAL, linewidth=2.2, label="out of sample (stitched)"),
        Line2D([], [], color=style.GROSS, linewidth=1.4, label="buy and hold"),
        Line2D([], [], color=style.MUTED, linestyle="--", label="in sample (chosen trial)"),
    ]
    style.side_panel(
        side,
        [
            ("OOS return", _pct(metrics.get("total_return_pct"))),
            ("buy and hold", _pct(metrics.get("benchmark_return_pct"))),
            ("OOS Sharpe", _num(metrics.get("sharpe"))),
            ("max drawdown", _pct(metrics.get("max_drawdown_pct"))),
            ("efficiency", _num(efficiency)),
        ],
        handles,
    )
    fig.autofmt_xdate()
    return style.figure_png(fig)


def parameters_png(walkforward: WalkForward) -> bytes:
    """Each searched parameter's chosen value per window (one panel per parameter)."""
    title = "Walk-forward: parameter stability"
    windows = list(
        walkforward.windows.exclude(params=None).order_by("index").values_list("index", "params")
    )
    if not windows:
        return style.message_png(title, NO_PARAMETERS)
    names: list[str] = []
    for _, params in windows:
        names.extend(n for n in params if n not in names)
    fig = style.new_figure()
    style.set_title(fig, title, "The value the in-sample study chose, window by window")
    axes, side = style.main_and_side(fig, rows=len(names))
    numbers = [index + 1 for index, _ in windows]
    for position, (ax, name) in enumerate(zip(axes, names, strict=True)):
        style.style_axes(ax, ylabel=name)
        values = [params.get(name) for _, params in windows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        shown = values if numeric else [str(v) for v in values]
        ax.plot(numbers, shown, color=style.series_color(position), marker="o", linewidth=1.6)
        if position < len(names) - 1:
            ax.tick_params(labelbottom=False)
        if numeric and all(isinstance(v, int) for v in values):
            ax.yaxis.get_major_locator().set_params(integer=True)
    axes[-1].set_xlabel("window", fontsize=style.LABEL_SIZE, color=style.TEXT)
    axes[-1].set_xticks(numbers)
    changes = {}
    for name in names:
        chosen = [params.get(name) for _, params in windows]
        changes[name] = sum(1 for a, b in zip(chosen, chosen[1:], strict=False) if a != b)
    style.side_panel(
        side,
        [("windows", f"{len(windows):,}")]
        + [(f"{n} changes", f"{c:,}") for n, c in changes.items()],
    )
    return style.figure_png(fig)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f} %"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
