"""Engine events -> rows of the runs database (see ``recorder.OrmRecorder``)."""

from backtests.recording.indicator_json import indicators_json
from backtests.recording.recorder import (
    DEFAULT_BATCH_ROWS,
    RECORD_FULL,
    RECORD_TRADES,
    OrmRecorder,
)
from backtests.recording.statements import TABLE_COLUMNS

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "RECORD_FULL",
    "RECORD_TRADES",
    "TABLE_COLUMNS",
    "OrmRecorder",
    "indicators_json",
]
