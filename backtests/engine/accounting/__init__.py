"""The account of a run: capital, cash, positions marked to market at every bar close.

``Accounting`` is fed the run's fills as they happen (``on_fill``) and, after each stretch of
bars the engine has walked, those bars' columns (``on_bars``). It does the marking in numpy,
a stretch at a time, so the engine's per-bar loop pays nothing for it:

- a fill of a symbol belongs to the bar of that symbol and timestamp it filled on, and counts
  before that bar's close is marked; the cash moves by ``-signed quantity × price -
  commission``;
- after each bar, equity = cash + Σ position × last close of every symbol (a symbol without a
  bar yet has no position); the **equity at a timestamp** is the equity after every bar of
  that timestamp;
- the **benchmark** is buy-and-hold of the run's symbols in equal parts of the same capital:
  each symbol's part stays cash until the symbol's first bar, is invested at that bar's open
  and valued at each close (no costs);
- realised P&L is average-price accounting (``PositionBook``), open P&L is each position
  valued at its last close against its average entry price.

It keeps, in bounded memory: the running statistics (drawdown in money and percent and its
longest duration, exposure, leverage, traded notional, per-symbol P&L and drawdown), the equity
at the end of every trading day (a UTC day with at least one bar), the equity series at every
timestamp downsampled to at most ``2 × max_points`` buckets (each bucket keeps its last, lowest
and highest value), the fills, and the bars a symbol spent in a position (their high and low
draw the round trips' watermarks).
"""

from backtests.engine.accounting.account import (
    DEFAULT_CAPITAL,
    DEFAULT_MAX_POINTS,
    FILL_OUTSIDE_BARS,
    NS_PER_DAY,
    Accounting,
)
from backtests.engine.accounting.results import AccountingResult, EquityBuckets, SymbolAccount

__all__ = [
    "DEFAULT_CAPITAL",
    "DEFAULT_MAX_POINTS",
    "FILL_OUTSIDE_BARS",
    "NS_PER_DAY",
    "Accounting",
    "AccountingResult",
    "EquityBuckets",
    "SymbolAccount",
]
