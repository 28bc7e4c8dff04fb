"""Ingest: files -> records -> unique documents -> chunks -> vectors -> store.

Input is taken in parts of ``ingest_part_docs`` papers, so memory stays bounded
however large the library: JSON Lines files are read line by line, other files
whole (up to ``max_file_mb``), and each part is deduplicated, embedded and written
before the next is read. Near-duplicates are found within a part; exact copies and
records sharing a DOI or arXiv id are found across the whole run (against what is
already written). A missing path or unsupported file fails before anything is
written; a bad file or record is a rejection in the report, never an exception.
Documents are compared with the store by id: unchanged ones are skipped, so
re-ingesting is a no-op, and an interrupted run is finished by running it again.
Papers a file no longer yields are deleted only after everything else is written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llama_index.core.schema import MetadataMode

from ..chunking import Chunker
from ..embeddings import Embedder
from ..errors import InputError
from ..models import Document, IngestReport, Rejection, file_of
from ..settings import Settings
from ..store import Store
from .bibtex import parse_bibtex
from .dedup import deduplicate, identifiers, same_title
from .files import detect, discover, read_lines, read_text, streamable
from .raw import ParseResult, parse_raw
from .ris import parse_ris
from .structured import jsonl_line, parse_csv, parse_json, parse_jsonl

log = logging.getLogger(__name__)

PARSERS = {"raw": parse_raw, "jsonl": parse_jsonl, "json": parse_json, "csv": parse_csv, "bibtex": parse_bibtex, "ris": parse_ris}
WRITE_BATCH_DOCS = 64
STREAM_BATCH_LINES = 2000  # JSON Lines parsed this many lines at a time
NO_ABSTRACTS = "no abstracts found in the file"

# progress(done, total) is called as documents are embedded and written.
Progress = Callable[[int, int], None]


def source_label(path: Path) -> str:
    """How a file is named in sources: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:  # another drive on Windows
        return str(path)


def parse_file(path: Path, settings: Settings) -> ParseResult:
    label = source_label(path)
    try:
        text = read_text(path, settings.max_file_mb)
    except (InputError, OSError) as exc:
        return _unreadable(label, exc)
    result = PARSERS[detect(path, text)](text, label, settings.max_record_chars)
    if not result.documents and not result.rejected:
        result.rejected.append(Rejection(where=label, reason=NO_ABSTRACTS))
    for line in result.unused:
        log.info("%s: unused %s", label, line)
    return result


def file_results(path: Path, settings: Settings) -> Iterator[tuple[ParseResult, int]]:
    """A file's records in batches, each with the bytes of the file read so far:
    JSON Lines streamed (any size), other formats read whole (up to ``max_file_mb``)."""
    label = source_label(path)
    try:
        streamed = streamable(path)
    except (InputError, OSError) as exc:
        yield _unreadable(label, exc), 0
        return
    if not streamed:
        yield parse_file(path, settings), path.stat().st_size
        return
    found = False
    result, done = ParseResult(), 0
    try:
        for number, line, problem, done in read_lines(path, settings.max_record_chars * 2):
            if problem:
                result.rejected.append(Rejection(where=f"{label}:{number}", reason=problem))
            else:
                jsonl_line(number, line, label, settings.max_record_chars, result)
            if number % STREAM_BATCH_LINES == 0:
                found = found or bool(result.documents or result.rejected)
                yield result, done
                result = ParseResult()
    except OSError as exc:
        result.rejected.extend(_unreadable(label, exc).rejected)
    if not found and not result.documents and not result.rejected:
        result.rejected.append(Rejection(where=label, reason=NO_ABSTRACTS))
    yield result, done


def _unreadable(label: str, exc: InputError | OSError) -> ParseResult:
    reason = exc.reason if isinstance(exc, InputError) else f"cannot read ({exc.strerror or exc})"
    return ParseResult(rejected=[Rejection(where=label, reason=reason)])


