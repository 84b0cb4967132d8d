"""Draw the README's fill-model figures from the demo data, with the engine's own broker.

    .venv/bin/python docs/make_fill_figures.py      # writes docs/fill_stop_limit.png and
                                                    # docs/fill_intrabar.png

The demo data (``secmaster.demo_data``, AAPL, made in memory: nothing is read or written in a
database) has 1-second bars for its last two sessions. This script looks through those
sessions' 1-minute bars for:

1. a bar where a buy stop-limit placed before it triggers inside it, and draws where
   ``classic`` (the better of limit and open) and ``strict`` (no better than the stop) fill;
2. an ambiguous bar: a long position's stop-loss and take-profit both inside it, where the
   bar alone says "stop first" (the classic order) but its 1-second bars show the take-profit
   was reached first; it draws the bar and its 1-second bars with the fills ``intrabar`` makes.

Every fill drawn is made by ``SimulatedBroker`` under the model named, not computed here.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from backtests.engine.broker import SimulatedBroker  # noqa: E402
from backtests.engine.enums import BarPeriod, OrderType, TradeSide  # noqa: E402
from backtests.engine.events import BarReceived, FillEvent, OrderSubmissionRequest  # noqa: E402
from backtests.engine.fill_model import FillConfig, FillModel  # noqa: E402
from backtests.engine.memory import ListFinerBars  # noqa: E402
from secmaster import demo_data  # noqa: E402

OUT = Path(__file__).resolve().parent
SYMBOL = "AAPL"
UP, DOWN, TEXT, MUTED, GRID = "#1a7f37", "#cf222e", "#1f2328", "#656d76", "#e6e9ee"
BLUE, PURPLE = "#0969da", "#8250df"
NS = 1_000_000_000
LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1.5}


def demo_bars() -> tuple[list[BarReceived], list[BarReceived]]:
    """AAPL's 1-minute bars of the sessions with 1-second bars, and those 1-second bars."""
    rng = np.random.default_rng(demo_data.SEED)
    _, price, vol, rate = demo_data.SYMBOLS[SYMBOL]  # AAPL is the first symbol drawn
    bars = demo_data.symbol_bars(rng, demo_data.trading_sessions(), price, vol, rate)
    seconds, minutes = bars[32], bars[33]
    first = int(seconds.ts_event[0])

    def tuples(b, period: BarPeriod, keep) -> list[BarReceived]:
        cols = [getattr(b, f)[keep] for f in ("ts_event", "open", "high", "low", "close")]
        return [
            BarReceived(t, t, SYMBOL, period, o / 1e9, h / 1e9, low / 1e9, c / 1e9, v)
            for t, o, h, low, c, v in zip(
                *(c.tolist() for c in cols), b.volume[keep].tolist(), strict=True
            )
        ]

    return (
        tuples(minutes, BarPeriod.MINUTE, minutes.ts_event >= first),
        tuples(seconds, BarPeriod.SECOND, np.ones(len(seconds.ts_event), dtype=bool)),
    )


def fills(model: FillModel, orders: list[dict], bar: BarReceived, finer) -> list[FillEvent]:
    """The broker's fills on ``bar`` for ``orders`` submitted on the bar before it."""
    broker = SimulatedBroker(
        fills=FillConfig(model=model),
        finer_bars=ListFinerBars(finer) if model is FillModel.INTRABAR else None,
    )
    events: list = []
    broker.bind(events.append)
    before = bar.ts_event_ns - 60 * NS
    for n, order in enumerate(orders, start=1):
        broker.on_submission(
            OrderSubmissionRequest(
                ts_event_ns=before,
                ts_created_ns=before,
                system_order_id=f"O{n:06d}",
                symbol=SYMBOL,
                quantity=1.0,
                **order,
            )
        )
    broker.on_bar(bar)
    return [e for e in events if isinstance(e, FillEvent)]


def seconds_of(bar: BarReceived, seconds: list[BarReceived]) -> list[BarReceived]:
    return [s for s in seconds if bar.ts_event_ns <= s.ts_event_ns < bar.ts_event_ns + 60 * NS]


