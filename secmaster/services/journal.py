"""The ingest journal: a big file's bars commit in bounded transactions, yet a failed file
leaves nothing behind.

``ingest_databento_paths`` writes a file's bars one read block at a time
(``OST_INGEST_TRANSACTION_RECORDS`` records), each block in a transaction of its own, so the
security master's write lock is held for a fraction of a second at a time and other writers
(preset edits, another ingest) take turns. Each block's transaction also records in
``ingest_journal_entries`` what it wrote:

- for each instrument and rtype, the block's key range [first ts, last ts]: when no bar was
  stored in that range before, the whole range is this ingest's (``range``); otherwise the
  exact timestamps it inserted (``keys``, int64 bytes), so bars stored before are never
  touched;
- instruments and the publisher it created.

The file's last transaction stores its symbology, rebuilds its coverage and deletes the
journal. If the file fails, ``journal_rollback`` deletes what the entries name, newest first,
each entry in a short transaction of its own, and rebuilds the bar blocks the deleted bars
shared with older bars (the ``ohlcv`` DELETE trigger drops those blocks). A process killed
mid-file leaves its journal behind: the next ingest on the machine rolls back the journals of
processes that are gone (``journals_recover``) before it starts.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import numpy as np
from django.conf import settings
from django.db import connections, transaction

from secmaster.bar_blocks import block_of
from secmaster.models import IngestJournal, IngestJournalEntry
from secmaster.services.bar_blocks import (
    _block_range,
    _ohlcv_rows,
    bar_blocks_check,
    bar_blocks_store,
)

logger = logging.getLogger(__name__)

DB = "secmaster"
DEFAULT_TRANSACTION_RECORDS = 200_000
IN_CHUNK = 500


def transaction_records() -> int:
    """Records of a file written per transaction (``OST_INGEST_TRANSACTION_RECORDS``)."""
    value = getattr(settings, "OST_INGEST_TRANSACTION_RECORDS", DEFAULT_TRANSACTION_RECORDS)
    return max(1, int(value))


def journal_open(*, source: str) -> IngestJournal:
    """A journal for one file's ingest, committed at once."""
    with transaction.atomic(using=DB):
        return IngestJournal.objects.using(DB).create(
            source=source[:10_000],
            host=socket.gethostname(),
            pid=os.getpid(),
            started_ns=time.time_ns(),
        )


def journal_close(journal: IngestJournal) -> None:
    """The file is stored: forget its journal (inside the file's last transaction)."""
    IngestJournal.objects.using(DB).filter(pk=journal.pk).delete()


def journal_created(journal: IngestJournal, kind: str, ids: list[int]) -> None:
    """Record instruments or a publisher this ingest created (in the creating transaction)."""
    IngestJournalEntry.objects.using(DB).bulk_create(
        IngestJournalEntry(journal=journal, kind=kind, ref_id=i) for i in ids
    )


def journal_bars(journal: IngestJournal, cursor, table: np.ndarray) -> None:
    """Record the bars of a key-sorted (n, 8) table about to be inserted (before the insert,
    in its transaction): a wholly new key range, or the timestamps not stored yet."""
    keys = table[:, :2]
    cuts = (np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1).tolist()
    entries = []
    for start, end in zip([0, *cuts], [*cuts, len(table)], strict=True):
        if end <= start:
            continue
        instrument_id, rtype = int(table[start, 0]), int(table[start, 1])
        ts = table[start:end, 2]
        low, high = int(ts[0]), int(ts[-1])
        cursor.execute(
            "SELECT ts_event FROM ohlcv WHERE instrument_id = %s AND rtype = %s"
            " AND ts_event >= %s AND ts_event <= %s",
            [instrument_id, rtype, low, high],
        )
        stored = np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)
        entry = IngestJournalEntry(
            journal=journal, ref_id=instrument_id, rtype=rtype, min_ts=low, max_ts=high
        )
        if not len(stored):
            entry.kind = IngestJournalEntry.BARS_RANGE
        else:
            new = ts[~np.isin(ts, stored)]
            if not len(new):
                continue
            entry.kind = IngestJournalEntry.BARS_KEYS
            entry.ts_list = new.astype("<i8").tobytes()
        entries.append(entry)
    IngestJournalEntry.objects.using(DB).bulk_create(entries)


