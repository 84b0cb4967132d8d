"""Engine events as rows of the runs database: the columns of each event table and the
functions that turn events (and blocks of bars) into row tuples.

Every row starts with run_id, ts_event_ns and ts_created_ns, then the table's columns in
``TABLE_COLUMNS`` order. Enums are stored by name, indicator values as a JSON object with
null for NaN and infinities.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from backtests.engine import events as ev

_BAR = ("symbol", "bar_period", "open", "high", "low", "close", "volume")
_ACCEPTED = ("ts_broker_ns", "associated_order_id", "broker_order_id")
_REJECTED = ("ts_broker_ns", "associated_order_id", "rejection_reason", "rejection_message")

# table -> its columns after run_id, ts_event_ns, ts_created_ns (row builders follow this order)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bars": _BAR,
    "bars_processed": (*_BAR, "indicators"),
    "order_submissions": (
        "system_order_id",
        "symbol",
        "order_type",
        "side",
        "quantity",
        "limit_price",
        "stop_price",
        "action",
        "signal",
    ),
    "order_modifications": ("system_order_id", "symbol", "quantity", "limit_price", "stop_price"),
    "order_cancellations": ("system_order_id", "symbol"),
    "orders_accepted": _ACCEPTED,
    "orders_rejected": _REJECTED,
    "cancellations_accepted": _ACCEPTED,
    "cancellations_rejected": _REJECTED,
    "modifications_accepted": _ACCEPTED,
    "modifications_rejected": _REJECTED,
    "fills": (
        "ts_broker_ns",
        "associated_order_id",
        "broker_order_id",
        "symbol",
        "fill_id",
        "broker_fill_id",
        "side",
        "quantity_filled",
        "fill_price",
        "commission",
        "exchange",
    ),
    "expirations": ("ts_broker_ns", "associated_order_id", "broker_order_id", "symbol"),
}
BAR_TABLES = ("bars", "bars_processed")

_encoders: dict[tuple[str, ...], Callable[[Sequence[object]], str]] = {}


def indicators_json(values: Mapping[str, float]) -> str:
    """JSON object text of indicator values; NaN and infinities become null."""
    return values_json_encoder(tuple(values))(tuple(values.values()))


def values_json_encoder(keys: tuple[str, ...]) -> Callable[[Sequence[object]], str]:
    """``encode(values)``: the JSON object of ``keys`` -> ``values`` (same order), cached.

    A ``%r`` template of the key set when every value is a finite number (float repr is
    exactly JSON's), else ``json.dumps`` with nulls.
    """
    encoder = _encoders.get(keys)
    if encoder is None:
        template = _template(keys)

        def encoder(values: Sequence[object]) -> str:
            try:
                numbers = tuple(map(float, values))
                total = sum(numbers)
                if total - total == 0.0:  # NaN and +-inf survive the subtraction
                    return template % numbers
            except (TypeError, ValueError):
                pass
            return json.dumps({k: _finite_or_none(v) for k, v in zip(keys, values, strict=True)})

        encoder = _encoders.setdefault(keys, encoder)
    return encoder


def _template(keys: Sequence[str]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: %r" for k in keys) + "}"


def indicator_texts(names: Sequence[str], values: np.ndarray) -> list[str]:
    """The JSON object of ``names`` -> each row of ``values`` (an n x len(names) matrix).

    One C-level formatting pass over the rows whose values are all finite; the few others
    (warm-up NaN) go through ``values_json_encoder``.
    """
    n = len(values)
    if not names:
        return ["{}"] * n
    columns = values.T.tolist()
    rows = list(zip(*columns, strict=True))
    texts = list(map(_template(names).__mod__, rows))
    for index in np.flatnonzero(~np.isfinite(values).all(axis=1)).tolist():
        texts[index] = values_json_encoder(tuple(names))(rows[index])
    return texts


def _finite_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


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
