"""Triggers on ohlcv that delete the ohlcv_blocks row of a bar that is updated or deleted.

The SQL is in ``secmaster.bar_block_triggers``; the block lengths are frozen here as they were
when this migration was written (``secmaster.bar_blocks.BLOCK_DAYS``; a test checks they agree).
"""

from django.db import migrations

from secmaster import bar_block_triggers

BLOCK_DAYS = {32: 1, 33: 1, 34: 32, 35: 1024, 36: 1024}


class Migration(migrations.Migration):
    dependencies = [
        ("secmaster", "0003_ohlcv_blocks"),
    ]

    operations = [
        *bar_block_triggers.create_operations(BLOCK_DAYS),
    ]
