"""Built-in example strategies; importing this package registers them."""

from backtests.engine.strategies.examples.bollinger_reversion import BollingerReversion
from backtests.engine.strategies.examples.rsi_trailing_stop import RSITrailingStop
from backtests.engine.strategies.examples.sma_crossover import SMACrossover

__all__ = ["BollingerReversion", "RSITrailingStop", "SMACrossover"]
