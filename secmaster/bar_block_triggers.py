"""Triggers on ``ohlcv`` that drop the ``ohlcv_blocks`` rows a changed bar belongs to.

Ingest keeps the blocks in step itself, in the same transaction as the bars. Any other
UPDATE or DELETE of ``ohlcv`` rows (a user's script, the admin, a cascade) fires these
triggers, which delete the block of the old row and, for an UPDATE, of the new row: readers
then read those bars from ``ohlcv`` until an ingest touches the block again or
``rebuild_bar_blocks`` runs. An INSERT of a new key changes a block's bar count, which readers
compare with ``ohlcv``; an INSERT that *replaces* a row keeps the count, so:

- SQLite's ``INSERT OR REPLACE`` / ``REPLACE INTO`` deletes the old row without firing DELETE
  triggers (unless the connection set ``PRAGMA recursive_triggers``, which a user's script
  does not): a BEFORE INSERT trigger drops the block when a row with the new row's key exists
  and differs from it (a primary-key lookup per inserted row; an identical row changes nothing,
  so re-ingesting a file keeps its blocks). ``UPDATE OR REPLACE`` onto another row's key fires
  the UPDATE trigger, whose NEW block is that row's block. An UPSERT's ``DO UPDATE`` fires the
  UPDATE trigger (and the BEFORE INSERT one).
- PostgreSQL has no REPLACE; ``INSERT ... ON CONFLICT DO UPDATE`` fills the UPDATE trigger's
  transition tables.

The block index is floor(ts_event / span) with span = BLOCK_DAYS[rtype] days, as
``secmaster.bar_blocks.block_of`` computes it. SQL integer division truncates toward zero, so
negative timestamps take ``-((-(ts + 1)) / span) - 1`` (no overflow even at the int64 minimum).

- SQLite: row-level AFTER UPDATE / AFTER DELETE triggers (SQLite has no others).
- PostgreSQL: statement-level triggers with transition tables, so a DELETE of a million bars
  runs one set-based DELETE of blocks instead of a million; TRUNCATE empties the blocks too.

The SQL takes the block lengths as an argument: migrations pass the values frozen at the time
they were written, so a migration replays the same way later. A later migration that rebuilds
``ohlcv`` or ``ohlcv_blocks`` on SQLite (Django re-creates a table to alter a column) drops or
breaks the triggers: start it with ``drop_operations()`` and end it with ``create_operations()``.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import migrations

from secmaster.bar_blocks import NS_PER_DAY

SQLITE_TRIGGERS = (
    "ohlcv_blocks_forget_updated",
    "ohlcv_blocks_forget_deleted",
    "ohlcv_blocks_forget_replaced",
)
SQLITE_REPLACE_TRIGGER = "ohlcv_blocks_forget_replaced"
PG_TRIGGERS = (
    "ohlcv_blocks_forget_updated",
    "ohlcv_blocks_forget_deleted",
    "ohlcv_blocks_forget_truncated",
)


def floor_div_sql(ts: str, span: str) -> str:
    """SQL for floor(ts / span), span > 0, where ``/`` truncates toward zero (both databases)."""
    return f"(CASE WHEN {ts} >= 0 THEN {ts} / {span} ELSE -((-({ts} + 1)) / {span}) - 1 END)"


def block_index_sql(ts: str, rtype: str, block_days: Mapping[int, int]) -> str:
    """SQL for floor(ts / span(rtype)) on SQLite and PostgreSQL (NULL for an unknown rtype)."""
    whens = " ".join(f"WHEN {r} THEN {days * NS_PER_DAY}" for r, days in sorted(block_days.items()))
    return floor_div_sql(ts, f"(CASE {rtype} {whens} END)")


def _sqlite_delete(row: str, block_days: Mapping[int, int]) -> str:
    block = block_index_sql(f"{row}.ts_event", f"{row}.rtype", block_days)
    return (
        f"DELETE FROM ohlcv_blocks WHERE instrument_id = {row}.instrument_id"
        f" AND rtype = {row}.rtype AND block = {block};"
    )


def sqlite_replace_trigger_sql(block_days: Mapping[int, int]) -> str:
    """CREATE TRIGGER for SQLite's INSERT OR REPLACE: drop the block of a row about to be
    replaced by different values (created if missing, so migrations may run it twice)."""
    differs = " OR ".join(
        f"o.{c} IS NOT NEW.{c}" for c in ("open", "high", "low", "close", "volume")
    )
    return (
        f"CREATE TRIGGER IF NOT EXISTS {SQLITE_REPLACE_TRIGGER} BEFORE INSERT ON ohlcv"
        " FOR EACH ROW WHEN EXISTS (SELECT 1 FROM ohlcv o WHERE o.instrument_id ="
        " NEW.instrument_id AND o.rtype = NEW.rtype AND o.ts_event = NEW.ts_event"
        f" AND ({differs})) BEGIN " + _sqlite_delete("NEW", block_days) + " END"
    )


def sqlite_create_sql(block_days: Mapping[int, int]) -> list[str]:
    """CREATE TRIGGER statements for SQLite."""
    return [
        "CREATE TRIGGER ohlcv_blocks_forget_updated AFTER UPDATE ON ohlcv FOR EACH ROW BEGIN "
        + _sqlite_delete("OLD", block_days)
        + " "
        + _sqlite_delete("NEW", block_days)
        + " END",
        "CREATE TRIGGER ohlcv_blocks_forget_deleted AFTER DELETE ON ohlcv FOR EACH ROW BEGIN "
        + _sqlite_delete("OLD", block_days)
        + " END",
        sqlite_replace_trigger_sql(block_days),
    ]


def _pg_delete(table: str, block_days: Mapping[int, int]) -> str:
    block = block_index_sql("c.ts_event", "c.rtype", block_days)
    return (
        "DELETE FROM ohlcv_blocks b USING ("
        f"SELECT DISTINCT c.instrument_id, c.rtype, {block} AS block FROM {table} c"
        ") k WHERE b.instrument_id = k.instrument_id AND b.rtype = k.rtype AND b.block = k.block;"
    )


def postgresql_create_sql(block_days: Mapping[int, int]) -> list[str]:
    """CREATE FUNCTION / CREATE TRIGGER statements for PostgreSQL."""
    function = (
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN {body}"
        " RETURN NULL; END $body$"
    )
    return [
        function.format(
            name="ohlcv_blocks_forget_updated",
            body=_pg_delete("old_rows", block_days) + " " + _pg_delete("new_rows", block_days),
        ),
        function.format(
            name="ohlcv_blocks_forget_deleted", body=_pg_delete("old_rows", block_days)
        ),
        function.format(name="ohlcv_blocks_forget_truncated", body="DELETE FROM ohlcv_blocks;"),
        "CREATE TRIGGER ohlcv_blocks_forget_updated AFTER UPDATE ON ohlcv"
        " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION ohlcv_blocks_forget_updated()",
        "CREATE TRIGGER ohlcv_blocks_forget_deleted AFTER DELETE ON ohlcv"
        " REFERENCING OLD TABLE AS old_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION ohlcv_blocks_forget_deleted()",
        "CREATE TRIGGER ohlcv_blocks_forget_truncated AFTER TRUNCATE ON ohlcv"
        " FOR EACH STATEMENT EXECUTE FUNCTION ohlcv_blocks_forget_truncated()",
    ]


def create_sql(vendor: str, block_days: Mapping[int, int]) -> list[str]:
    """The statements that create the triggers on ``vendor``."""
    if vendor == "sqlite":
        return sqlite_create_sql(block_days)
    if vendor == "postgresql":
        return postgresql_create_sql(block_days)
    raise NotImplementedError(f"no ohlcv_blocks triggers for database vendor {vendor!r}")


def drop_sql(vendor: str) -> list[str]:
    """The statements that drop the triggers on ``vendor``."""
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
    return [f"DROP TRIGGER IF EXISTS {name} ON ohlcv" for name in PG_TRIGGERS] + [
        f"DROP FUNCTION IF EXISTS {name}()" for name in PG_TRIGGERS
    ]


def _runner(statements):
    def run(apps, schema_editor) -> None:
        for sql in statements(schema_editor.connection.vendor):
            schema_editor.execute(sql, params=None)

    return run


def create_operations(block_days: Mapping[int, int]) -> list[migrations.RunPython]:
    """Operations that create the triggers (and drop them when reversed)."""
    days = dict(block_days)
    return [
        migrations.RunPython(
            _runner(lambda vendor: create_sql(vendor, days)),
            _runner(drop_sql),
        )
    ]


def replace_trigger_operations(block_days: Mapping[int, int]) -> list[migrations.RunPython]:
    """Operations that add the SQLite REPLACE trigger to a database that has the others
    (nothing on PostgreSQL, which has no REPLACE)."""
    days = dict(block_days)

    def create(vendor: str) -> list[str]:
        return [sqlite_replace_trigger_sql(days)] if vendor == "sqlite" else []

    def drop(vendor: str) -> list[str]:
        return [f"DROP TRIGGER IF EXISTS {SQLITE_REPLACE_TRIGGER}"] if vendor == "sqlite" else []

    return [migrations.RunPython(_runner(create), _runner(drop))]


def drop_operations(block_days: Mapping[int, int]) -> list[migrations.RunPython]:
    """Operations that drop the triggers (and create them again when reversed)."""
    days = dict(block_days)
    return [
        migrations.RunPython(
            _runner(drop_sql),
            _runner(lambda vendor: create_sql(vendor, days)),
        )
    ]