def cents(x: float) -> float:
    return round(x, 2)


def hhmmss(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / NS, dt.UTC).strftime("%H:%M:%S")


def candle(ax, x: float, bar: BarReceived, width: float) -> None:
    color = UP if bar.close >= bar.open else DOWN
    ax.vlines(x, bar.low, bar.high, color=color, linewidth=1.2, zorder=2)
    bottom, top = sorted((bar.open, bar.close))
    ax.bar(x, max(top - bottom, 0.002), width, bottom=bottom, color=color, zorder=3)


def style(ax, title: str) -> None:
    ax.set_title(title, fontsize=11, color=TEXT, loc="left")
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.tick_params(labelsize=9, colors=MUTED)
    for spine in ax.spines.values():
        spine.set_color("#c9ced6")


def level(ax, price: float, text: str, color: str, x: float) -> None:
    ax.axhline(price, color=color, linestyle="--", linewidth=1, zorder=1)
    ax.text(x, price, f" {text} {price:.2f}", color=color, fontsize=9, va="bottom")


def save(fig: Figure, name: str) -> Path:
    path = OUT / name
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, facecolor="white", metadata={"Software": None})
    return path


# --- 1. a stop-limit triggered inside a bar: classic vs strict ------------------------------


def stop_limit_figure(minutes: list[BarReceived]) -> Path:
    """A buy stop-limit, stop a third of the way from the open to the high, limit 5 cents
    above: classic fills at the open (a price printed before the stop was reached)."""
    best = None
    for bar in minutes:
        stop = cents(bar.open + (bar.high - bar.open) / 3)
        if stop <= bar.open + 0.02 or stop >= bar.high:
            continue
        gain = stop - bar.open  # how much classic's fill at the open is better than the stop
        if best is None or gain > best[0]:
            best = (gain, bar, stop)
    _, bar, stop = best
    limit = cents(stop + 0.05)
    order = {
        "order_type": OrderType.STOP_LIMIT,
        "side": TradeSide.BUY,
        "limit_price": limit,
        "stop_price": stop,
    }
    classic = fills(FillModel.CLASSIC, [order], bar, [])[0]
    strict = fills(FillModel.STRICT, [order], bar, [])[0]

    fig = Figure(figsize=(7, 4.4))
    ax = fig.add_subplot()
    candle(ax, 0, bar, 0.35)
    level(ax, stop, "stop", BLUE, 0.3)
    level(ax, limit, "limit", PURPLE, 0.3)
    ax.plot(-0.3, classic.fill_price, marker=">", color=MUTED, markersize=11)
    ax.text(-0.34, classic.fill_price, f"classic {classic.fill_price:.2f} ", ha="right",
            va="center", fontsize=9, color=MUTED, bbox=LABEL_BOX)  # fmt: skip
    ax.plot(-0.3, strict.fill_price, marker=">", color=UP, markersize=11)
    ax.text(-0.34, strict.fill_price, f"strict {strict.fill_price:.2f} ", ha="right",
            va="center", fontsize=9, color=UP, bbox=LABEL_BOX)  # fmt: skip
    ax.set_xlim(-1.1, 1.1)
    day = dt.datetime.fromtimestamp(bar.ts_event_ns / NS, dt.UTC)
    ax.set_xticks([0], [f"{SYMBOL} {day:%Y-%m-%d %H:%M} UTC (demo data), one 1-minute bar"])
    style(ax, "A buy stop-limit triggered inside the bar")
    fig.text(
        0.01,
        0.01,
        f"open {bar.open:.2f}, high {bar.high:.2f}: classic fills at the open, before the stop"
        f" was reached ({classic.fill_price - strict.fill_price:+.2f}); strict at the stop.",
        fontsize=8.5,
        color=MUTED,
    )
    fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.16)
    return save(fig, "fill_stop_limit.png")


# --- 2. an ambiguous bar resolved by its 1-second bars ---------------------------------------


