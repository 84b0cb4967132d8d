"""Technical indicators: per-symbol bounded history, NaN during warm-up."""

from backtests.engine.indicators.averages import ExponentialMovingAverage, SimpleMovingAverage
from backtests.engine.indicators.base import (
    NAN,
    Indicator,
    PlotHint,
    indicator_registry,
)
from backtests.engine.indicators.extremes import PeriodHighest, PeriodLowest
from backtests.engine.indicators.market import Close, High, Low, Open, Volume
from backtests.engine.indicators.momentum import RSI, Detrend, RateOfChange
from backtests.engine.indicators.trend import ADX, MinusDI, ParabolicSAR, PlusDI
from backtests.engine.indicators.volatility import (
    AverageTrueRange,
    BollingerBandwidth,
    BollingerLower,
    BollingerUpper,
)

__all__ = [
    "ADX",
    "NAN",
    "RSI",
    "AverageTrueRange",
    "BollingerBandwidth",
    "BollingerLower",
    "BollingerUpper",
    "Close",
    "Detrend",
    "ExponentialMovingAverage",
    "High",
    "Indicator",
    "Low",
    "MinusDI",
    "Open",
    "ParabolicSAR",
    "PeriodHighest",
    "PeriodLowest",
    "PlotHint",
    "PlusDI",
    "RateOfChange",
    "SimpleMovingAverage",
    "Volume",
    "indicator_registry",
]
