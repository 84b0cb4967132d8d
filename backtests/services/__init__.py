"""Services of the backtests app: backtest specs and the run lifecycle."""
