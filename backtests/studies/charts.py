"""Charts of a study (matplotlib PNGs in the house style of ``backtests.charts.style``):

- ``heatmap_png``: any two searched parameters against any metric; where other parameters
  are searched too, each cell aggregates the trials sharing its two values (best, mean,
  median, max or min), and the chart says so;
- ``objective_png``: the objective of each trial in the order they were asked, with the best
  so far;
- ``importance_png``: each searched parameter's importance for the objective (PED-ANOVA);
- ``sensitivity_png``: one parameter against a metric, every trial as a dot, the mean and
  best per value as lines;
- ``pbo_png``: the distribution of the out-of-sample rank logits of CSCV (PBO = the mass at
  or left of 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from backtests.charts import style
from backtests.studies.analysis import parameter_importance, study_analysis_get
from backtests.studies.definition import MINIMISED_BY_DEFAULT
from backtests.studies.models import Study
from backtests.studies.selectors import trial_points

AGGREGATES = ("best", "mean", "median", "max", "min")
MAX_AXIS_VALUES = 25  # more distinct values than this are put into bins
BINS = 20
ANNOTATE_CELLS = 200
NO_TRIALS = "No trial has run yet"
NO_VALUES = "No trial has a value of {metric}"
SEARCH_ONE_MORE = "A heatmap needs two searched parameters; this study searches {names}"
HEAT = LinearSegmentedColormap.from_list("ost_heat", [style.DOWN, "#f6f8fa", style.UP])


def searched_names(study: Study) -> list[str]:
    return [n for n, e in (study.space or {}).items() if e.get("kind") != "fixed"]


def metric_direction(study: Study, metric: str) -> str:
    if metric == study.objective:
        return study.direction
    return "minimize" if metric in MINIMISED_BY_DEFAULT else "maximize"


def _values(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in points if isinstance(p["value"], int | float) and math.isfinite(p["value"])]


def _axis(values: list[Any]) -> tuple[list[Any], list[str], Any]:
    """Distinct values (sorted) and labels; many numbers become bins. Returns the keys,
    their labels and a function from a value to its key."""
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct)
    if numeric and len(distinct) > MAX_AXIS_VALUES:
        low, high = float(min(distinct)), float(max(distinct))
        edges = np.linspace(low, high, BINS + 1)

        def key_of(value: Any) -> int:
            return int(min(BINS - 1, np.searchsorted(edges, float(value), side="right") - 1))

        labels = [f"{(edges[i] + edges[i + 1]) / 2:.4g}" for i in range(BINS)]
        return list(range(BINS)), labels, key_of
    return distinct, [_label(v) for v in distinct], lambda value: value


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _aggregate(values: list[float], how: str, direction: str) -> float:
    array = np.asarray(values, dtype=float)
    if how == "best":
        return float(array.max() if direction == "maximize" else array.min())
    return float(getattr(np, how)(array))


def heatmap_png(study: Study, *, x: str, y: str, metric: str, aggregate: str = "best") -> bytes:
    """Parameter ``x`` across, ``y`` up, each cell the ``metric`` of its trials."""
    title = f"Heatmap: {metric} by {x} and {y}"
    names = searched_names(study)
    if len(names) < 2:
        return style.message_png(title, SEARCH_ONE_MORE.format(names=", ".join(names)))
    points = _values(trial_points(study, metric))
    if not points:
        return style.message_png(title, NO_VALUES.format(metric=metric))
    xs, x_labels, x_key = _axis([p["params"][x] for p in points])
    ys, y_labels, y_key = _axis([p["params"][y] for p in points])
    cells: dict[tuple[Any, Any], list[float]] = {}
    for p in points:
        cells.setdefault((x_key(p["params"][x]), y_key(p["params"][y])), []).append(p["value"])
    direction = metric_direction(study, metric)
    grid = np.full((len(ys), len(xs)), np.nan)
    counts = np.zeros((len(ys), len(xs)), dtype=int)
    x_index = {k: i for i, k in enumerate(xs)}
    y_index = {k: i for i, k in enumerate(ys)}
    for (kx, ky), values in cells.items():
        grid[y_index[ky], x_index[kx]] = _aggregate(values, aggregate, direction)
        counts[y_index[ky], x_index[kx]] = len(values)

    others = [n for n in names if n not in (x, y)]
    if others:
        how = {
            "best": f"the {'highest' if direction == 'maximize' else 'lowest'}",
            "mean": "the mean",
            "median": "the median",
            "max": "the highest",
            "min": "the lowest",
        }[aggregate]
        subtitle = (
            f"Each cell: {how} {metric} over the trials that share its {x} and {y} "
            f"(up to {counts.max():,}), whatever {', '.join(others)}"
        )
    else:
        subtitle = f"Each cell: the one trial at that {x} and {y}; blank cells were not run"
    fig = style.new_figure()
    (ax,), side = style.main_and_side(fig)
    style.set_title(fig, title, subtitle)
    style.style_axes(ax, ylabel=y)
    ax.grid(False)
    finite = grid[np.isfinite(grid)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    centred = bool(finite.size) and finite.min() < 0 < finite.max()
    vmin, vmax = (-bound, bound) if centred else (float(finite.min()), float(finite.max()))
    if vmin == vmax:
        vmin, vmax = vmin - 1, vmax + 1
    cmap = HEAT if direction == "maximize" else HEAT.reversed()
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set_xticks(
        range(len(xs)),
        x_labels,
        rotation=45 if len(xs) > 12 else 0,
        ha="right" if len(xs) > 12 else "center",
    )
    ax.set_yticks(range(len(ys)), y_labels)
    ax.set_xlabel(x, fontsize=style.LABEL_SIZE, color=style.TEXT)
    if grid.size <= ANNOTATE_CELLS:
        for (row, col), value in np.ndenumerate(grid):
            if math.isfinite(value):
                ax.text(
                    col,
                    row,
                    f"{value:,.3g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=style.TEXT,
                )
    box = side.get_position()
    cax = fig.add_axes((box.x0 + 0.04 * box.width, box.y0, 0.09 * box.width, 0.5 * box.height))
    colorbar = fig.colorbar(image, cax=cax)
    colorbar.ax.tick_params(labelsize=style.TICK_SIZE, colors=style.MUTED)
    colorbar.set_label(metric, fontsize=style.LABEL_SIZE, color=style.TEXT)
    best = np.nanargmax(grid) if direction == "maximize" else np.nanargmin(grid)
    row, col = np.unravel_index(best, grid.shape)
    style.side_panel(
        side,
        [
            (f"best {metric}", f"{grid[row, col]:,.4g}"),
            (x, x_labels[col]),
            (y, y_labels[row]),
            ("cells run", f"{int((counts > 0).sum()):,} of {grid.size:,}"),
            ("aggregate", aggregate if others else "one trial"),
        ],
    )
    return style.figure_png(fig)


def objective_png(study: Study) -> bytes:
    """Each trial's objective in the order asked, and the best so far."""
    title = f"Objective over trials: {study.objective} ({study.direction})"
    points = trial_points(study)
    if not points:
        return style.message_png(title, NO_TRIALS)
    fig = style.new_figure()
    (ax,), side = style.main_and_side(fig)
    style.set_title(fig, title, "Dots: each trial that ran; line: the best so far")
    style.style_axes(ax, ylabel=study.objective)
    ax.set_xlabel("trial", fontsize=style.LABEL_SIZE, color=style.TEXT)
    done = [p for p in points if p["status"] == "complete" and p["value"] is not None]
    infeasible = [p for p in points if p["status"] == "infeasible"]
    failed = [p for p in points if p["status"] == "failed"]
    if done:
        numbers = np.array([p["number"] for p in done])
        values = np.array([p["value"] for p in done], dtype=float)
        ax.scatter(numbers, values, s=14, color=style.NEUTRAL, alpha=0.75, zorder=3)
        best = (
            np.maximum.accumulate(values)
            if study.direction == "maximize"
            else np.minimum.accumulate(values)
        )
        ax.step(numbers, best, where="post", color=style.UP, linewidth=2.0, zorder=4)
    floor = ax.get_ylim()[0] if done else 0.0
    for group, color in ((infeasible, style.MUTED), (failed, style.DOWN)):
        if group:
            ax.scatter(
                [p["number"] for p in group],
                [floor] * len(group),
                marker="x",
                s=22,
                color=color,
                zorder=3,
            )
    handles = [
        Line2D([], [], color=style.NEUTRAL, marker="o", linestyle="", label="trial"),
        Line2D([], [], color=style.UP, linewidth=2, label="best so far"),
        Line2D([], [], color=style.MUTED, marker="x", linestyle="", label="infeasible"),
        Line2D([], [], color=style.DOWN, marker="x", linestyle="", label="failed"),
    ]
    best_value = (max if study.direction == "maximize" else min)(
        (p["value"] for p in done), default=None
    )
    style.side_panel(
        side,
        [
            ("trials run", f"{len(points):,}"),
            ("complete", f"{len(done):,}"),
            ("infeasible", f"{len(infeasible):,}"),
            ("failed", f"{len(failed):,}"),
            ("best", "—" if best_value is None else f"{best_value:,.4g}"),
        ],
        handles,
    )
    return style.figure_png(fig)