def intrabar_figure(minutes: list[BarReceived], seconds: list[BarReceived]) -> Path:
    """A long's stop-loss and take-profit both inside one minute; classic fills the stop
    first, the seconds show the take-profit came first."""
    best = None
    for bar in minutes:
        finer = seconds_of(bar, seconds)
        stop = cents(bar.open - (bar.open - bar.low) * 0.6)
        target = cents(bar.open + (bar.high - bar.open) * 0.6)
        if not (bar.low < stop < bar.open < target < bar.high):
            continue
        orders = [
            {"order_type": OrderType.STOP, "side": TradeSide.SELL, "stop_price": stop},
            {"order_type": OrderType.LIMIT, "side": TradeSide.SELL, "limit_price": target},
        ]
        resolved = fills(FillModel.INTRABAR, orders, bar, finer)
        if [f.associated_order_id for f in resolved] != ["O000002", "O000001"]:
            continue  # the take-profit must have come first
        first, second = ((f.ts_broker_ns - bar.ts_event_ns) // NS for f in resolved)
        if not (first >= 5 and first + 15 <= second <= 55):
            continue  # both well inside the minute, apart: easy to see
        if best is None or bar.high - bar.low > best[0]:
            best = (bar.high - bar.low, bar, finer, orders, stop, target, resolved)
    _, bar, finer, orders, stop, target, resolved = best
    classic = fills(FillModel.CLASSIC, orders, bar, [])
    start = bar.ts_event_ns

    fig = Figure(figsize=(11, 4.8))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 4]}, sharey=True)
    candle(left, 0, bar, 0.5)
    for ax, x in ((left, 0.3), (right, 61)):
        level(ax, target, "take-profit", UP, x)
        level(ax, stop, "stop-loss", DOWN, x)
    left.set_xlim(-1, 1.6)
    left.set_xticks([0], [f"{hhmmss(start)[:5]} UTC"])
    style(left, "The 1-minute bar")
    order_text = ",\nthen ".join(
        f"{'stop' if f.associated_order_id == 'O000001' else 'take-profit'} {f.fill_price:.2f}"
        for f in classic
    )
    pad = (bar.high - bar.low) * 0.22
    left.set_ylim(bar.low - pad, bar.high + pad)
    left.text(0.3, bar.low - pad * 0.55, f"classic, strict:\n{order_text}", ha="center",
              va="center", fontsize=8.5, color=MUTED)  # fmt: skip

    for step in finer:
        candle(right, (step.ts_event_ns - start) / NS, step, 0.6)
    for f in resolved:
        x = (f.ts_broker_ns - start) / NS
        name = "stop-loss" if f.associated_order_id == "O000001" else "take-profit"
        color = DOWN if name == "stop-loss" else UP
        right.plot(x, f.fill_price, marker="v", color=color, markersize=12, zorder=5,
                   markeredgecolor="white")  # fmt: skip
        right.annotate(
            f"{name} filled {f.fill_price:.2f}\nat {hhmmss(f.ts_broker_ns)}",
            (x, f.fill_price),
            textcoords="offset points",
            xytext=(-150, 22) if name == "take-profit" else (10, -30),
            fontsize=9,
            color=color,
        )
    right.set_xlim(-1, 74)
    right.set_xlabel("seconds into the minute (its 1-second bars)", fontsize=9, color=MUTED)
    style(right, "intrabar: the 1-second bars decide — take-profit first")
    fig.suptitle(
        f"{SYMBOL} {dt.datetime.fromtimestamp(start / NS, dt.UTC):%Y-%m-%d %H:%M} UTC (demo data):"
        " a long's stop-loss and take-profit both inside one minute",
        fontsize=12,
        color=TEXT,
        x=0.01,
        ha="left",
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.83, bottom=0.12, wspace=0.04)
    return save(fig, "fill_intrabar.png")


def main() -> None:
    minutes, seconds = demo_bars()
    for path in (stop_limit_figure(minutes), intrabar_figure(minutes, seconds)):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
