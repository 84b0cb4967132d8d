"""The columns of a run's round trips, in one place and free of imports: the stored
``RoundTrip`` rows (``backtests.results``) use them without loading pandas at start-up."""

ROUNDTRIP_COLUMNS = (
    "symbol",
    "direction",
    "duration_bars",
    "max_position",
    "high_watermark",
    "low_watermark",
    "max_drawdown",
    "pnl_before_commission",
    "pnl_after_commission",
    "entry_ts",
    "exit_ts",
    "quantity",
    "entry_price",
    "exit_price",
    "commission",
    "n_fills",
    "closed",
)
