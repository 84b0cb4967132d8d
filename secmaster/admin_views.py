"""SQL views behind the read-only admin models ``SymbologyRow`` and ``CoverageRow``.

Django's admin refuses models with a composite primary key, so the admin reads
``symbology`` and ``symbol_coverage`` through two views that add a single text key. The key
puts the free-text columns last and prefixes the symbol with its length, so two different
rows never share a key even when a symbol contains ':'. The SQL is the same on SQLite and
PostgreSQL (CAST to TEXT, ``||``).

Both databases refuse to rebuild or retype a table's columns while a view depends on it
(SQLite's table rebuild fails with "error in view admin_symbology: no such table"). A later
migration that alters a column of ``symbology`` or ``symbol_coverage`` therefore starts with
``*drop_operations()`` and ends with ``*create_operations()``.

Migration operations of the secmaster app run only on the "secmaster" alias: RunSQL asks the
router's allow_migrate with this app label, which is False for "default".
"""

from __future__ import annotations

from django.db import migrations

CREATE_SYMBOLOGY_VIEW = """
CREATE VIEW admin_symbology AS
SELECT
    CAST(publisher_ref AS TEXT) || ':' || CAST(start_date AS TEXT) || ':'
        || CAST(source_instrument_id AS TEXT) || ':' || CAST(LENGTH(symbol) AS TEXT) || ':'
        || symbol || ':' || symbol_type AS row_key,
    publisher_ref,
    symbol,
    symbol_type,
    source_instrument_id,
    start_date,
    end_date
FROM symbology
"""

CREATE_COVERAGE_VIEW = """
CREATE VIEW admin_symbol_coverage AS
SELECT
    CAST(publisher_id AS TEXT) || ':' || CAST(rtype AS TEXT) || ':'
        || CAST(LENGTH(symbol) AS TEXT) || ':' || symbol || ':' || symbol_type AS row_key,
    publisher_id,
    symbol,
    symbol_type,
    rtype,
    min_ts,
    max_ts
FROM symbol_coverage
"""

DROP_SYMBOLOGY_VIEW = "DROP VIEW IF EXISTS admin_symbology"
DROP_COVERAGE_VIEW = "DROP VIEW IF EXISTS admin_symbol_coverage"

VIEW_NAMES = ("admin_symbology", "admin_symbol_coverage")


def create_operations() -> list[migrations.RunSQL]:
    """Operations that create both views (and drop them when reversed)."""
    return [
        migrations.RunSQL(CREATE_SYMBOLOGY_VIEW, DROP_SYMBOLOGY_VIEW),
        migrations.RunSQL(CREATE_COVERAGE_VIEW, DROP_COVERAGE_VIEW),
    ]


def drop_operations() -> list[migrations.RunSQL]:
    """Operations that drop both views (and create them again when reversed)."""
    return [
        migrations.RunSQL(DROP_SYMBOLOGY_VIEW, CREATE_SYMBOLOGY_VIEW),
        migrations.RunSQL(DROP_COVERAGE_VIEW, CREATE_COVERAGE_VIEW),
    ]