def importance_png(study: Study) -> bytes:
    """Horizontal bars: each searched parameter's share of importance for the objective."""
    title = f"Parameter importance for {study.objective}"
    names = searched_names(study)
    importance = parameter_importance(study, names)
    if not importance:
        return style.message_png(
            title, "Not enough complete trials with different values to tell (4 or more)"
        )
    ordered = sorted(importance.items(), key=lambda item: item[1])
    fig = style.new_figure(height_px=max(320, 140 + 46 * len(ordered)))
    (ax,), side = style.main_and_side(fig)
    style.set_title(
        fig,
        title,
        "PED-ANOVA (Optuna): how differently the best 10 % of trials use each parameter "
        "from all of them; shares sum to 1",
    )
    style.style_axes(ax)
    positions = np.arange(len(ordered))
    ax.barh(positions, [v for _, v in ordered], color=style.NEUTRAL, height=0.6)
    ax.set_yticks(positions, [n for n, _ in ordered])
    ax.set_ylim(-0.6, len(ordered) - 0.4)
    ax.grid(False, axis="y")
    ax.set_xlim(0, 1)
    ax.set_xlabel("importance", fontsize=style.LABEL_SIZE, color=style.TEXT)
    style.side_panel(side, [(n, f"{v:.2f}") for n, v in reversed(ordered)], heading="Importance")
    return style.figure_png(fig)


