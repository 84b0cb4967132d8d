"""Ingest Databento downloads into the security master.

Accepted inputs: batch zips (``.dbn.zst``/``.dbn`` members with ``metadata.json`` and
``symbology.json``), single ``.dbn``/``.dbn.zst`` files (dataset and symbol mappings from their
own DBN metadata), and folders of those (recursively, in sorted order).

Each file is stored whole or not at all: its bars are written in bounded transactions
(``OST_INGEST_TRANSACTION_RECORDS`` records each, so the write lock is never held for long) that
an ingest journal can undo (``secmaster.services.journal``): a file that fails half-way leaves
the database as it was, and a zip is stored whole or not at all. Bars already stored are left
alone, so ingesting the same file twice changes nothing. The file's symbology (checked before
its bars are written) and the symbol coverage of its publisher are stored in its last
transaction, which also deletes its journal.

Hostile input is refused with a message naming the file (and zip member) and nothing stored:
- zip members whose path is absolute, holds ``..``, a backslash or a drive letter (even though
  nothing is extracted to disk), and encrypted members;
- expansion beyond the limits (settings, defaults in ``secmaster.dbn_reading``):
  ``OST_INGEST_MAX_MEMBER_BYTES`` uncompressed bytes per DBN file or member (8 GiB),
  ``OST_INGEST_MAX_RATIO`` times its size on disk (1000), checked against the sizes a zip
  declares before anything is read, and against the bytes actually produced while streaming;
  ``OST_INGEST_MAX_METADATA_BYTES`` (64 MiB) for metadata.json, symbology.json and a DBN
  metadata header, checked before they are read;
- metadata.json / symbology.json that are not UTF-8 (a UTF-8 byte-order mark is tolerated;
  UTF-16/UTF-32 and Latin-1 bytes are refused rather than guessed), empty or malformed.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import transaction

from ostsite.db import wal_checkpoint
from ostsite.errors import InvalidInput
from secmaster.dbn_reading import (
    DEFAULT_MAX_MEMBER_BYTES,
    DEFAULT_MAX_METADATA_BYTES,
    DEFAULT_MAX_RATIO,
    OHLCV_SCHEMA_RTYPES,
    RATIO_FLOOR_BYTES,
    CountingReader,
    DbnOhlcvReader,
    MappingInterval,
    ReadLimits,
)
from secmaster.models import IngestJournal, IngestJournalEntry, Publisher
from secmaster.services.bars import BarWriter
from secmaster.services.coverage import coverage_rebuild
from secmaster.services.journal import (
    journal_close,
    journal_created,
    journal_open,
    journal_rollback,
    journals_recover,
    transaction_records,
)
from secmaster.services.symbology import symbology_parse, symbology_store

logger = logging.getLogger(__name__)

DB = "secmaster"
DBN_SUFFIXES = (".dbn.zst", ".dbn")
FILE_SUFFIXES = (".zip", *DBN_SUFFIXES)

MSG_PATH_MISSING = "no such file or folder: {path}"
MSG_UNSUPPORTED = "{path}: not a Databento file (expected .zip, .dbn or .dbn.zst)"
MSG_EMPTY_FOLDER = "{path}: the folder holds no .zip, .dbn or .dbn.zst files"
MSG_NO_PATHS = "no paths given"
MSG_EMPTY_OPTION = "{option} must not be empty"
MSG_UNREADABLE = "{path}: cannot be read: {error}"
MSG_BAD_ZIP = "{path}: not a readable zip archive: {error}"
MSG_ZIP_NO_DBN = "{path}: the zip holds no .dbn or .dbn.zst files"
MSG_ZIP_DUPLICATE = "{path}: the zip holds more than one {name}: {members}"
MSG_METADATA_JSON = "{source}: invalid JSON: {error}"
MSG_METADATA_DEPTH = "{source}: invalid JSON: nested too deeply"
MSG_METADATA_ROOT = "{source}: expected an object with a 'query' object"
MSG_METADATA_DATASET = "{source}: 'query.dataset' must be a non-empty string, got {value!r}"
MSG_METADATA_SCHEMA = (
    "{source}: schema '{schema}' is not an OHLCV schema (expected one of {expected})"
)
MSG_UNSAFE_MEMBER = "{path}: member {member!r} has an unsafe path ({reason}); the zip is refused"
MSG_ENCRYPTED_MEMBER = "{source}: encrypted zip members are not supported"
MSG_ARCHIVE_RATIO = (
    "{path}: its members declare {declared:,} bytes uncompressed, more than {ratio:g} times the"
    " zip's {size:,} bytes (OST_INGEST_MAX_RATIO); refused as a possible zip bomb"
)
MSG_METADATA_TOO_BIG = (
    "{source}: {size:,} bytes, over the limit of {limit:,} bytes"
    " (OST_INGEST_MAX_METADATA_BYTES); refused before parsing"
)
MSG_JSON_EMPTY = "{source}: empty file (expected a JSON object)"
MSG_JSON_ENCODING = "{source}: not UTF-8 text ({detail}); save it as UTF-8"
MSG_NO_DATASET = "{source}: no dataset in the DBN metadata; pass --dataset"
MSG_DATASET_MISMATCH = (
    "{source}: dataset {found!r} differs from {expected!r}; pass --dataset to override"
)

NO_NEW_BARS = "no new bars (all were stored already)"
DUPLICATES_NOTE = (
    "duplicate records (same instrument, rtype and ts_event as an earlier record of the file;"
    " the first was stored, the repeats skipped): {files}"
)

ProgressCallback = Callable[[int, int, int], None]
"""Called as progress(bytes_done, bytes_total, records_so_far) while files are read."""


class IngestError(InvalidInput):
    """An input file or option is unusable; the message names the file and the fault."""


def ingest_limits() -> ReadLimits:
    """The limits in force: ``OST_INGEST_*`` settings over the module defaults."""
    return ReadLimits(
        max_bytes=int(getattr(settings, "OST_INGEST_MAX_MEMBER_BYTES", DEFAULT_MAX_MEMBER_BYTES)),
        max_ratio=float(getattr(settings, "OST_INGEST_MAX_RATIO", DEFAULT_MAX_RATIO)),
        max_metadata_bytes=int(
            getattr(settings, "OST_INGEST_MAX_METADATA_BYTES", DEFAULT_MAX_METADATA_BYTES)
        ),
    )


@dataclass
class IngestSummary:
    """What one ingest call did."""

    files: int = 0
    records: int = 0
    new_bars: int = 0
    symbols: set[str] = field(default_factory=set)
    coverage_rows: int = 0
    elapsed_seconds: float = 0.0
    duplicates: dict[str, int] = field(default_factory=dict)  # file -> repeated records

    @property
    def bars_per_second(self) -> float:
        return self.records / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def line(self) -> str:
        """The one-line summary the command prints (the rate counts records read, new or not)."""
        new = f"{self.new_bars:,} new bars" if self.new_bars else NO_NEW_BARS
        line = (
            f"Ingested {self.files} file(s): {self.records:,} records, {new},"
            f" {len(self.symbols)} symbols in {self.elapsed_seconds:.1f} s"
            f" ({self.bars_per_second:,.0f} records/s)"
        )
        if self.duplicates:
            line += "; " + DUPLICATES_NOTE.format(
                files="; ".join(f"{path}: {n:,}" for path, n in self.duplicates.items())
            )
        return line


def databento_files(paths: Sequence[Path]) -> list[Path]:
    """Expand folders (recursively, sorted) and check that every path exists and is usable."""
    if not paths:
        raise IngestError(MSG_NO_PATHS)
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise IngestError(MSG_PATH_MISSING.format(path=path))
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith(FILE_SUFFIXES)
            )
            if not found:
                raise IngestError(MSG_EMPTY_FOLDER.format(path=path))
            files.extend(found)
        elif path.name.endswith(FILE_SUFFIXES):
            files.append(path)
        else:
            raise IngestError(MSG_UNSUPPORTED.format(path=path))
    return files


def ingest_databento_paths(
    paths: Sequence[Path],
    *,
    publisher_name: str = "databento",
    symbol_type: str = "raw_symbol",
    dataset: str | None = None,
    progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Ingest files and folders; each file commits on its own, then coverage is rebuilt.

    Raises IngestError (or another InvalidInput) naming the file at fault; files before it stay
    committed, the failing file leaves no trace.
    """
    for option, value in (("--publisher", publisher_name), ("--symbol-type", symbol_type)):
        if not value or not value.strip():
            raise IngestError(MSG_EMPTY_OPTION.format(option=option))
    if dataset is not None and not dataset.strip():
        raise IngestError(MSG_EMPTY_OPTION.format(option="--dataset"))
    files = databento_files([Path(p) for p in paths])
    started = time.perf_counter()
    summary = IngestSummary()
    ingester = _Ingester(publisher_name, symbol_type, dataset, summary, progress)
    journals_recover()  # a killed ingest's partial file goes first
    try:
        for path in files:
            journal = journal_open(source=str(path))
            ingester.begin(journal)
            try:
                if path.name.endswith(".zip"):
                    ingester.ingest_zip(path)
                else:
                    ingester.ingest_dbn_file(path)
                # The file's last transaction: its symbology and coverage (so committed
                # coverage matches committed bars), and the journal is forgotten.
                with transaction.atomic(using=DB):
                    ingester.finish()
                    summary.coverage_rows = coverage_rebuild(publisher_ids=ingester.publishers)
                    journal_close(journal)
            except BaseException as exc:
                _rollback_quietly(journal)
                if isinstance(exc, OSError):
                    raise IngestError(MSG_UNREADABLE.format(path=path, error=exc)) from exc
                raise
            summary.files += 1
    finally:
        if summary.files:
            wal_checkpoint(DB)  # SQLite: the WAL the file's transactions grew shrinks back
        summary.elapsed_seconds = time.perf_counter() - started
    return summary


