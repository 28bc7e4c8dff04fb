"""The lexical (BM25) index: a tantivy index on disk, updated with every write to the store.

Why tantivy: the pinned Chroma ranks by BM25 / sparse vectors only in its cloud and
distributed deployments ("Sparse vector indexing is not enabled in local", for the
embedded client and ``chroma run`` alike), and the bm25s index we had lived in memory
and was built again from every chunk after any write (seconds at 100k chunks, minutes
at 1M). tantivy is a Lucene-style engine: segments on disk, atomic commits, deletes
by term, and block-max WAND top-k, so adding 100 papers costs what the 100 cost and a
query reads a few postings blocks instead of scoring every chunk holding "model".
(SQLite FTS5 was measured too: no top-k pruning, 60 ms p50 at 100k chunks against
tantivy's ~2 ms; ``benchmarks/lexical.py``.)

What is indexed is the chunk's title and text after the tokenizer the index has always
used (bm25s' English stopwords, Snowball stems), as space-separated stems that
tantivy's whitespace tokenizer splits again. Its BM25 is Lucene's (idf
``ln(1 + (N - n + 0.5) / (n + 0.5))``, k1 1.2, b 0.75). Rows carry the chunk id and the
fields the search filters use; text and metadata stay in Chroma, the source of truth.

Keeping it in step with Chroma (``rag.mirror.LexicalMirror`` does this for the store): every
write marks the index *pending* (``state.json`` beside it) before Chroma is written and
commits the mirror right after; ``Store.bump_generation`` records the store's write
generation and clears the mark. A kill between the two writes leaves the mark, a write
by a process with another ``data_dir`` (a shared Chroma server) leaves another
generation, and either makes the next reader reconcile: compare chunk ids with
Chroma, add what is missing, drop what is gone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import logs
from .errors import RagError
from .integrity import write_atomic

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECONCILE_BATCH = 2000  # chunks read from Chroma and indexed at a time
WRITER_HEAP = 50_000_000  # bytes the writer buffers before flushing a segment
LOCK_WAIT_S = 120.0  # how long a write waits for another process's writer
TIE_MARGIN = 20  # extra hits read so ties at the cut are broken by chunk id
DISK_FULL_BELOW = 2 * WRITER_HEAP  # free bytes under which a failed write is a full disk


def stems(texts: list[str]) -> list[list[str]]:
    """bm25s' tokenizer with English stopwords and Snowball stems (the index's words)."""
    import bm25s

    logs.tame("bm25s")  # it sets its logger to DEBUG when imported
    out = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)
    return [list(t) for t in out]


_STEMMER: Any = None


def _stemmer() -> Any:
    global _STEMMER
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("english")
    return _STEMMER


def index_text(node: BaseNode) -> str:
    return f"{node.metadata.get('title', '')}\n{node.get_content()}"


class LexicalError(Exception):
    """The index cannot be used (damaged, not ours, or its writer lock never freed)."""


@contextlib.contextmanager
def _engine(where: Path) -> Iterator[None]:
    """tantivy's failures as one LexicalError: its errors are ValueErrors, and damage it
    trips over inside Rust surfaces as pyo3's PanicException, a BaseException."""
    try:
        yield
    except (LexicalError, RagError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 (see the docstring)
        raise LexicalError(f"{where}: {' '.join(str(exc).split())[:300]}") from exc


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("doc_id", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("year", indexed=True, fast=True)  # -1 when unknown
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic")  # the source file's name
    builder.add_text_field("stems", tokenizer_name="whitespace", index_option="freq")
    return builder.build()


class LexicalIndex:
    """One folder per collection: ``index/`` (tantivy) and ``state.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index: Any = None
        self._schema: Any = None

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    # --- opening ---------------------------------------------------------------------
    @property
    def index(self) -> Any:
        if self._index is None:
            self._index = self._open()
        return self._index

    def _open(self) -> Any:
        import tantivy

        folder = self.path / "index"
        with _engine(folder):
            folder.mkdir(parents=True, exist_ok=True)
            state = self._state()
            if state.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
                raise LexicalError(f"schema {state.get('schema')}, expected {SCHEMA_VERSION}")
            self._schema = _schema()
            return tantivy.Index(self._schema, path=str(folder), reuse=True)

    def close(self) -> None:
        self._index = None

    def discard(self) -> None:
        """Delete the index (damaged): the next use starts an empty one."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    # --- state -----------------------------------------------------------------------
    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise LexicalError(f"{self.state_file}: unreadable ({exc})") from exc

    def _put_state(self, **changes: object) -> None:
        state = {**self._state(), "schema": SCHEMA_VERSION, **changes}
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.state_file, json.dumps(state).encode())

    def generation(self) -> int | None:
        value = self._state().get("generation")
        return int(value) if value is not None else None

    def pending(self) -> bool:
        return bool(self._state().get("pending"))

    def mark_pending(self) -> None:
        if not self.pending():
            self._put_state(pending=True)

    def synced(self, generation: int) -> None:
        """The index holds exactly the store's chunks at ``generation``."""
        self._put_state(generation=generation, pending=False)

    # --- reading ---------------------------------------------------------------------
    def _searcher(self) -> Any:
        with _engine(self.path):
            self.index.reload()  # see commits of other processes (reads one small file)
            return self.index.searcher()

    def count(self) -> int:
        return int(self._searcher().num_docs)

    def ids(self) -> set[str]:
        import tantivy

        searcher = self._searcher()
        if not searcher.num_docs:
            return set()
        with _engine(self.path):
            hits = searcher.search(tantivy.Query.all_query(), limit=searcher.num_docs, count=False).hits
            return {searcher.doc(address)["id"][0] for _, address in hits}

    def search(
        self,
        query: str,
        n: int,
        *,
        year_min: int | None = None,
        year_max: int | None = None,
        include_undated: bool = True,
        source: str | None = None,
    ) -> list[tuple[str, float]]:
        """The best ``n`` (chunk id, BM25 score) pairs, best first; scores are positive."""
        import tantivy

        words = stems([query])[0] if query.strip() else []
        if not words or n <= 0:
            return []
        searcher = self._searcher()
        if not searcher.num_docs:
            return []
        schema = self._schema
        Q, Occur = tantivy.Query, tantivy.Occur
        # A word asked twice counts twice, as it did in bm25s.
        text = Q.boolean_query([(Occur.Should, Q.term_query(schema, "stems", w)) for w in words])
        clauses = [(Occur.Must, text)]
        if year_min is not None or year_max is not None:
            low = year_min if year_min is not None else 0
            high = year_max if year_max is not None else 2**62
            years = Q.range_query(schema, "year", tantivy.FieldType.Integer, low, high)
            if include_undated:
                undated = Q.range_query(schema, "year", tantivy.FieldType.Integer, -(2**62), -1)
                years = Q.boolean_query([(Occur.Should, years), (Occur.Should, undated)])
            clauses.append((Occur.Must, Q.const_score_query(years, 0.0)))
        if source is not None:
            clauses.append((Occur.Must, Q.const_score_query(Q.term_query(schema, "source", source), 0.0)))
        final = text if len(clauses) == 1 else Q.boolean_query(clauses)
        with _engine(self.path):
            # Equal scores are common (recombined or duplicated texts); tantivy orders them
            # by where a chunk sits in its segments, which depends on the order of writes.
            # A margin past n, then (score, id), gives every store of the same chunks the
            # same ranking whatever order (or resumed ingest) wrote them.
            hits = searcher.search(final, limit=n + TIE_MARGIN, count=False).hits
            found = [(searcher.doc(address)["id"][0], float(score)) for score, address in hits if score > 0]
        found.sort(key=lambda pair: (-pair[1], pair[0]))
        return found[:n]

    def integrity(self) -> str | None:
        """What is wrong with the index itself (None: it opens and answers)."""
        try:
            self._state()
            self.search("integrity check", 1)  # opens the index and reads its segments
        except LexicalError as exc:
            return f"damaged ({exc})"
        return None

    # --- writing ---------------------------------------------------------------------
    def _write(self, work: Callable[[Any], None]) -> None:
        """Run ``work(writer)`` and commit it as one tantivy commit (all or nothing),
        waiting for another process's writer (one per index) for up to ``LOCK_WAIT_S``."""
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                with _engine(self.path):
                    writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=1)
                break
            except LexicalError as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() > deadline:
                    raise LexicalError(f"{self.path}: another process holds its writer ({exc})") from exc
                time.sleep(0.05)
        try:
            with _engine(self.path):
                try:
                    work(writer)
                    writer.commit()
                except BaseException:
                    writer.rollback()
                    raise
                finally:
                    writer.wait_merging_threads()
        except LexicalError as exc:
            # tantivy reports a full disk as "a worker thread encountered an error": say
            # what it is, so the store names the way out instead of rebuilding the index.
            text = str(exc)
            if "No space left" in text or "StorageFull" in text or shutil.disk_usage(self.path).free < DISK_FULL_BELOW:
                raise OSError(errno.ENOSPC, f"{self.path}: no space left on the device ({exc})") from exc
            raise

    def _document(self, node: BaseNode, words: list[str]) -> Any:
        import tantivy

        meta = node.metadata
        year = meta.get("year")
        return tantivy.Document(
            id=node.node_id,
            doc_id=str(meta.get("doc_id") or node.ref_doc_id or ""),
            year=int(year) if year is not None else -1,
            source=str(meta.get("source_name", "")),
            stems=" ".join(words),
        )

    def add(self, nodes: Sequence[BaseNode]) -> None:
        """Insert or replace ``nodes`` (tokenized before the writer is taken)."""
        if not nodes:
            return
        documents = [self._document(n, w) for n, w in zip(nodes, stems([index_text(n) for n in nodes]))]

        def work(writer: Any) -> None:
            for node, document in zip(nodes, documents):
                writer.delete_documents_by_term("id", node.node_id)
                writer.add_document(document)

        self._write(work)

    def delete_docs(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        def work(writer: Any) -> None:
            for doc_id in ids:
                writer.delete_documents_by_term("doc_id", doc_id)

        if ids:
            self._write(work)

    def reconcile(
        self,
        list_ids: Callable[[], Iterable[str]],
        read: Callable[[Sequence[str]], Mapping[str, BaseNode]],
        generation: int,
    ) -> tuple[int, int]:
        """Make the index hold exactly the chunks ``list_ids()`` names (reading the
        missing ones with ``read``) and record ``generation``: (added, dropped).

        Holding the writer while listing: a writer in another process that has already
        written Chroma waits for us before mirroring it, so a chunk it adds or deletes
        during the listing is either seen by the listing or written by it after us.
        """
        counts = [0, 0]

        def work(writer: Any) -> None:
            now = set(list_ids())
            have = self.ids()
            gone = sorted(have - now)
            if len(gone) * 10 > len(have):
                # Mostly other chunks (another store's index, an old copy): start over.
                # Deleted documents count in BM25's statistics until segments merge, so
                # deleting most of an index in place would skew rankings for a long time.
                writer.delete_all_documents()
                have = set()
            for chunk_id in gone if have else ():
                writer.delete_documents_by_term("id", chunk_id)
            missing = sorted(now - have)
            for start in range(0, len(missing), RECONCILE_BATCH):
                nodes = list(read(missing[start : start + RECONCILE_BATCH]).values())
                for node, words in zip(nodes, stems([index_text(n) for n in nodes])):
                    writer.delete_documents_by_term("id", node.node_id)
                    writer.add_document(self._document(node, words))
            counts[:] = [len(missing), len(gone)]

        self._write(work)
        self.synced(generation)
        return counts[0], counts[1]
