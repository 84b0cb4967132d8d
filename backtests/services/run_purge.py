"""Delete runs without holding the write lock for long: mark at once, purge in chunks.

A big run has millions of event rows; deleting them in one transaction held SQLite's single
write lock for most of a minute (issue 12), so recording runs failed and requests waited.
``runs_delete`` (``backtests.services.runs``) instead marks the runs ``deleted`` in one short
write (``Run.objects`` hides them from then on: lists, pages, the API, the admin and workers,
whose next heartbeat finds the run gone and stops) and then ``runs_purge`` removes their rows
table by table, ``OST_RUNS_PURGE_CHUNK_ROWS`` rows per transaction, the run row last. Each
chunk holds the write lock for a fraction of a second, so other writers slip in between.

The tables are found by introspection (every relation pointing at ``Run``, hidden ones
included), so a table added later is purged too; a relation that sets NULL on delete (a
study's trial keeps its row) is nulled in chunks instead. A purge interrupted by a crash
leaves hidden, marked runs, which the next purge finishes. On SQLite the WAL is checkpointed
(TRUNCATE) at the end, so the file the deletes grew shrinks back.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import models, transaction

from backtests.models import Run
from ostsite.db import wal_checkpoint

DB = "default"
DEFAULT_CHUNK_ROWS = 20_000


def purge_chunk_rows() -> int:
    """Rows deleted per transaction (``OST_RUNS_PURGE_CHUNK_ROWS``)."""
    return max(1, int(getattr(settings, "OST_RUNS_PURGE_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)))


def run_relations() -> list[models.ForeignObjectRel]:
    """Every relation from another model to ``Run`` (hidden ``related_name="+"`` included)."""
    return [
        field
        for field in Run._meta.get_fields(include_hidden=True)
        if field.auto_created and not field.concrete and field.is_relation
    ]


def _has_dependents(model: type[models.Model]) -> bool:
    """Whether other rows point at ``model``'s rows (then Django's collector deletes them)."""
    return any(
        f.auto_created and not f.concrete and f.is_relation
        for f in model._meta.get_fields(include_hidden=True)
    )


def _purge_relation(relation: models.ForeignObjectRel, run_id: str, chunk: int) -> int:
    """Delete (or null) the rows of one relation of one run, ``chunk`` at a time: each chunk
    one statement ``... WHERE pk IN (SELECT pk ... WHERE run_id = %s LIMIT chunk)`` in a
    transaction of its own."""
    model = relation.related_model
    column = relation.field.name
    manager = model._base_manager
    rows = manager.filter(**{column: run_id})
    nulling = relation.on_delete is models.SET_NULL
    collect = _has_dependents(model)
    done = 0
    while True:
        batch = manager.filter(pk__in=rows.values("pk")[:chunk])
        with transaction.atomic(using=DB):
            if nulling:
                count = batch.update(**{column: None})
            elif collect:
                count = batch.delete()[1].get(model._meta.label, 0)
            else:  # a leaf table: one DELETE, no objects fetched
                count = batch._raw_delete(DB)
        done += count
        if count < chunk:
            return done


def runs_purge(*, run_ids: Iterable[str] | None = None) -> int:
    """Remove the rows of runs marked deleted (those of ``run_ids``, or all), chunk by chunk;
    returns how many runs were removed."""
    marked = Run.all_objects.filter(deleted=True)
    if run_ids is not None:
        marked = marked.filter(run_id__in=list(run_ids))
    chunk = purge_chunk_rows()
    relations = run_relations()
    removed = 0
    for run_id in marked.order_by("run_id").values_list("run_id", flat=True):
        for relation in relations:
            _purge_relation(relation, run_id, chunk)
        with transaction.atomic(using=DB):
            # anything a stopping worker wrote meanwhile goes with the row (a few rows)
            deleted, _ = Run.all_objects.filter(run_id=run_id, deleted=True).delete()
        removed += 1 if deleted else 0
    if removed:
        wal_checkpoint(DB)
    return removed
