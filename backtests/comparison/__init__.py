"""Several runs side by side: their configs with the differences, every metric with the
best per row, equity as % return from each run's capital, drawdowns and per-symbol net P&L.

Everything is read from the runs' stored results (``backtests.results.selectors``), never
recomputed: ``metric_table`` says which metrics are better high or low, ``curves`` turns a
stored equity series into downsampled return and drawdown columns, ``selectors`` assembles a
comparison (the JSON of ``GET /api/runs/compare``, the page and the PNG overlay).
"""
