"""Engine events as rows of the runs database.

Every row starts with run_id, ts_event_ns and ts_created_ns, then the table's columns in
``statements.TABLE_COLUMNS`` order. Enums are stored by name, indicator values as a JSON object
with null for NaN and infinities.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from operator import attrgetter

from backtests.engine import events as ev
from backtests.recording.indicator_json import indicators_json
from backtests.recording.statements import TABLE_COLUMNS

ORDER_EVENT_TABLES: dict[type, str] = {
    ev.OrderSubmissionRequest: "order_submissions",
    ev.OrderModificationRequest: "order_modifications",
    ev.OrderCancellationRequest: "order_cancellations",
    ev.OrderAccepted: "orders_accepted",
    ev.OrderRejected: "orders_rejected",
    ev.CancellationAccepted: "cancellations_accepted",
    ev.CancellationRejected: "cancellations_rejected",
    ev.ModificationAccepted: "modifications_accepted",
    ev.ModificationRejected: "modifications_rejected",
    ev.FillEvent: "fills",
    ev.OrderExpired: "expirations",
}


def _name(value: object) -> str | None:
    return None if value is None else value.name  # type: ignore[attr-defined]


def event_row_builders(run_id: str) -> dict[type, tuple[str, Callable[[object], tuple]]]:
    """Event type -> (table, ``row(event)``) for every event the runs database stores."""

    def bar(b: ev.BarReceived) -> tuple:
        return (run_id, b[0], b[1], b[2], _name(b[3]), *b[4:9])

    def bar_processed(b: ev.BarProcessed) -> tuple:
        return (run_id, b[0], b[1], b[2], _name(b[3]), *b[4:9], indicators_json(b[9]))

    def event(table: str) -> Callable[[object], tuple]:
        """The row of an order event: its attributes named as the table's columns."""
        values = attrgetter("ts_event_ns", "ts_created_ns", *TABLE_COLUMNS[table])

        def row(e: object) -> tuple:
            return (run_id, *[v.name if isinstance(v, Enum) else v for v in values(e)])

        return row

    builders: dict[type, tuple[str, Callable[[object], tuple]]] = {
        ev.BarReceived: ("bars", bar),
        ev.BarProcessed: ("bars_processed", bar_processed),
    }
    for event_type, table in ORDER_EVENT_TABLES.items():
        builders[event_type] = (table, event(table))
    return builders