def _rollback_quietly(journal: IngestJournal) -> None:
    """Remove what a failed file wrote; a failure here is logged (the journal stays, and the
    next ingest finishes the rollback), never raised over the file's own error."""
    try:
        journal_rollback(journal)
    except Exception:
        logger.exception("rollback of the failed ingest of %s incomplete", journal.source)


class _DryRun(Exception):
    """Rolls back a check that had to write to find conflicts."""


def _venue(dataset: str) -> str | None:
    return dataset.split(".", 1)[0] if "." in dataset else None


class _Ingester:
    def __init__(
        self,
        publisher_name: str,
        symbol_type: str,
        dataset_override: str | None,
        summary: IngestSummary,
        progress: ProgressCallback | None,
    ) -> None:
        self.publisher_name = publisher_name
        self.symbol_type = symbol_type
        self.dataset_override = dataset_override
        self.summary = summary
        self.progress = progress
        self.limits = ingest_limits()
        self._bytes_done = 0
        self._bytes_total = 0
        self.publishers: set[int] = set()  # those the current file writes to
        self.journal: IngestJournal | None = None
        self._symbology: list[tuple[int, list[MappingInterval], str]] = []

    def begin(self, journal: IngestJournal) -> None:
        """Start a file whose writes ``journal`` records."""
        self.journal = journal
        self.publishers.clear()
        self._symbology.clear()

    def finish(self) -> None:
        """Store the file's symbology (in the caller's transaction, the file's last)."""
        for publisher_id, intervals, source in self._symbology:
            self.summary.symbols |= symbology_store(
                publisher_id=publisher_id,
                symbol_type=self.symbol_type,
                intervals=intervals,
                source=source,
            )

    def _publisher_id(self, dataset: str) -> int:
        with transaction.atomic(using=DB):
            publisher, created = Publisher.objects.using(DB).get_or_create(
                name=self.publisher_name, dataset=dataset, defaults={"venue": _venue(dataset)}
            )
            if created and self.journal is not None:
                journal_created(
                    self.journal, IngestJournalEntry.PUBLISHER, [publisher.publisher_id]
                )
        self.publishers.add(publisher.publisher_id)
        return publisher.publisher_id

    def _store_symbology(
        self, publisher_id: int, intervals: Iterable[MappingInterval], source: str
    ) -> None:
        """Check the mappings now (a conflict refuses the file before its bars are written);
        they are stored in the file's last transaction (``finish``)."""
        intervals = list(intervals)
        try:
            with transaction.atomic(using=DB):
                symbology_store(
                    publisher_id=publisher_id,
                    symbol_type=self.symbol_type,
                    intervals=intervals,
                    source=source,
                )
                raise _DryRun
        except _DryRun:
            pass
        self._symbology.append((publisher_id, intervals, source))

    def _stream_bars(
        self, reader: DbnOhlcvReader, counter: CountingReader, writer: BarWriter
    ) -> None:
        base = self._bytes_done
        for block in reader:
            writer.write(block)
            self.summary.records += len(block)
            if self.progress is not None:
                self.progress(base + counter.bytes_read, self._bytes_total, self.summary.records)
        self._bytes_done = base + counter.bytes_read

    def ingest_dbn_file(self, path: Path) -> None:
        self._bytes_done, self._bytes_total = 0, path.stat().st_size
        with path.open("rb") as raw:
            counter = CountingReader(raw)
            reader = DbnOhlcvReader(
                counter,
                str(path),
                limits=self.limits,
                stored_size=self._bytes_total,
                block_records=transaction_records(),
            )
            dataset = self.dataset_override or reader.header.dataset
            if not dataset:
                raise IngestError(MSG_NO_DATASET.format(source=path))
            publisher_id = self._publisher_id(dataset)
            self._store_symbology(publisher_id, reader.header.mappings, str(path))
            writer = BarWriter(publisher_id, journal=self.journal)
            try:
                self._stream_bars(reader, counter, writer)
            except BaseException:
                writer.discard()
                raise
            writer.close()  # writes the pending bar blocks, inside the file's transaction
        self._count(writer, path)

    def ingest_zip(self, path: Path) -> None:
        try:
            with zipfile.ZipFile(path) as archive:
                self._ingest_archive(path, archive)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise IngestError(MSG_BAD_ZIP.format(path=path, error=exc)) from exc

    def _ingest_archive(self, path: Path, archive: zipfile.ZipFile) -> None:
        for info in archive.infolist():
            reason = unsafe_member_reason(info.filename)
            if reason is not None:
                raise IngestError(
                    MSG_UNSAFE_MEMBER.format(path=path, member=info.filename, reason=reason)
                )
        infos = [i for i in archive.infolist() if not i.is_dir()]
        members = sorted(
            (i for i in infos if i.filename.endswith(DBN_SUFFIXES)), key=lambda i: i.filename
        )
        if not members:
            raise IngestError(MSG_ZIP_NO_DBN.format(path=path))
        metadata_member = _single_member(path, infos, "metadata.json")
        symbology_member = _single_member(path, infos, "symbology.json")
        self._check_declared_sizes(path, members, [metadata_member, symbology_member])
        dataset = self.dataset_override
        if metadata_member is not None:
            source = f"{path}!{metadata_member.filename}"
            found = _metadata_dataset(
                self._read_json_member(archive, metadata_member, source),
                source,
                required=self.dataset_override is None,
            )
            dataset = dataset or found
        symbology = None
        if symbology_member is not None:
            source = f"{path}!{symbology_member.filename}"
            text = self._read_json_member(archive, symbology_member, source)
            symbology = (symbology_parse(text, source=source), source)

        self._bytes_done, self._bytes_total = 0, sum(m.file_size for m in members)
        publisher_id: int | None = None
        writer: BarWriter | None = None
        header_mappings: list[MappingInterval] = []
        try:
            for member in members:
                name = f"{path}!{member.filename}"
                with archive.open(member) as stream:
                    counter = CountingReader(stream)
                    reader = DbnOhlcvReader(
                        counter,
                        name,
                        limits=self.limits,
                        stored_size=member.compress_size,
                        block_records=transaction_records(),
                    )
                    if dataset is None:
                        dataset = reader.header.dataset or None
                        if dataset is None:
                            raise IngestError(MSG_NO_DATASET.format(source=name))
                    elif not self.dataset_override and reader.header.dataset not in ("", dataset):
                        raise IngestError(
                            MSG_DATASET_MISMATCH.format(
                                source=name, found=reader.header.dataset, expected=dataset
                            )
                        )
                    if publisher_id is None:
                        publisher_id = self._publisher_id(dataset)
                        if symbology is not None:
                            self._store_symbology(publisher_id, symbology[0], symbology[1])
                        writer = BarWriter(publisher_id, journal=self.journal)
                    header_mappings.extend(reader.header.mappings)
                    self._stream_bars(reader, counter, writer)
            if symbology is None and header_mappings:
                self._store_symbology(publisher_id, header_mappings, str(path))
        except BaseException:
            if writer is not None:
                writer.discard()
            raise
        writer.close()  # writes the pending bar blocks, inside the zip's transaction
        self._count(writer, path)

    def _count(self, writer: BarWriter, path: Path) -> None:
        self.summary.new_bars += writer.new_bars
        if writer.duplicates:
            self.summary.duplicates[str(path)] = writer.duplicates

    def _check_declared_sizes(
        self,
        path: Path,
        members: list[zipfile.ZipInfo],
        json_members: list[zipfile.ZipInfo | None],
    ) -> None:
        """Refuse, before reading anything, what the zip's own directory says is too big."""
        read = [*members, *(m for m in json_members if m is not None)]
        for info in read:
            if info.flag_bits & 0x1:
                raise IngestError(MSG_ENCRYPTED_MEMBER.format(source=f"{path}!{info.filename}"))
        for member in members:
            limit, message = self.limits.expansion_limit(
                f"{path}!{member.filename}", member.compress_size
            )
            if member.file_size > limit:
                raise IngestError(message)
        declared = sum(info.file_size for info in read)
        size = path.stat().st_size
        if declared > max(self.limits.max_ratio * size, RATIO_FLOOR_BYTES):
            raise IngestError(
                MSG_ARCHIVE_RATIO.format(
                    path=path, declared=declared, ratio=self.limits.max_ratio, size=size
                )
            )

    def _read_json_member(
        self, archive: zipfile.ZipFile, member: zipfile.ZipInfo, source: str
    ) -> str:
        """The member's text, refused above the metadata size limit (declared or actual)."""
        limit = self.limits.max_metadata_bytes
        if member.file_size > limit:
            raise IngestError(
                MSG_METADATA_TOO_BIG.format(source=source, size=member.file_size, limit=limit)
            )
        with archive.open(member) as stream:
            raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise IngestError(
                MSG_METADATA_TOO_BIG.format(source=source, size=len(raw), limit=limit)
            )
        return json_text(raw, source)


