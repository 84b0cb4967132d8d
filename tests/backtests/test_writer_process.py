"""The SQLite writer process: what full recordings write outside a caller's transaction.

Real processes on the test's SQLite file: rows equal the in-process writer's, batches are
whole or absent, a failing batch or a killed writer is reported (never silently lost), and
the process is gone after ``flush``.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from backtests.engine.chunks import BarBlock
from backtests.engine.enums import BarPeriod
from backtests.models import ProcessedBar, RecordedBar, Run
from backtests.recording import OrmRecorder
from backtests.recording.sqlite import RecordingError, SqliteWriterProcess
from backtests.recording.statements import statement_slices

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.backend("sqlite"),  # the writer process is SQLite's
]

T0 = 1_704_205_800_000_000_000
MINUTE = 60_000_000_000


def _block(start: int, count: int, close: float | None = None) -> BarBlock:
    index = np.arange(start, start + count)
    prices = 100.0 + index
    return BarBlock(
        bar_period=BarPeriod.MINUTE,
        symbols=("AAPL", "MSFT"),
        ts=T0 + (index // 2) * MINUTE,
        code=(index % 2).astype(np.int32),
        open=prices,
        high=prices + 1,
        low=prices - 1,
        close=np.full(count, close) if close is not None else prices + 0.5,
        volume=index * 10,
        names=("SMA(2)",),
        values=(prices + 0.25).reshape(-1, 1),
    )


def _run(run_id: str = "run1") -> None:
    Run.objects.create(run_id=run_id, name="test", ts_start=1, status="running")


def _writer_process(recorder: OrmRecorder) -> SqliteWriterProcess:
    writer = recorder._writer
    assert isinstance(writer, SqliteWriterProcess), "full recording outside a transaction"
    return writer


def test_writer_process_writes_both_bar_tables_in_order():
    _run()
    recorder = OrmRecorder(run_id="run1", batch_rows=40)
    recorder.open()
    process = _writer_process(recorder)._process
    for start in range(0, 100, 25):
        recorder.record_bar_block(_block(start, 25))
    recorder.flush()

    rows = list(
        ProcessedBar.objects.filter(run_id="run1")
        .order_by("id")
        .values_list("ts_event_ns", "ts_created_ns", "symbol", "close", "volume", "indicators")
    )
    assert rows == [
        (T0 + (i // 2) * MINUTE, T0 + (i // 2) * MINUTE, ("AAPL", "MSFT")[i % 2], 100.5 + i,
         i * 10, '{"SMA(2)": %r}' % (100.25 + i))
        for i in range(100)
    ]  # fmt: skip
    bars = list(RecordedBar.objects.filter(run_id="run1").order_by("id").values_list("close"))
    assert bars == [(100.5 + i,) for i in range(100)]
    assert recorder.rows_written == 200
    assert process.poll() == 0  # ended with the run's flush


@pytest.mark.parametrize("count", [1, 63, 64, 65, 127, 1000])
def test_batches_of_any_size_are_written_whole_across_statement_boundaries(count):
    _run()
    recorder = OrmRecorder(run_id="run1", batch_rows=2 * count)
    recorder.open()
    recorder.record_bar_block(_block(0, count))
    recorder.flush()

    closes = ProcessedBar.objects.filter(run_id="run1").order_by("id").values_list("close")
    assert [c for (c,) in closes] == [100.5 + i for i in range(count)]
    bars = RecordedBar.objects.filter(run_id="run1").order_by("id").values_list("ts_event_ns")
    assert [t for (t,) in bars] == [T0 + (i // 2) * MINUTE for i in range(count)]


@pytest.mark.parametrize("count", [0, 1, 5, 64, 100, 1000, 4097])
def test_statement_slices_cover_every_row_once_with_few_sizes(count):
    slices = list(statement_slices(count, 64))

    assert [i for start, stop in slices for i in range(start, stop)] == list(range(count))
    assert {stop - start for start, stop in slices} <= {64, 32, 16, 8, 4, 2, 1}


def test_writer_process_failure_is_raised_and_keeps_only_whole_earlier_batches():
    _run()
    recorder = OrmRecorder(run_id="run1", batch_rows=20)
    recorder.open()
    recorder.record_bar_block(_block(0, 10))  # a whole batch (20 rows)
    recorder.record_bar_block(_block(10, 10, close=float("nan")))  # NaN -> NULL: refused
    recorder.record_bar_block(_block(20, 10))  # after a failure: discarded

    with pytest.raises(RecordingError, match="recording failed: IntegrityError: NOT NULL"):
        recorder.flush()

    assert ProcessedBar.objects.filter(run_id="run1").count() == 10
    assert RecordedBar.objects.filter(run_id="run1").count() == 10
    assert recorder.rows_written == 20


def test_killed_writer_process_is_reported_when_the_recording_goes_on():
    _run()
    recorder = OrmRecorder(run_id="run1", batch_rows=20)
    recorder.open()
    recorder.record_bar_block(_block(0, 10))
    writer = _writer_process(recorder)
    os.kill(writer._process.pid, signal.SIGKILL)
    writer._process.wait()

    with pytest.raises(RecordingError, match="writer process ended unexpectedly"):
        for start in range(10, 200, 10):
            recorder.record_bar_block(_block(start, 10))
        recorder.flush()
    recorder.flush()  # reported once: flushing again does not raise

    processed = ProcessedBar.objects.filter(run_id="run1").count()
    assert processed in (0, 10)  # the first batch whole, or not at all
    assert RecordedBar.objects.filter(run_id="run1").count() == processed


def test_writer_process_finds_the_run_deleted_and_discards_the_rest_quietly():
    _run()
    recorder = OrmRecorder(run_id="run1", batch_rows=20)
    recorder.open()
    recorder.record_bar_block(_block(0, 10))
    recorder.flush()
    Run.objects.filter(run_id="run1").delete()

    recorder.record_bar_block(_block(10, 10))
    recorder.flush()

    assert recorder.run_deleted is True
    assert recorder.rows_written == 20
    assert ProcessedBar.objects.count() == 0  # the run's rows went with it
