"""Build ohlcv_blocks for the bars already stored (databases upgraded from before the blocks).

Uses the rebuild service, which reads and writes with SQL only (no model classes), so this
migration replays the same way whatever the models look like later. On a fresh database it
finds no instruments and does nothing.
"""

from django.db import migrations


def build_blocks(apps, schema_editor) -> None:
    from secmaster.services.bar_blocks import bar_blocks_rebuild

    bar_blocks_rebuild(using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("secmaster", "0004_ohlcv_blocks_triggers"),
    ]

    operations = [
        migrations.RunPython(build_blocks, migrations.RunPython.noop, elidable=True),
    ]
