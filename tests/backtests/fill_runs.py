"""Security-master data and a user strategy for fill-model runs: a bracket (stop-loss and
take-profit) around a long entry, on 1-minute bars with 1-second bars of the bar that decides."""

from __future__ import annotations

from pathlib import Path

from tests.backtests.market_data import P, ingest_bars, ns

BRACKET_SOURCE = '''
from backtests.engine.enums import BarPeriod, OrderType, TradeSide
from backtests.engine.strategies.base import ParamSpec, StrategyBase


class Bracket(StrategyBase):
    """Buys 1 at market on its first bar; once long, a stop-loss and a take-profit
    ``distance`` below and above the entry price. Nothing more."""

    name = "Bracket"
    parameters = {
        "bar_period": ParamSpec(default=BarPeriod.MINUTE),
        "distance": ParamSpec(default=1.0, min=0.01, max=100.0),
    }

    def setup(self):
        self.stage = 0

    def on_bar(self, bar):
        if self.stage == 0:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, 1.0, signal="entry")
            self.stage = 1
        elif self.stage == 1 and self.position > 0:
            d = self.distance
            self.submit_order(
                OrderType.STOP, TradeSide.SELL, 1.0, stop_price=self.avg_price - d, signal="sl"
            )
            self.submit_order(
                OrderType.LIMIT, TradeSide.SELL, 1.0, limit_price=self.avg_price + d, signal="tp"
            )
            self.stage = 2
'''

INSTRUMENT = 38
MAPPINGS = {"AAPL": [("2024-01-02", "2024-01-03", INSTRUMENT)]}


def _p(price: float) -> int:
    return int(round(price * P))


def _row(moment: str, o: float, h: float, low: float, c: float, volume: int) -> tuple:
    return (INSTRUMENT, ns(moment), _p(o), _p(h), _p(low), _p(c), volume)


# 14:30 the strategy buys; 14:31 it fills at the open 100; 14:32 (long) it places a stop-loss
# at 99 and a take-profit at 101; 14:33 reaches both (high 101.5, low 98.5); 14:34 is calm.
MINUTES = [
    _row("2024-01-02T14:30", 100.0, 100.2, 99.8, 100.0, 1000),
    _row("2024-01-02T14:31", 100.0, 100.3, 99.9, 100.1, 1000),
    _row("2024-01-02T14:32", 100.1, 100.4, 99.9, 100.2, 1000),
    _row("2024-01-02T14:33", 100.2, 101.5, 98.5, 100.0, 1000),
    _row("2024-01-02T14:34", 100.0, 100.2, 99.8, 100.0, 1000),
]
# The seconds of 14:33: up to the take-profit first (second 0), then down to the stop (second 1).
SECONDS_TP_FIRST = [
    _row("2024-01-02T14:33:00", 100.2, 101.5, 100.1, 101.2, 400),
    _row("2024-01-02T14:33:01", 101.2, 101.2, 98.5, 98.8, 400),
    _row("2024-01-02T14:33:02", 98.8, 100.0, 98.7, 100.0, 200),
]


def bracket_strategy_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bracket.py").write_text(BRACKET_SOURCE)
    return folder


def ingest_bracket_data(folder: Path, *, seconds: bool = True) -> int:
    """Ingest the minutes (and the seconds of 14:33) as real DBN files; the publisher id."""
    publisher = ingest_bars(folder, bars=MINUTES, mappings=MAPPINGS, rtype=33, name="m")
    if seconds:
        ingest_bars(folder, bars=SECONDS_TP_FIRST, mappings=MAPPINGS, rtype=32, name="s")
    return publisher
