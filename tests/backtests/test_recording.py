"""OrmRecorder: rows per table for each recording level, values, batching, deleted runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from backtests.engine import events as ev
from backtests.engine.chunks import BarBlock
from backtests.engine.enums import ActionType, BarPeriod, OrderType, RejectionReason, TradeSide
from backtests.models import (
    EVENT_MODELS,
    Fill,
    OrderRejected,
    OrderSubmission,
    ProcessedBar,
    RecordedBar,
    Run,
)
from backtests.recording import TABLE_COLUMNS, OrmRecorder, indicators_json

T0 = 1_704_205_800_000_000_000  # 2024-01-02 14:30 UTC


def _bar(i: int, symbol: str = "AAPL") -> ev.BarReceived:
    return ev.BarReceived(
        T0 + i * 60_000_000_000,
        T0 + i * 60_000_000_000,
        symbol,
        BarPeriod.MINUTE,
        100.0 + i,
        101.0 + i,
        99.0 + i,
        100.5 + i,
        1000 + i,
    )


def _session() -> list:
    """One of every event kind (3 bars, each received + processed), as a run could produce."""
    out: list = []
    for i in range(3):
        bar = _bar(i)
        out.append(bar)
        out.append(ev.BarProcessed.from_bar(bar, {"SMA(2)": math.nan if i == 0 else 100.0 + i}))
    t = T0 + 2 * 60_000_000_000
    common = {"ts_event_ns": t, "ts_created_ns": t}
    broker = {**common, "ts_broker_ns": t}
    out += [
        ev.OrderSubmissionRequest(
            **common,
            system_order_id="O000001",
            symbol="AAPL",
            order_type=OrderType.LIMIT,
            side=TradeSide.BUY,
            quantity=10.0,
            limit_price=99.5,
            action=ActionType.ENTRY_LONG,
            signal="cross",
        ),
        ev.OrderAccepted(**broker, associated_order_id="O000001", broker_order_id="B000001"),
        ev.OrderModificationRequest(
            **common, system_order_id="O000001", symbol="AAPL", limit_price=99.0
        ),
        ev.ModificationAccepted(**broker, associated_order_id="O000001", broker_order_id="B000001"),
        ev.ModificationRejected(
            **broker,
            associated_order_id="O000001",
            rejection_reason=RejectionReason.INVALID_LIMIT_PRICE,
            rejection_message="limit price must be positive",
        ),
        ev.FillEvent(
            **broker,
            associated_order_id="O000001",
            broker_order_id="B000001",
            symbol="AAPL",
            fill_id="F000001",
            broker_fill_id=None,
            side=TradeSide.BUY,
            quantity_filled=10.0,
            fill_price=99.0,
            commission=1.0,
        ),
        ev.OrderCancellationRequest(**common, system_order_id="O000002", symbol="AAPL"),
        ev.CancellationAccepted(**broker, associated_order_id="O000002", broker_order_id="B000002"),
        ev.CancellationRejected(
            **broker,
            associated_order_id="O000003",
            rejection_reason=RejectionReason.UNKNOWN_ORDER,
            rejection_message="no such order",
        ),
        ev.OrderRejected(
            **broker,
            associated_order_id="O000004",
            rejection_reason=RejectionReason.INVALID_QUANTITY,
            rejection_message="quantity must be positive",
        ),
        ev.OrderExpired(
            **broker, associated_order_id="O000005", broker_order_id="B000005", symbol="AAPL"
        ),
    ]
    return out


ORDER_TABLE_COUNTS = {
    "order_submissions": 1,
    "orders_accepted": 1,
    "order_modifications": 1,
    "modifications_accepted": 1,
    "modifications_rejected": 1,
    "fills": 1,
    "order_cancellations": 1,
    "cancellations_accepted": 1,
    "cancellations_rejected": 1,
    "orders_rejected": 1,
    "expirations": 1,
}


def _counts(run_id: str) -> dict[str, int]:
    return {m._meta.db_table: m.objects.filter(run_id=run_id).count() for m in EVENT_MODELS}


def _run(run_id: str = "run1") -> Run:
    return Run.objects.create(run_id=run_id, name="test", ts_start=1, status="running")


@pytest.mark.django_db
@pytest.mark.parametrize(("record", "bars"), [("full", 3), ("trades", 0)], ids=["full", "trades"])
def test_recorder_level_writes_one_row_per_event_of_its_tables(record, bars):
    _run()
    recorder = OrmRecorder(run_id="run1", record=record)
    for event in _session():
        recorder.record(event)
    recorder.flush()

    assert recorder.records_bars is (record == "full")
    assert _counts("run1") == {"bars": bars, "bars_processed": bars, **ORDER_TABLE_COUNTS}


@pytest.mark.django_db
def test_recorder_full_stores_enum_names_floats_and_null_for_nan():
    _run()
    recorder = OrmRecorder(run_id="run1")
    for event in _session():
        recorder.record(event)
    recorder.flush()

    bar = RecordedBar.objects.get(run_id="run1", ts_event_ns=T0 + 60_000_000_000)
    assert (bar.symbol, bar.bar_period, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        "AAPL",
        "MINUTE",
        101.0,
        102.0,
        100.0,
        101.5,
        1001,
    )
    assert bar.ts_created_ns == T0 + 60_000_000_000
    indicators = list(
        ProcessedBar.objects.filter(run_id="run1")
        .order_by("ts_event_ns")
        .values_list("indicators", flat=True)
    )
    assert [json.loads(i) for i in indicators] == [
        {"SMA(2)": None},
        {"SMA(2)": 101.0},
        {"SMA(2)": 102.0},
    ]
    sub = OrderSubmission.objects.get(run_id="run1")
    assert (
        sub.system_order_id,
        sub.order_type,
        sub.side,
        sub.quantity,
        sub.limit_price,
        sub.stop_price,
        sub.action,
        sub.signal,
    ) == (
        "O000001",
        "LIMIT",
        "BUY",
        10.0,
        99.5,
        None,
        "ENTRY_LONG",
        "cross",
    )
    fill = Fill.objects.get(run_id="run1")
    assert (
        fill.side,
        fill.fill_id,
        fill.broker_fill_id,
        fill.quantity_filled,
        fill.fill_price,
        fill.commission,
        fill.exchange,
        fill.ts_broker_ns,
    ) == (
        "BUY",
        "F000001",
        None,
        10.0,
        99.0,
        1.0,
        "SIMULATED",
        T0 + 2 * 60_000_000_000,
    )
    rejected = OrderRejected.objects.get(run_id="run1")
    assert (rejected.rejection_reason, rejected.rejection_message) == (
        "INVALID_QUANTITY",
        "quantity must be positive",
    )


@pytest.mark.django_db
def test_recorder_writes_full_batches_before_flush_and_the_rest_at_flush():
    _run()
    recorder = OrmRecorder(run_id="run1", batch_rows=4)
    for i in range(9):
        recorder.record(_bar(i))

    assert RecordedBar.objects.filter(run_id="run1").count() == 8
    recorder.flush()
    assert RecordedBar.objects.filter(run_id="run1").count() == 9
    assert recorder.rows_written == 9


@pytest.mark.django_db
def test_recorder_trades_level_never_flushes_because_of_bars():
    _run()
    recorder = OrmRecorder(run_id="run1", record="trades", batch_rows=2)
    for i in range(10):
        recorder.record(_bar(i))
    recorder.flush()

    assert recorder.rows_written == 0
    assert sum(_counts("run1").values()) == 0


@pytest.mark.django_db(transaction=True)
def test_recorder_run_deleted_discards_rows_without_raising():
    _run()
    recorder = OrmRecorder(run_id="run1")
    recorder.record(_bar(0))
    Run.objects.filter(run_id="run1").delete()

    recorder.flush()
    recorder.record(_bar(1))
    recorder.flush()

    assert recorder.run_deleted is True
    assert recorder.rows_written == 0
    assert RecordedBar.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_recorder_run_kept_rows_survive_other_runs_deletion():
    _run("keep")
    _run("drop")
    keep = OrmRecorder(run_id="keep")
    keep.record(_bar(0))
    Run.objects.filter(run_id="drop").delete()
    keep.flush()

    assert keep.run_deleted is False
    assert RecordedBar.objects.filter(run_id="keep").count() == 1


@pytest.mark.django_db
def test_recorder_unpaired_bar_events_keep_their_order_in_each_table():
    _run()
    recorder = OrmRecorder(run_id="run1")
    a, b = _bar(0, "AAPL"), _bar(0, "MSFT")
    for event in (
        a,
        b,
        ev.BarProcessed.from_bar(b, {"x": 2.0}),
        ev.BarProcessed.from_bar(a, {"x": 1.0}),
        ev.BarProcessed.from_bar(b, {"x": 3.0}),
    ):
        recorder.record(event)
    recorder.flush()

    bars = RecordedBar.objects.filter(run_id="run1").order_by("id")
    processed = ProcessedBar.objects.filter(run_id="run1").order_by("id")
    assert [r.symbol for r in bars] == ["AAPL", "MSFT"]
    assert [(r.symbol, r.indicators, r.close) for r in processed] == [
        ("MSFT", '{"x": 2.0}', 100.5),
        ("AAPL", '{"x": 1.0}', 100.5),
        ("MSFT", '{"x": 3.0}', 100.5),
    ]
    assert recorder.rows_written == 5


def test_table_columns_name_every_column_of_each_event_model():
    common = {"id", "run_id", "ts_event_ns", "ts_created_ns"}
    for model in EVENT_MODELS:
        columns = {f.column for f in model._meta.concrete_fields} - common
        assert set(TABLE_COLUMNS[model._meta.db_table]) == columns, model._meta.db_table


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "{}"),
        ({"SMA(20)": 101.25, "SMA(100)": 99.5}, '{"SMA(20)": 101.25, "SMA(100)": 99.5}'),
        ({"a": math.nan, "b": 1.0}, '{"a": null, "b": 1.0}'),
        ({"a": math.inf, "b": -math.inf}, '{"a": null, "b": null}'),
        ({"a": 0.1 + 0.2}, '{"a": 0.30000000000000004}'),
    ],
)
def test_indicators_json_values_give_json_with_null_for_non_finite(values, expected):
    assert indicators_json(values) == expected


def test_recorder_unknown_level_is_refused():
    with pytest.raises(ValueError, match="record must be"):
        OrmRecorder(run_id="x", record="everything")


def _bar_rows(model, run_id: str) -> list[tuple]:
    fields = ["ts_event_ns", "ts_created_ns", "symbol", "bar_period", "open", "close", "volume"]
    if model is ProcessedBar:
        fields.append("indicators")
    return list(model.objects.filter(run_id=run_id).order_by("id").values_list(*fields))


def _block(bars: list[ev.BarReceived], names: tuple, values: list[tuple]) -> BarBlock:
    symbols = tuple(dict.fromkeys(b.symbol for b in bars))
    return BarBlock(
        bar_period=bars[0].bar_period,
        symbols=symbols,
        ts=np.array([b.ts_event_ns for b in bars], dtype=np.int64),
        code=np.array([symbols.index(b.symbol) for b in bars], dtype=np.int32),
        open=np.array([b.open for b in bars]),
        high=np.array([b.high for b in bars]),
        low=np.array([b.low for b in bars]),
        close=np.array([b.close for b in bars]),
        volume=np.array([b.volume for b in bars], dtype=np.int64),
        names=names,
        values=np.array(values, dtype=np.float64),
    )


def _record_both_ways(batch_rows: int = 20_000) -> tuple[OrmRecorder, OrmRecorder]:
    """run1 gets bar events one by one, run2 the same bars as blocks of two."""
    _run("run1"), _run("run2")
    names = ("SMA(2)", "RSI(3)")
    values = [(math.nan, 50.0), (100.5, math.inf), (0.1 + 0.2, 1.0), (-0.0, 1e-300)]
    events = OrmRecorder(run_id="run1", batch_rows=batch_rows)
    blocks = OrmRecorder(run_id="run2", batch_rows=batch_rows)
    bars = [_bar(i, "MSFT" if i % 2 else "AAPL") for i in range(len(values))]
    for bar, row in zip(bars, values, strict=True):
        events.record(bar)
        events.record(ev.BarProcessed.from_bar(bar, dict(zip(names, row, strict=True))))
    for start in (0, 2):
        blocks.record_bar_block(_block(bars[start : start + 2], names, values[start : start + 2]))
    events.flush(), blocks.flush()
    return events, blocks


def _assert_same_bar_rows(events: OrmRecorder, blocks: OrmRecorder) -> None:
    for model in (RecordedBar, ProcessedBar):
        assert _bar_rows(model, "run2") == _bar_rows(model, "run1")
    assert [r[-1] for r in _bar_rows(ProcessedBar, "run2")] == [
        '{"SMA(2)": null, "RSI(3)": 50.0}',
        '{"SMA(2)": 100.5, "RSI(3)": null}',
        '{"SMA(2)": 0.30000000000000004, "RSI(3)": 1.0}',
        '{"SMA(2)": -0.0, "RSI(3)": 1e-300}',
    ]
    assert _bar_rows(RecordedBar, "run2")[1][2:4] == ("MSFT", "MINUTE")
    assert blocks.rows_written == events.rows_written == 8


@pytest.mark.django_db
def test_recorder_bar_block_writes_what_recording_both_events_writes():
    # inside the test's transaction: written synchronously on the Django connection
    _assert_same_bar_rows(*_record_both_ways())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch_rows", [1, 3, 20_000])
def test_recorder_bar_block_on_the_writer_thread_writes_the_same_rows(batch_rows):
    # no transaction open: on SQLite the batches are copied by the writer thread
    _assert_same_bar_rows(*_record_both_ways(batch_rows))


def test_recorder_bar_block_trades_level_buffers_nothing():
    recorder = OrmRecorder(run_id="x", record="trades")
    recorder.record_bar_block(_block([_bar(0)], ("a",), [(1.0,)]))
    recorder.flush()
    assert recorder.rows_written == 0
