"""Engine events -> rows of the runs database (see ``recorder.OrmRecorder``)."""

from backtests.recording.recorder import (
    DEFAULT_BATCH_ROWS,
    RECORD_FULL,
    RECORD_TRADES,
    OrmRecorder,
)
from backtests.recording.rows import TABLE_COLUMNS, indicators_json, values_json_encoder

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "RECORD_FULL",
    "RECORD_TRADES",
    "TABLE_COLUMNS",
    "OrmRecorder",
    "indicators_json",
    "values_json_encoder",
]
