"""Read-only SQL views over symbology and symbol_coverage with a single text key, for the admin.

Django's admin refuses models with a composite primary key, so the unmanaged models
``SymbologyRow`` and ``CoverageRow`` read these views instead. The SQL, and the recipe for
later migrations that alter those tables, is in ``secmaster.admin_views``.
"""

from django.db import migrations, models

from secmaster import admin_views


class Migration(migrations.Migration):
    dependencies = [
        ("secmaster", "0001_initial"),
    ]

    operations = [
        *admin_views.create_operations(),
        migrations.CreateModel(
            name="SymbologyRow",
            fields=[
                (
                    "row_key",
                    models.TextField(
                        help_text="publisher:start_date:source_id:len(symbol):symbol:type",
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("symbol", models.TextField()),
                ("symbol_type", models.TextField()),
                ("source_instrument_id", models.BigIntegerField()),
                ("start_date", models.DateField()),
                ("end_date", models.DateField()),
            ],
            options={
                "verbose_name": "symbology mapping",
                "db_table": "admin_symbology",
                "ordering": ["publisher_id", "symbol", "start_date", "row_key"],
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="CoverageRow",
            fields=[
                (
                    "row_key",
                    models.TextField(
                        help_text="publisher:rtype:len(symbol):symbol:type",
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("symbol", models.TextField()),
                ("symbol_type", models.TextField()),
                (
                    "rtype",
                    models.SmallIntegerField(
                        choices=[
                            (32, "ohlcv-1s"),
                            (33, "ohlcv-1m"),
                            (34, "ohlcv-1h"),
                            (35, "ohlcv-1d"),
                            (36, "ohlcv-eod"),
                        ]
                    ),
                ),
                ("min_ts", models.BigIntegerField()),
                ("max_ts", models.BigIntegerField()),
            ],
            options={
                "verbose_name": "symbol coverage",
                "verbose_name_plural": "symbol coverage",
                "db_table": "admin_symbol_coverage",
                "ordering": ["symbol", "rtype", "publisher_id", "row_key"],
                "managed": False,
            },
        ),
    ]