def sensitivity_png(study: Study, *, param: str, metric: str) -> bytes:
    """``metric`` against the values of one parameter: every trial, the mean and the best."""
    title = f"Sensitivity: {metric} by {param}"
    points = _values(trial_points(study, metric))
    if not points:
        return style.message_png(title, NO_VALUES.format(metric=metric))
    keys, labels, key_of = _axis([p["params"][param] for p in points])
    index = {k: i for i, k in enumerate(keys)}
    direction = metric_direction(study, metric)
    groups: dict[int, list[float]] = {}
    xs, ys = [], []
    for p in points:
        position = index[key_of(p["params"][param])]
        groups.setdefault(position, []).append(p["value"])
        xs.append(position)
        ys.append(p["value"])
    others = [n for n in searched_names(study) if n != param]
    subtitle = (
        f"Dots: every trial (whatever {', '.join(others)}); lines: mean and "
        f"{'highest' if direction == 'maximize' else 'lowest'} per value"
        if others
        else "One trial per value"
    )
    fig = style.new_figure()
    (ax,), side = style.main_and_side(fig)
    style.set_title(fig, title, subtitle)
    style.style_axes(ax, ylabel=metric)
    rng = np.random.default_rng(0)  # a fixed jitter, so the same study draws the same chart
    jitter = rng.uniform(-0.15, 0.15, len(xs)) if others else np.zeros(len(xs))
    ax.scatter(np.array(xs) + jitter, ys, s=12, color=style.NEUTRAL, alpha=0.45, zorder=3)
    positions = sorted(groups)
    means = [float(np.mean(groups[i])) for i in positions]
    bests = [_aggregate(groups[i], "best", direction) for i in positions]
    ax.plot(positions, means, color=style.GROSS, linewidth=1.8, marker="o", markersize=4, zorder=4)
    ax.plot(positions, bests, color=style.UP, linewidth=2.0, marker="o", markersize=4, zorder=4)
    ax.set_xticks(range(len(keys)), labels, rotation=45 if len(keys) > 12 else 0)
    ax.set_xlabel(param, fontsize=style.LABEL_SIZE, color=style.TEXT)
    top = int(np.argmax(bests) if direction == "maximize" else np.argmin(bests))
    handles = [
        Line2D([], [], color=style.NEUTRAL, marker="o", linestyle="", alpha=0.6, label="trial"),
        Line2D([], [], color=style.GROSS, linewidth=1.8, label="mean"),
        Line2D([], [], color=style.UP, linewidth=2, label="best"),
    ]
    style.side_panel(
        side,
        [
            ("values", f"{len(keys):,}"),
            ("trials", f"{len(points):,}"),
            (f"best {param}", labels[positions[top]]),
            (f"its {metric}", f"{bests[top]:,.4g}"),
        ],
        handles,
    )
    return style.figure_png(fig)