def read_documents(paths: list[str | Path], settings: Settings, report: IngestReport) -> tuple[list[Document], list[str]]:
    """Every record of ``paths`` in memory at once (for benchmarks and tools over small
    inputs; :func:`ingest` reads in parts)."""
    files, report.skipped_files = discover(paths)
    report.files = len(files)
    reader = _Reader(files, settings, report)
    docs = [d for part in reader.parts(part_docs=None) for d in part]
    return docs, reader.parsed_files


@dataclass
class _Reader:
    """Reads files into parts of documents, keeping the report's per-file counts."""

    files: list[Path]
    settings: Settings
    report: IngestReport
    parsed_files: list[str] = field(default_factory=list)  # complete once every part is handed out
    fraction: float = 0.0  # share of the input's bytes read so far

    def parts(self, part_docs: int | None) -> Iterator[list[Document]]:
        sizes = [p.stat().st_size if p.exists() else 0 for p in self.files]
        total, before = max(sum(sizes), 1), 0
        pending: list[Document] = []
        for path, size in zip(self.files, sizes):
            label, any_docs, any_rejected = source_label(path), False, False
            for result, done in file_results(path, self.settings):
                self.report.rejected.extend(result.rejected)
                self.report.no_abstract += result.no_abstract
                self.report.records += len(result.documents)
                any_docs, any_rejected = any_docs or bool(result.documents), any_rejected or bool(result.rejected)
                pending.extend(result.documents)
                self.fraction = min((before + done) / total, 0.999999)  # 1.0: every part handed out
                while part_docs and len(pending) >= part_docs:
                    yield pending[:part_docs]
                    pending = pending[part_docs:]
            before += size
            if any_docs or not any_rejected:
                self.parsed_files.append(label)
        self.fraction = 1.0
        if pending:
            yield pending


