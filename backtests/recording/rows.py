"""Engine events as rows of the runs database.

Every row starts with run_id, ts_event_ns and ts_created_ns, then the table's columns in
``statements.TABLE_COLUMNS`` order. Enums are stored by name, indicator values as a JSON object
with null for NaN and infinities.
"""

from __future__ import annotations

from collections.abc import Callable

from backtests.engine import events as ev
from backtests.recording.indicator_json import indicators_json


def _name(value: object) -> str | None:
    return None if value is None else value.name  # type: ignore[attr-defined]


def event_row_builders(run_id: str) -> dict[type, tuple[str, Callable[[object], tuple]]]:
    """Event type -> (table, ``row(event)``) for every event the runs database stores."""

    def bar(b: ev.BarReceived) -> tuple:
        return (run_id, b[0], b[1], b[2], _name(b[3]), *b[4:9])

    def bar_processed(b: ev.BarProcessed) -> tuple:
        return (run_id, b[0], b[1], b[2], _name(b[3]), *b[4:9], indicators_json(b[9]))

    def submission(e: ev.OrderSubmissionRequest) -> tuple:
        return (
            run_id,
            e.ts_event_ns,
            e.ts_created_ns,
            e.system_order_id,
            e.symbol,
            e.order_type.name,
            e.side.name,
            e.quantity,
            e.limit_price,
            e.stop_price,
            _name(e.action),
            e.signal,
        )

    def modification(e: ev.OrderModificationRequest) -> tuple:
        return (
            run_id,
            e.ts_event_ns,
            e.ts_created_ns,
            e.system_order_id,
            e.symbol,
            e.quantity,
            e.limit_price,
            e.stop_price,
        )

    def cancellation(e: ev.OrderCancellationRequest) -> tuple:
        return (run_id, e.ts_event_ns, e.ts_created_ns, e.system_order_id, e.symbol)

    def accepted(e: ev.Accepted) -> tuple:
        return (
            run_id,
            e.ts_event_ns,
            e.ts_created_ns,
            e.ts_broker_ns,
            e.associated_order_id,
            e.broker_order_id,
        )

    def rejected(e: ev.Rejected) -> tuple:
        return (
            run_id,
            e.ts_event_ns,
            e.ts_created_ns,
            e.ts_broker_ns,
            e.associated_order_id,
            e.rejection_reason.name,
            e.rejection_message,
        )

    def fill(e: ev.FillEvent) -> tuple:
        return (
            run_id,
            e.ts_event_ns,
            e.ts_created_ns,
            e.ts_broker_ns,
            e.associated_order_id,
            e.broker_order_id,
            e.symbol,
            e.fill_id,
            e.broker_fill_id,
            e.side.name,
            e.quantity_filled,
            e.fill_price,
            e.commission,
            e.exchange,
        )

    def expiration(e: ev.OrderExpired) -> tuple:
        return (
            run_id,
            e.ts_event_ns,
            e.ts_created_ns,
            e.ts_broker_ns,
            e.associated_order_id,
            e.broker_order_id,
            e.symbol,
        )

    return {
        ev.BarReceived: ("bars", bar),
        ev.BarProcessed: ("bars_processed", bar_processed),
        ev.OrderSubmissionRequest: ("order_submissions", submission),
        ev.OrderModificationRequest: ("order_modifications", modification),
        ev.OrderCancellationRequest: ("order_cancellations", cancellation),
        ev.OrderAccepted: ("orders_accepted", accepted),
        ev.OrderRejected: ("orders_rejected", rejected),
        ev.CancellationAccepted: ("cancellations_accepted", accepted),
        ev.CancellationRejected: ("cancellations_rejected", rejected),
        ev.ModificationAccepted: ("modifications_accepted", accepted),
        ev.ModificationRejected: ("modifications_rejected", rejected),
        ev.FillEvent: ("fills", fill),
        ev.OrderExpired: ("expirations", expiration),
    }