def unsafe_member_reason(name: str) -> str | None:
    """Why a zip member name could escape an extraction folder, or None if it cannot."""
    if "\x00" in name:
        return "a NUL character"
    if "\\" in name:
        return "a backslash"
    if name.startswith("/"):
        return "an absolute path"
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        return "a drive letter"
    if ".." in PurePosixPath(name).parts:
        return "a '..' component"
    return None


def json_text(raw: bytes, source: str) -> str:
    """Decode a JSON member as UTF-8 (a UTF-8 byte-order mark is allowed); refuse the rest."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        detail = "it starts with a UTF-16 or UTF-32 byte-order mark"
    elif b"\x00" in raw:
        detail = "it holds NUL bytes, as UTF-16 or UTF-32 text does"
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            detail = f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8"
        else:
            if not text.strip():
                raise IngestError(MSG_JSON_EMPTY.format(source=source))
            return text
    raise IngestError(MSG_JSON_ENCODING.format(source=source, detail=detail))


def _single_member(
    path: Path, infos: list[zipfile.ZipInfo], basename: str
) -> zipfile.ZipInfo | None:
    found = [i for i in infos if PurePosixPath(i.filename).name == basename]
    if len(found) > 1:
        raise IngestError(
            MSG_ZIP_DUPLICATE.format(
                path=path, name=basename, members=", ".join(sorted(i.filename for i in found))
            )
        )
    return found[0] if found else None


def _metadata_dataset(raw: bytes, source: str, *, required: bool = True) -> str | None:
    """The dataset named by a batch download's metadata.json; refuses non-OHLCV schemas."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(MSG_METADATA_JSON.format(source=source, error=exc)) from exc
    except RecursionError:
        raise IngestError(MSG_METADATA_DEPTH.format(source=source)) from None
    if not isinstance(document, dict) or not isinstance(document.get("query"), dict):
        raise IngestError(MSG_METADATA_ROOT.format(source=source))
    query = document["query"]
    dataset = query.get("dataset")
    if (required or dataset is not None) and (not isinstance(dataset, str) or not dataset.strip()):
        raise IngestError(MSG_METADATA_DATASET.format(source=source, value=dataset))
    schema = query.get("schema")
    if schema is not None and schema not in OHLCV_SCHEMA_RTYPES:
        raise IngestError(
            MSG_METADATA_SCHEMA.format(
                source=source, schema=schema, expected=", ".join(OHLCV_SCHEMA_RTYPES)
            )
        )
    return dataset