def ingest(
    paths: list[str | Path],
    settings: Settings,
    store: Store,
    embedder: Embedder,
    progress: Progress | None = None,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport(collection=store.name)
    files, report.skipped_files = discover(paths)
    report.files = len(files)
    reader = _Reader(files, settings, report)
    run = _Run(settings, store, embedder, report, progress, [source_label(p) for p in files])
    try:
        for part in reader.parts(settings.ingest_part_docs):
            run.part(part, reader.fraction)
        run.finish(reader.parsed_files)
    finally:
        if run.wrote:
            store.bump_generation()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


@dataclass
class _New:
    """What deciding "added or updated" needs of a paper written for the first time."""

    doc_id: str
    source: str
    source_file: str
    title: str
    identifiers: list[str]


class _Run:
    """One ingest run over its parts: the state that spans parts (ids seen, papers new to
    the store) and the writes."""

    def __init__(
        self, settings: Settings, store: Store, embedder: Embedder, report: IngestReport, progress: Progress | None, labels: list[str]
    ) -> None:
        self.settings, self.store, self.embedder, self.report, self.progress = settings, store, embedder, report, progress
        self.chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
        self.before = store.doc_ids_from_files(labels)  # the papers these files held before this run
        self.seen: set[str] = set()  # every unique paper of this run so far
        self.new: list[_New] = []  # papers not stored before (only kept when some were: to tell updates)
        self.done = self.todo = self.processed = 0
        self.wrote = False

    def part(self, docs: list[Document], fraction: float) -> None:
        report = self.report
        self.processed += len(docs)
        unique, duplicates = deduplicate(docs, self.settings.near_duplicate_threshold)
        report.duplicates += duplicates
        fresh = []
        for d in unique:
            if d.doc_id in self.seen:  # the same text in an earlier part
                log.info("%s is the same text as a paper read before it; not added again", d.source)
                report.duplicates += 1
                continue
            self.seen.add(d.doc_id)
            fresh.append(d)
        stored = self.store.states(d.doc_id for d in fresh)
        todo = [d for d in fresh if not (d.doc_id in stored and stored[d.doc_id].complete)]
        report.unchanged += len(fresh) - len(todo)
        partial = [d.doc_id for d in todo if d.doc_id in stored]  # interrupted earlier: rewrite whole
        todo = self._not_stored_elsewhere(todo, stored)
        for d in todo:
            if d.doc_id in stored:
                continue
            if self.before:
                self.new.append(_New(d.doc_id, d.source, d.source_file, d.title, identifiers(d)))
            else:
                report.added += 1
        self.todo += len(todo)
        if partial:
            self.wrote = True
            self.store.delete_docs(partial)
        self._write(todo, fraction)

    def _not_stored_elsewhere(self, todo: list[Document], stored: dict) -> list[Document]:
        """``todo`` without the papers the store already holds from another file (or from an
        earlier part of this run) under the same DOI or arXiv id: the same paper, its
        abstract worded differently there."""
        new = [d for d in todo if d.doc_id not in stored]
        dois = [d.doi.lower() for d in new if d.doi]
        arxiv = [d.arxiv_id for d in new if d.arxiv_id]
        if not dois and not arxiv:
            return todo
        known: dict[str, list] = {}
        for doc_id, s in self.store.with_identifiers(dois, arxiv).items():
            # a file's own earlier version is an update, not a duplicate
            if doc_id not in self.before or doc_id in self.seen:
                for k in _keys(s.doi, s.arxiv_id):
                    known.setdefault(k, []).append(s)
        kept = []
        for d in todo:
            twin = next((s for k in identifiers(d) for s in known.get(k, []) if same_title(s.title, d.title)), None)
            if twin is not None and d.doc_id not in stored:
                log.info("%s is already stored from %s (same DOI/arXiv id); not added again", d.source, twin.source)
                self.report.duplicates += 1
                continue
            kept.append(d)
        return kept

    def _write(self, todo: list[Document], fraction: float) -> None:
        # The total is known once every file is read; until then it is estimated: the
        # records in the input (those read so far over the share of its bytes read) times
        # the share of records processed so far that needed writing.
        if fraction >= 1:
            total = self.todo
        else:
            records = self.report.records / max(fraction, 1e-9)
            total = max(self.todo, round(records * self.todo / max(self.processed, 1)))
        for start in range(0, len(todo), WRITE_BATCH_DOCS):
            batch = todo[start : start + WRITE_BATCH_DOCS]
            nodes = [n for d in batch for n in self.chunker.chunks(d)]
            vectors = self.embedder.embed([n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
            for node, vector in zip(nodes, vectors):
                node.embedding = vector
            self.wrote = True
            self.store.add(nodes)
            self.report.chunks_written += len(nodes)
            self.done += len(batch)
            if self.progress:
                self.progress(self.done, max(total, self.done))

    def finish(self, parsed_files: list[str]) -> None:
        """Count updates and delete what the files no longer hold (after the new versions are in)."""
        report, files = self.report, set(parsed_files)
        # Documents that these files used to hold but no longer do: replaced or gone.
        gone = self.before - self.seen
        previous = {i: s for i, s in self.store.states(gone).items() if s.source_file in files} if gone else {}
        by_title = {(s.source_file, s.title): i for i, s in previous.items() if s.title}
        by_place = {s.source: i for i, s in previous.items()}
        by_identifier = {k: i for i, s in previous.items() for k in _keys(s.doi, s.arxiv_id)}
        replaced: set[str] = set()
        for d in self.new:
            old = by_title.get((d.source_file, d.title)) if d.title else None
            old = old or next((by_identifier[k] for k in d.identifiers if k in by_identifier), None)
            old = old or by_place.get(d.source)
            if old and old not in replaced:
                replaced.add(old)
                report.updated += 1
            else:
                report.added += 1
        # A file with rejected records may have lost a paper only to a typo: what it no longer
        # yields stays stored (said in the report) until the file reads cleanly again.
        incomplete = {file_of(r.where) for r in report.rejected} & files
        obsolete = [i for i, s in previous.items() if i in replaced or s.source_file not in incomplete]
        report.kept = len(previous) - len(obsolete)
        report.removed = len(obsolete) - len(replaced)
        if obsolete:
            self.wrote = True
            self.store.delete_docs(obsolete)


def _keys(doi: str | None, arxiv_id: str | None) -> list[str]:
    return identifiers(Document(doc_id="", abstract="", source="", doi=doi, arxiv_id=arxiv_id))


