"""Analysis of runs, pure computations over numpy/pandas (no database): round trips from
fills and bars (``roundtrips``), statistics of daily returns (``returns``) and the one set of
run metrics (``metrics``) over a run's account (``backtests.engine.accounting``).

What is stored and read back per run lives in ``backtests.results``.
"""