def pbo_png(study: Study, *, n_splits: int | None = None) -> bytes:
    """Histogram of the CSCV logits; the mass at or left of 0 is the PBO."""
    title = "Probability of backtest overfitting: out-of-sample rank logits"
    analysis, logits = study_analysis_get(study, n_splits=n_splits)
    pbo = analysis.get("pbo")
    if pbo is None or logits is None or not len(logits):
        why = (analysis.get("unavailable") or {}).get("pbo") or NO_TRIALS
        return style.message_png(title, _wrap(why))
    fig = style.new_figure()
    (ax,), side = style.main_and_side(fig)
    style.set_title(
        fig,
        title,
        f"{pbo['n_combinations']:,} splits of {pbo['n_splits']} blocks; each: the in-sample best "
        f"trial's out-of-sample rank as ln(ω/(1−ω)); left of 0 = below the median",
    )
    style.style_axes(ax, ylabel="splits")
    values = np.asarray(logits, dtype=float)
    bins = np.histogram_bin_edges(values, bins=min(40, max(8, len(np.unique(values)))))
    left, right = values[values <= 0], values[values > 0]
    ax.hist(left, bins=bins, color=style.DOWN_LIGHT, edgecolor=style.DOWN, linewidth=0.6)
    ax.hist(right, bins=bins, color=style.UP_LIGHT, edgecolor=style.UP, linewidth=0.6)
    ax.axvline(0, color=style.TEXT, linewidth=1.0)
    ax.set_xlabel(
        "logit of the out-of-sample relative rank", fontsize=style.LABEL_SIZE, color=style.TEXT
    )
    handles = [
        Patch(color=style.DOWN_LIGHT, label="overfit (λ ≤ 0)"),
        Patch(color=style.UP_LIGHT, label="held up (λ > 0)"),
    ]
    style.side_panel(
        side,
        [
            ("PBO", f"{pbo['pbo']:.3f}"),
            ("median logit", f"{pbo['median_logit']:.3f}"),
            ("P(loss) OOS", f"{pbo['probability_of_loss']:.3f}"),
            ("trials", f"{pbo['n_trials']:,}"),
            ("days per block", f"{pbo['block_rows']:,}"),
        ],
        handles,
    )
    return style.figure_png(fig)


def _wrap(text: str, width: int = 70) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)
