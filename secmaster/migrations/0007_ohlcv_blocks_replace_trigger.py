"""SQLite: a BEFORE INSERT trigger on ohlcv that drops the block of a row that INSERT OR
REPLACE is about to replace with other values (REPLACE fires no DELETE trigger).

The SQL is in ``secmaster.bar_block_triggers``; the block lengths are frozen as in 0004.
"""

from django.db import migrations

from secmaster import bar_block_triggers

BLOCK_DAYS = {32: 1, 33: 1, 34: 32, 35: 1024, 36: 1024}


class Migration(migrations.Migration):
    dependencies = [
        ("secmaster", "0006_symbolpreset_owner"),
    ]

    operations = [
        *bar_block_triggers.replace_trigger_operations(BLOCK_DAYS),
    ]