def _delete_bars(cursor, entry: IngestJournalEntry) -> None:
    where = "instrument_id = %s AND rtype = %s"
    if entry.kind == IngestJournalEntry.BARS_RANGE:
        cursor.execute(
            f"DELETE FROM ohlcv WHERE {where} AND ts_event >= %s AND ts_event <= %s",
            [entry.ref_id, entry.rtype, entry.min_ts, entry.max_ts],
        )
    else:
        stamps = np.frombuffer(bytes(entry.ts_list), dtype="<i8").tolist()
        for i in range(0, len(stamps), IN_CHUNK):
            part = stamps[i : i + IN_CHUNK]
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(
                f"DELETE FROM ohlcv WHERE {where} AND ts_event IN ({marks})",
                [entry.ref_id, entry.rtype, *part],
            )
    # The DELETE trigger dropped the blocks of these bars; build again those that still hold
    # older bars, so the blocks stay as they were before this ingest.
    connection = connections[DB]
    first, last = int(block_of(entry.min_ts, entry.rtype)), int(block_of(entry.max_ts, entry.rtype))
    stale, _ = bar_blocks_check(
        cursor=cursor,
        vendor=connection.vendor,
        instrument_id=entry.ref_id,
        rtype=entry.rtype,
        blocks=range(first, last + 1),
    )
    for block in sorted(stale):
        rows = _ohlcv_rows(cursor, entry.ref_id, entry.rtype, *_block_range(block, entry.rtype))
        if len(rows):
            bar_blocks_store(
                cursor=cursor,
                instrument_id=entry.ref_id,
                rtype=entry.rtype,
                bars=rows,
                rebuild={block},
            )
        else:
            cursor.execute(
                "DELETE FROM ohlcv_blocks WHERE instrument_id = %s AND rtype = %s AND block = %s",
                [entry.ref_id, entry.rtype, block],
            )


def journal_rollback(journal: IngestJournal) -> None:
    """Remove everything the journal names, newest first, each entry in its own transaction,
    then the journal itself."""
    entries = IngestJournalEntry.objects.using(DB).filter(journal=journal)
    for entry in entries.order_by("-id"):
        with transaction.atomic(using=DB), connections[DB].cursor() as cursor:
            if entry.kind in (IngestJournalEntry.BARS_RANGE, IngestJournalEntry.BARS_KEYS):
                _delete_bars(cursor, entry)
            elif entry.kind == IngestJournalEntry.INSTRUMENT:
                cursor.execute(
                    "DELETE FROM instruments WHERE instrument_id = %s AND NOT EXISTS"
                    " (SELECT 1 FROM ohlcv WHERE ohlcv.instrument_id = %s)",
                    [entry.ref_id, entry.ref_id],
                )
            elif entry.kind == IngestJournalEntry.PUBLISHER:
                cursor.execute(
                    "DELETE FROM publishers WHERE publisher_id = %s AND NOT EXISTS"
                    " (SELECT 1 FROM instruments WHERE publisher_ref = %s) AND NOT EXISTS"
                    " (SELECT 1 FROM symbology WHERE publisher_ref = %s)",
                    [entry.ref_id, entry.ref_id, entry.ref_id],
                )
            entry.delete()
    IngestJournal.objects.using(DB).filter(pk=journal.pk).delete()


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]  # noqa: SIM115
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def journals_recover() -> int:
    """Roll back the journals of ingests on this machine whose process is gone; how many."""
    host = socket.gethostname()
    count = 0
    for journal in IngestJournal.objects.using(DB).filter(host=host).order_by("journal_id"):
        if journal.pid != os.getpid() and _process_gone(journal.pid):
            logger.warning("rolling back the unfinished ingest of %s", journal.source)
            journal_rollback(journal)
            count += 1
    return count
