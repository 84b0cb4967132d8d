"""Engine events -> rows of the runs database, written in batches.

``OrmRecorder`` buffers one list of row tuples per event table and writes them all with
``executemany`` on the "default" connection, in one transaction per batch, whenever
``batch_rows`` rows are pending and at ``flush()``. The database therefore only ever holds a
prefix of the run's events, never half a batch. If the run row disappears (the run was
deleted while executing), the failed batch and everything after it are discarded instead of
raising, and ``run_deleted`` turns True.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence

from django.db import IntegrityError, connections, transaction

from backtests.engine import events as ev
from backtests.models import Run

DEFAULT_BATCH_ROWS = 10_000
RECORD_FULL = "full"
RECORD_TRADES = "trades"

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


# Staged bar rows: kind, then the bars columns, then indicators.
_STAGING = "ost_bar_staging"
_BAR_COLUMNS = "run_id, ts_event_ns, ts_created_ns, " + ", ".join(_BAR)
_RECEIVED_ONLY, _PROCESSED_ONLY, _BOTH = 0, 1, 2

_encoders: dict[tuple[str, ...], Callable[[Sequence[object]], str]] = {}


def indicators_json(values: Mapping[str, float]) -> str:
    """JSON object text of indicator values; NaN and infinities become null."""
    return values_json_encoder(tuple(values))(tuple(values.values()))


def values_json_encoder(keys: tuple[str, ...]) -> Callable[[Sequence[object]], str]:
    """``encode(values)``: the JSON object of ``keys`` -> ``values`` (same order), cached.

    Hot path (one call per bar): a ``%r`` template of the key set, used when every value is
    a finite number (float repr is exactly JSON's), else ``json.dumps`` with nulls.
    """
    encoder = _encoders.get(keys)
    if encoder is None:
        template = "{" + ", ".join(f"{json.dumps(k)}: %r" for k in keys) + "}"

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


def _finite_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _enum_name(value: object) -> str | None:
    return None if value is None else value.name  # type: ignore[attr-defined]


class OrmRecorder:
    """Writes one run's events to the runs database; implements the engine's Recorder."""

    def __init__(
        self,
        *,
        run_id: str,
        record: str = RECORD_FULL,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        using: str = "default",
    ) -> None:
        if record not in (RECORD_FULL, RECORD_TRADES):
            raise ValueError(f"record must be {RECORD_FULL!r} or {RECORD_TRADES!r}, got {record!r}")
        self.run_id = run_id
        self.records_bars = record == RECORD_FULL
        self.batch_rows = batch_rows
        self.using = using
        self.run_deleted = False
        self.rows_written = 0
        self._pending = 0
        self._buffers: dict[str, list[tuple]] = {table: [] for table in TABLE_COLUMNS}
        self._staged_bars: list[tuple] = []  # bars and bars_processed rows, see _write_bars
        self._sql = {
            table: "INSERT INTO {} (run_id, ts_event_ns, ts_created_ns, {}) VALUES ({})".format(
                table, ", ".join(columns), ", ".join(["%s"] * (len(columns) + 3))
            )
            for table, columns in TABLE_COLUMNS.items()
        }
        self._handlers: dict[type, Callable[[object], None]] = self._build_handlers()

    # --- Recorder protocol ----------------------------------------------------------------

    def record(self, event: ev.AnyEvent) -> None:
        """Buffer one event's row; writes a batch when enough rows are pending."""
        self._handlers[type(event)](event)
        self._pending += 1
        if self._pending >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row in one transaction (or discard them if the run is gone)."""
        batches = [(self._sql[t], rows) for t, rows in self._buffers.items() if rows]
        count = self._pending
        try:
            if (batches or self._staged_bars) and not self.run_deleted and self._write(batches):
                self.rows_written += count
        finally:
            # Written, discarded or failed (rolled back): never written twice.
            for rows in self._buffers.values():
                rows.clear()
            self._staged_bars.clear()
            self._pending = 0

    def _write(self, batches: list[tuple[str, list[tuple]]]) -> bool:
        """True once written; False if the run row is gone (the batch rolled back)."""
        try:
            with transaction.atomic(using=self.using), connections[self.using].cursor() as cursor:
                if self._staged_bars:
                    self._write_bars(cursor)
                for sql, rows in batches:
                    cursor.executemany(sql, rows)
        except IntegrityError:
            if Run.objects.using(self.using).filter(run_id=self.run_id).exists():
                raise
            self.run_deleted = True
            return False
        return True

    def _write_bars(self, cursor) -> None:
        """Write the staged bars to both bar tables, the fastest way the database offers."""
        if connections[self.using].vendor == "postgresql":
            self._copy_bars(cursor)
        else:
            self._insert_bars_via_staging(cursor)

    def _copy_bars(self, cursor) -> None:
        """PostgreSQL: one ``COPY ... FROM STDIN`` per bar table (no per-row statement)."""
        staged = self._staged_bars
        for table, columns, skip_kind, end in (
            ("bars", _BAR_COLUMNS, _PROCESSED_ONLY, 11),
            ("bars_processed", f"{_BAR_COLUMNS}, indicators", _RECEIVED_ONLY, 12),
        ):
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                write_row = copy.write_row
                for row in staged:
                    if row[0] != skip_kind:
                        write_row(row[1:end])

    def _insert_bars_via_staging(self, cursor) -> None:
        """SQLite: bind each bar once into a temporary staging table, then copy to both tables.

        A bar usually arrives twice (received, then processed with indicator values); the
        pair shares one staged row (kind 2), so the bar tables cost one parameter binding per
        bar, and two INSERT ... SELECT statements do the indexed inserts without Python.
        """
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (seq INTEGER PRIMARY KEY, kind SMALLINT, "
            "run_id TEXT, ts_event_ns BIGINT, ts_created_ns BIGINT, symbol TEXT, bar_period TEXT, "
            "open DOUBLE PRECISION, high DOUBLE PRECISION, low DOUBLE PRECISION, "
            "close DOUBLE PRECISION, volume BIGINT, indicators TEXT)"
        )
        cursor.execute(f"DELETE FROM {_STAGING}")
        cursor.executemany(
            f"INSERT INTO {_STAGING} (kind, {_BAR_COLUMNS}, indicators) "
            f"VALUES ({', '.join(['%s'] * 12)})",
            self._staged_bars,
        )
        cursor.execute(
            f"INSERT INTO bars ({_BAR_COLUMNS}) SELECT {_BAR_COLUMNS} FROM {_STAGING} "
            f"WHERE kind <> {_PROCESSED_ONLY} ORDER BY seq"
        )
        cursor.execute(
            f"INSERT INTO bars_processed ({_BAR_COLUMNS}, indicators) "
            f"SELECT {_BAR_COLUMNS}, indicators FROM {_STAGING} "
            f"WHERE kind <> {_RECEIVED_ONLY} ORDER BY seq"
        )
        cursor.execute(f"DELETE FROM {_STAGING}")

    def bar_pair_writer(
        self, names: Sequence[str]
    ) -> Callable[[ev.BarReceived, Sequence[float]], None] | None:
        """``write(bar, values)``: record a bar and its processed twin in one call.

        Equivalent to ``record(bar)`` then ``record(BarProcessed(*bar, dict(zip(names,
        values))))``, but stages the shared row directly (no event tuple, dict or pairing
        check per bar). None when bars are not recorded or names repeat (a dict would merge
        them), so the caller falls back to ``record``.
        """
        names = tuple(names)
        if not self.records_bars or len(set(names)) != len(names):
            return None
        encode = values_json_encoder(names)
        stage, run_id, batch_rows = self._staged_bars.append, self.run_id, self.batch_rows

        def write(b: ev.BarReceived, values: Sequence[float]) -> None:
            # b[3]._name_ is BarPeriod's name without Enum.__hash__ (Python-level) per bar
            stage((_BOTH, run_id, b[0], b[1], b[2], b[3]._name_, *b[4:9], encode(values)))
            self._pending += 2
            if self._pending >= batch_rows:
                self.flush()

        return write

    # --- row builders ---------------------------------------------------------------------

    def _build_handlers(self) -> dict[type, Callable[[object], None]]:
        run_id = self.run_id
        buf = self._buffers
        staged = self._staged_bars
        stage = staged.append

        def bar(b):
            stage((_RECEIVED_ONLY, run_id, b[0], b[1], b[2], b[3]._name_, *b[4:], None))

        def bar_processed(b):
            row = (_BOTH, run_id, b[0], b[1], b[2], b[3]._name_, *b[4:9], indicators_json(b[9]))
            if staged:
                last = staged[-1]
                if last[0] == _RECEIVED_ONLY and last[2] == b[0] and last[4] == b[2]:
                    staged[-1] = row  # the same bar, received then processed: one row
                    return
            stage((_PROCESSED_ONLY, *row[1:]))

        def skip(_event):
            self._pending -= 1

        def submission(e):
            buf["order_submissions"].append(
                (
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
                    _enum_name(e.action),
                    e.signal,
                )
            )

        def modification(e):
            buf["order_modifications"].append(
                (
                    run_id,
                    e.ts_event_ns,
                    e.ts_created_ns,
                    e.system_order_id,
                    e.symbol,
                    e.quantity,
                    e.limit_price,
                    e.stop_price,
                )
            )

        def cancellation(e):
            buf["order_cancellations"].append(
                (run_id, e.ts_event_ns, e.ts_created_ns, e.system_order_id, e.symbol)
            )

        def accepted(table):
            append = buf[table].append
            return lambda e: append(
                (
                    run_id,
                    e.ts_event_ns,
                    e.ts_created_ns,
                    e.ts_broker_ns,
                    e.associated_order_id,
                    e.broker_order_id,
                )
            )

        def rejected(table):
            append = buf[table].append
            return lambda e: append(
                (
                    run_id,
                    e.ts_event_ns,
                    e.ts_created_ns,
                    e.ts_broker_ns,
                    e.associated_order_id,
                    e.rejection_reason.name,
                    e.rejection_message,
                )
            )

        def fill(e):
            buf["fills"].append(
                (
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
            )

        def expiration(e):
            buf["expirations"].append(
                (
                    run_id,
                    e.ts_event_ns,
                    e.ts_created_ns,
                    e.ts_broker_ns,
                    e.associated_order_id,
                    e.broker_order_id,
                    e.symbol,
                )
            )

        return {
            ev.BarReceived: bar if self.records_bars else skip,
            ev.BarProcessed: bar_processed if self.records_bars else skip,
            ev.OrderSubmissionRequest: submission,
            ev.OrderModificationRequest: modification,
            ev.OrderCancellationRequest: cancellation,
            ev.OrderAccepted: accepted("orders_accepted"),
            ev.OrderRejected: rejected("orders_rejected"),
            ev.CancellationAccepted: accepted("cancellations_accepted"),
            ev.CancellationRejected: rejected("cancellations_rejected"),
            ev.ModificationAccepted: accepted("modifications_accepted"),
            ev.ModificationRejected: rejected("modifications_rejected"),
            ev.FillEvent: fill,
            ev.OrderExpired: expiration,
        }
