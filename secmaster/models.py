"""Security master tables, named as in the original schema so existing files and scripts work.

Prices are integers in units of 1e-9 (Databento's fixed-point convention).
"""

from __future__ import annotations

from django.db import models
from django.db.models import CheckConstraint, F, Q, UniqueConstraint

PRICE_SCALE = 1_000_000_000


class Rtype(models.IntegerChoices):
    """Databento OHLCV record types; 32..35 are the bar periods a backtest can use."""

    OHLCV_1S = 32, "ohlcv-1s"
    OHLCV_1M = 33, "ohlcv-1m"
    OHLCV_1H = 34, "ohlcv-1h"
    OHLCV_1D = 35, "ohlcv-1d"
    OHLCV_EOD = 36, "ohlcv-eod"


BAR_PERIOD_RTYPES = {"SECOND": 32, "MINUTE": 33, "HOUR": 34, "DAY": 35}


class Publisher(models.Model):
    """A data source: a publisher name and one of its datasets (e.g. databento / XNAS.ITCH)."""

    publisher_id = models.AutoField(primary_key=True)
    name = models.TextField()
    dataset = models.TextField()
    venue = models.TextField(null=True, blank=True, help_text="Dataset prefix before '.'")

    class Meta:
        db_table = "publishers"
        ordering = ["name", "dataset"]
        constraints = [
            UniqueConstraint(fields=["name", "dataset"], name="publishers_name_dataset_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name} / {self.dataset}"


class Instrument(models.Model):
    """An instrument of one publisher, known by its source id and/or a symbol."""

    instrument_id = models.AutoField(primary_key=True)
    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, db_column="publisher_ref", related_name="instruments"
    )
    source_instrument_id = models.BigIntegerField(null=True, blank=True)
    symbol = models.TextField(null=True, blank=True)
    symbol_type = models.TextField(null=True, blank=True)

    class Meta:
        db_table = "instruments"
        ordering = ["publisher_id", "source_instrument_id"]
        constraints = [
            UniqueConstraint(
                fields=["publisher", "source_instrument_id"], name="instruments_source_id_uniq"
            ),
            UniqueConstraint(
                fields=["publisher", "symbol", "symbol_type"], name="instruments_symbol_uniq"
            ),
            CheckConstraint(
                condition=Q(source_instrument_id__isnull=False) | Q(symbol__isnull=False),
                name="instruments_has_identity",
            ),
            CheckConstraint(
                condition=Q(symbol__isnull=True) | Q(symbol_type__isnull=False),
                name="instruments_symbol_has_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol or '?'} ({self.source_instrument_id})"


class OhlcvBar(models.Model):
    """One OHLCV bar. ``ts_event`` is the start of the bar's interval, in UTC nanoseconds."""

    pk = models.CompositePrimaryKey("instrument", "rtype", "ts_event")
    instrument = models.ForeignKey(
        Instrument,
        on_delete=models.CASCADE,
        db_column="instrument_id",
        related_name="bars",
        db_index=False,  # the primary key starts with it
    )
    rtype = models.SmallIntegerField(choices=Rtype.choices)
    ts_event = models.BigIntegerField()
    open = models.BigIntegerField()
    high = models.BigIntegerField()
    low = models.BigIntegerField()
    close = models.BigIntegerField()
    volume = models.BigIntegerField()

    class Meta:
        db_table = "ohlcv"
        constraints = [
            CheckConstraint(condition=Q(rtype__gte=32, rtype__lte=36), name="ohlcv_rtype_range"),
            CheckConstraint(condition=Q(low__lte=F("high")), name="ohlcv_low_le_high"),
            CheckConstraint(
                condition=Q(open__gte=F("low"), open__lte=F("high")), name="ohlcv_open_in_range"
            ),
            CheckConstraint(
                condition=Q(close__gte=F("low"), close__lte=F("high")), name="ohlcv_close_in_range"
            ),
            CheckConstraint(condition=Q(volume__gte=0), name="ohlcv_volume_non_negative"),
        ]

    def __str__(self) -> str:
        return f"instrument {self.instrument_id} rtype {self.rtype} @ {self.ts_event}"


class OhlcvBlock(models.Model):
    """A columnar copy of the bars of one instrument and rtype in one time block.

    Derived from ``ohlcv`` (the source of truth) and kept in step with it: ingest rewrites the
    blocks it touches in the same transaction, triggers on ``ohlcv`` delete a block when one of
    its bars is updated or deleted, and readers compare each block's bar count with ``ohlcv``
    before trusting it (``secmaster.services.bar_blocks``). ``data`` is
    ``secmaster.bar_blocks.block_encode`` of the bars with ``block_of(ts_event) == block``.
    """

    pk = models.CompositePrimaryKey("instrument", "rtype", "block")
    instrument = models.ForeignKey(
        Instrument,
        on_delete=models.CASCADE,
        db_column="instrument_id",
        related_name="bar_blocks",
        db_index=False,  # the primary key starts with it
    )
    rtype = models.SmallIntegerField(choices=Rtype.choices)
    block = models.BigIntegerField(help_text="floor(ts_event / span); span per rtype: BLOCK_DAYS")
    bar_count = models.IntegerField()
    first_ts = models.BigIntegerField()
    last_ts = models.BigIntegerField()
    data = models.BinaryField()

    class Meta:
        db_table = "ohlcv_blocks"
        constraints = [
            CheckConstraint(
                condition=Q(rtype__gte=32, rtype__lte=36), name="ohlcv_blocks_rtype_range"
            ),
            CheckConstraint(condition=Q(bar_count__gte=1), name="ohlcv_blocks_not_empty"),
            CheckConstraint(
                condition=Q(first_ts__lte=F("last_ts")), name="ohlcv_blocks_ts_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"instrument {self.instrument_id} rtype {self.rtype} block {self.block}"


class IngestJournal(models.Model):
    """An ingest of one file that is writing its bars in bounded transactions.

    Each chunk of bars commits on its own, together with ``IngestJournalEntry`` rows that say
    what it wrote; when the file fails (or its process died: ``host`` and ``pid``), those rows
    are removed again, so a failed file leaves nothing behind (``secmaster.services.journal``).
    A file that succeeds deletes its journal in its last transaction.
    """

    journal_id = models.BigAutoField(primary_key=True)
    source = models.TextField()
    host = models.CharField(max_length=200)
    pid = models.IntegerField()
    started_ns = models.BigIntegerField()

    class Meta:
        db_table = "ingest_journal"

    def __str__(self) -> str:
        return f"ingest of {self.source} by {self.host}:{self.pid}"


class IngestJournalEntry(models.Model):
    """One thing an unfinished ingest wrote: bars in a key range it owns wholly (no row was
    there before), bars at listed timestamps (int64 bytes), an instrument or a publisher."""

    BARS_RANGE = "range"
    BARS_KEYS = "keys"
    INSTRUMENT = "instrument"
    PUBLISHER = "publisher"

    journal = models.ForeignKey(IngestJournal, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=16)
    ref_id = models.BigIntegerField(help_text="instrument_id (bars, instrument) or publisher_id")
    rtype = models.SmallIntegerField(null=True)
    min_ts = models.BigIntegerField(null=True)
    max_ts = models.BigIntegerField(null=True)
    ts_list = models.BinaryField(null=True)

    class Meta:
        db_table = "ingest_journal_entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.ref_id}"


class SymbologyMapping(models.Model):
    """A symbol maps to a source instrument for the UTC dates in [start_date, end_date)."""

    pk = models.CompositePrimaryKey(
        "publisher", "symbol", "symbol_type", "start_date", "source_instrument_id"
    )
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.CASCADE,
        db_column="publisher_ref",
        related_name="symbology",
        db_index=False,  # the primary key starts with it
    )
    symbol = models.TextField()
    symbol_type = models.TextField()
    source_instrument_id = models.BigIntegerField()
    start_date = models.DateField()
    end_date = models.DateField()

    class Meta:
        db_table = "symbology"
        ordering = ["publisher_id", "symbol", "start_date"]
        indexes = [models.Index(fields=["symbol"], name="idx_symbology_symbol")]
        constraints = [
            CheckConstraint(
                condition=Q(start_date__lte=F("end_date")), name="symbology_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} -> {self.source_instrument_id} [{self.start_date}, {self.end_date})"


class SymbolCoverage(models.Model):
    """The first and last bar reachable through one symbol's mappings, per bar type."""

    pk = models.CompositePrimaryKey("publisher", "symbol", "symbol_type", "rtype")
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.CASCADE,
        db_column="publisher_id",
        related_name="coverage",
        db_index=False,  # the primary key starts with it
    )
    symbol = models.TextField()
    symbol_type = models.TextField(default="raw_symbol")
    rtype = models.SmallIntegerField(choices=Rtype.choices)
    min_ts = models.BigIntegerField()
    max_ts = models.BigIntegerField()

    class Meta:
        db_table = "symbol_coverage"
        ordering = ["symbol", "rtype"]
        verbose_name_plural = "symbol coverage"

    def __str__(self) -> str:
        return f"{self.symbol} rtype {self.rtype}"


class SymbolPreset(models.Model):
    """A named list of symbols, for quick backtest configuration.

    The owner is the user who created it. Users live in the ``default`` database, which may
    be another database than this one, so there is no foreign key: ``owner_id`` is the
    user's id (None for presets made by scripts or before owners existed; set to None when
    the user is deleted) and ``owner_username`` their username when the preset was made,
    for people reading the table. Only ``owner_id`` decides who may change or delete it.
    """

    name = models.TextField(primary_key=True)
    symbols = models.JSONField(default=list)
    owner_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="Id of the user who created it"
    )
    owner_username = models.TextField(
        blank=True, default="", help_text="Username of the user who created it, at the time"
    )

    class Meta:
        db_table = "symbol_presets"
        ordering = ["name"]
        constraints = [CheckConstraint(condition=~Q(name=""), name="symbol_presets_name_not_empty")]

    def __str__(self) -> str:
        return self.name


# --- Read-only admin views ----------------------------------------------------------------
# Django's admin refuses models with a composite primary key. Migration 0002_admin_views
# creates two SQL views (secmaster/admin_views.py) over ``symbology`` and ``symbol_coverage``
# that add a single text key; these unmanaged models sit on them so the admin can list and
# show the rows. Nothing writes through them (the admin registers them read-only).


class SymbologyRow(models.Model):
    """One ``symbology`` row, seen through the ``admin_symbology`` view."""

    row_key = models.TextField(
        primary_key=True, help_text="publisher:start_date:source_id:len(symbol):symbol:type"
    )
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.DO_NOTHING,
        db_column="publisher_ref",
        db_constraint=False,
        related_name="+",
    )
    symbol = models.TextField()
    symbol_type = models.TextField()
    source_instrument_id = models.BigIntegerField()
    start_date = models.DateField()
    end_date = models.DateField()

    class Meta:
        managed = False
        db_table = "admin_symbology"
        ordering = ["publisher_id", "symbol", "start_date", "row_key"]
        verbose_name = "symbology mapping"

    def __str__(self) -> str:
        return f"{self.symbol} -> {self.source_instrument_id} [{self.start_date}, {self.end_date})"


class CoverageRow(models.Model):
    """One ``symbol_coverage`` row, seen through the ``admin_symbol_coverage`` view."""

    row_key = models.TextField(
        primary_key=True, help_text="publisher:rtype:len(symbol):symbol:type"
    )
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.DO_NOTHING,
        db_column="publisher_id",
        db_constraint=False,
        related_name="+",
    )
    symbol = models.TextField()
    symbol_type = models.TextField()
    rtype = models.SmallIntegerField(choices=Rtype.choices)
    min_ts = models.BigIntegerField()
    max_ts = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "admin_symbol_coverage"
        ordering = ["symbol", "rtype", "publisher_id", "row_key"]
        verbose_name = "symbol coverage"
        verbose_name_plural = "symbol coverage"

    def __str__(self) -> str:
        return f"{self.symbol} rtype {self.rtype}"
