"""Ingest: files -> records -> unique documents -> chunks -> vectors -> store.

Everything that can fail on bad input (reading, parsing) happens before the first
write. Documents are compared with the store by id: unchanged ones are skipped,
so re-ingesting is a no-op, and an interrupted run is finished by running it again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from llama_index.core.schema import MetadataMode

from ..chunking import Chunker
from ..embeddings import Embedder
from ..errors import InputError
from ..models import Document, IngestReport, Rejection
from ..settings import Settings
from ..store import Store
from .bibtex import parse_bibtex
from .dedup import deduplicate, identifiers, same_title
from .files import detect, discover, read_text
from .raw import ParseResult, parse_raw
from .ris import parse_ris
from .structured import parse_csv, parse_json, parse_jsonl

log = logging.getLogger(__name__)

PARSERS = {"raw": parse_raw, "jsonl": parse_jsonl, "json": parse_json, "csv": parse_csv, "bibtex": parse_bibtex, "ris": parse_ris}
WRITE_BATCH_DOCS = 64

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
    except InputError as exc:
        return ParseResult(rejected=[Rejection(where=label, reason=exc.reason)])
    except OSError as exc:
        return ParseResult(rejected=[Rejection(where=label, reason=f"cannot read ({exc.strerror or exc})")])
    result = PARSERS[detect(path, text)](text, label, settings.max_record_chars)
    if not result.documents and not result.rejected:
        result.rejected.append(Rejection(where=label, reason="no abstracts found in the file"))
    for line in result.unused:
        log.info("%s: unused %s", label, line)
    return result


def read_documents(paths: list[str | Path], settings: Settings, report: IngestReport) -> tuple[list[Document], list[str]]:
    files, skipped = discover(paths)
    report.files = len(files)
    report.skipped_files = skipped
    docs: list[Document] = []
    labels: list[str] = []
    for path in files:
        result = parse_file(path, settings)
        report.rejected.extend(result.rejected)
        report.no_abstract += result.no_abstract
        docs.extend(result.documents)
        if result.documents or not result.rejected:
            labels.append(source_label(path))
    report.records = len(docs)
    return docs, labels


def ingest(
    paths: list[str | Path],
    settings: Settings,
    store: Store,
    embedder: Embedder,
    progress: Progress | None = None,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport(collection=store.name)
    docs, parsed_files = read_documents(paths, settings, report)
    unique, report.duplicates = deduplicate(docs, settings.near_duplicate_threshold)

    stored = store.states(d.doc_id for d in unique)
    todo = [d for d in unique if not (d.doc_id in stored and stored[d.doc_id].complete)]
    report.unchanged = len(unique) - len(todo)
    partial = [d.doc_id for d in todo if d.doc_id in stored]  # interrupted earlier: rewrite whole

    # Documents that these files used to hold but no longer do: replaced or gone.
    new_ids = {d.doc_id for d in unique}
    previous = {i: s for i, s in store.documents_from_files(parsed_files).items() if i not in new_ids}
    todo = _not_stored_elsewhere(todo, stored, previous, store, report)
    by_title = {(s.source.rsplit(":", 1)[0], s.title): i for i, s in previous.items() if s.title}
    by_place = {s.source: i for i, s in previous.items()}
    by_identifier = {k: i for i, s in previous.items() for k in _keys(s.doi, s.arxiv_id)}
    replaced: set[str] = set()
    for d in todo:
        if d.doc_id in stored:
            continue
        old = by_title.get((d.source_file, d.title)) if d.title else None
        old = old or next((by_identifier[k] for k in identifiers(d) if k in by_identifier), None)
        old = old or by_place.get(d.source)
        if old and old not in replaced:
            replaced.add(old)
            report.updated += 1
        else:
            report.added += 1
    # A file with rejected records may have lost a paper only to a typo: what it no longer
    # yields stays stored (said in the report) until the file reads cleanly again.
    incomplete = {r.where.rsplit(":", 1)[0] for r in report.rejected} & set(parsed_files)
    obsolete = [i for i, s in previous.items() if i in replaced or s.source.rsplit(":", 1)[0] not in incomplete]
    report.kept = len(previous) - len(obsolete)
    report.removed = len(obsolete) - len(replaced)

    if todo or obsolete:
        _write(todo, partial, obsolete, settings, store, embedder, report, progress)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _keys(doi: str | None, arxiv_id: str | None) -> list[str]:
    return identifiers(Document(doc_id="", abstract="", source="", doi=doi, arxiv_id=arxiv_id))


def _not_stored_elsewhere(
    todo: list[Document], stored: dict, previous: dict, store: Store, report: IngestReport
) -> list[Document]:
    """``todo`` without the papers the store already holds from another file under the
    same DOI or arXiv id (the same paper, its abstract worded differently there)."""
    new = [d for d in todo if d.doc_id not in stored]
    dois = [d.doi.lower() for d in new if d.doi]
    arxiv = [d.arxiv_id for d in new if d.arxiv_id]
    if not dois and not arxiv:
        return todo
    known: dict[str, list] = {}
    for doc_id, s in store.with_identifiers(dois, arxiv).items():
        if doc_id not in previous:  # a file's own earlier version is an update, not a duplicate
            for k in _keys(s.doi, s.arxiv_id):
                known.setdefault(k, []).append(s)
    kept = []
    for d in todo:
        twin = next((s for k in identifiers(d) for s in known.get(k, []) if same_title(s.title, d.title)), None)
        if twin is not None and d.doc_id not in stored:
            log.info("%s is already stored from %s (same DOI/arXiv id); not added again", d.source, twin.source)
            report.duplicates += 1
            continue
        kept.append(d)
    return kept


def _write(
    todo: list[Document],
    partial: list[str],
    obsolete: list[str],
    settings: Settings,
    store: Store,
    embedder: Embedder,
    report: IngestReport,
    progress: Progress | None,
) -> None:
    chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
    if partial:
        store.delete_docs(partial)
    total = len(todo)
    try:
        for start in range(0, total, WRITE_BATCH_DOCS):
            batch = todo[start : start + WRITE_BATCH_DOCS]
            nodes = [n for d in batch for n in chunker.chunks(d)]
            vectors = embedder.embed([n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes])
            for node, vector in zip(nodes, vectors):
                node.embedding = vector
            store.add(nodes)
            report.chunks_written += len(nodes)
            if progress:
                progress(min(start + len(batch), total), total)
        # Old versions go only after the new ones are safely in.
        if obsolete:
            store.delete_docs(obsolete)
    finally:
        store.bump_generation()
