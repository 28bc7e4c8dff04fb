"""The Python API: one object that owns settings, store, embedder and retriever.

    from rag import Assistant
    a = Assistant()                      # settings from env / .env
    a.ingest(["data/corpus"])
    hits = a.search("speculative decoding", k=5)
    doc = a.document(hits[0].doc_id)

Components are built lazily, once, from settings (``make_embedder``, ``Store``);
tests and users can pass their own instead.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import queue
import threading
from typing import Iterator

from .answer.answerer import Answerer, Deps
from .embeddings import Embedder, make_embedder
from .llm import LLM
from .llm.factory import make_llm
from .errors import InputError
from .ingest.pipeline import Progress, ingest
from .models import Answer, Document, Hit, IngestReport
from .retrieve.filters import SearchFilters
from .retrieve.hybrid import HybridRetriever
from .settings import Settings
from .store import Store

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 4000


class Assistant:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        data_dir: str | Path | None = None,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        **overrides: Any,
    ) -> None:
        if data_dir is not None:
            overrides["data_dir"] = Path(data_dir)
        if settings is None:
            settings = Settings(**overrides)
        elif overrides:
            settings = settings.model_copy(update=overrides)
        self.settings = settings
        self._embedder = embedder
        self._llm = llm
        self._store: Store | None = None
        self._retriever: HybridRetriever | None = None

    # --- components ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            self._llm = make_llm(self.settings)
        return self._llm

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings)
        return self._store

    @property
    def retriever(self) -> HybridRetriever:
        if self._retriever is None:
            self._retriever = HybridRetriever(self.settings, self.store, self.embedder)
        return self._retriever

    def with_llm(self, llm: LLM) -> "Assistant":
        """The same store, embedder and retriever answering with another model (the
        eval wraps the model to record the prompts it is given)."""
        clone = copy.copy(self)
        clone._llm = llm
        return clone

    # --- API -------------------------------------------------------------------------
    def ingest(self, paths: list[str | Path] | str | Path | None = None, progress: Progress | None = None) -> IngestReport:
        """Add or update the documents in ``paths`` (files or directories). Idempotent."""
        if paths is None:
            paths = list(self.settings.corpus_paths)
        elif isinstance(paths, (str, Path)):
            paths = [paths]
        return ingest(list(paths), self.settings, self.store, self.embedder, progress)

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: SearchFilters | dict | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Hybrid (BM25 + dense) search; ``mode`` may also be 'bm25' or 'dense'."""
        if not isinstance(query, str) or not query.strip():
            raise InputError("query", "empty query")
        if len(query) > MAX_QUERY_CHARS:
            raise InputError("query", f"{len(query)} characters, over the {MAX_QUERY_CHARS} limit")
        if mode not in ("hybrid", "bm25", "dense"):
            raise InputError("mode", f"unknown search mode {mode!r} (hybrid, bm25, dense)")
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 200:
            raise InputError("k", f"must be between 1 and 200, got {k}")
        if isinstance(filters, dict):
            filters = SearchFilters(**filters)
        return self.retriever.retrieve(query, k, filters, mode)

    # --- answering ---------------------------------------------------------------------
    def _answerer(self, filters: SearchFilters | dict | None = None) -> Answerer:
        if isinstance(filters, dict):
            filters = SearchFilters(**filters)
        return Answerer(
            Deps(
                settings=self.settings,
                search=lambda query, k: self.search(query, k=k, filters=filters),
                document=self.document,
                embedder=self.embedder,
                llm=self.llm,
            )
        )

    def ask(self, question: str, k: int | None = None, filters: SearchFilters | dict | None = None, on_text=None) -> Answer:
        """A cited answer (or an abstention) to one question."""
        _check_question(question)
        return self._answerer(filters).answer(question, k=k, on_text=on_text)

    def ask_stream(self, question: str, k: int | None = None, filters: SearchFilters | dict | None = None) -> Iterator[str | Answer]:
        """Yield the answer text as verified sentences arrive, then the final :class:`Answer`."""
        return _stream(lambda on_text: self.ask(question, k=k, filters=filters, on_text=on_text))

    def conversation(self):
        """A multi-turn chat with one bibliography: a paper keeps its number all session."""
        from .answer.chat import Conversation

        return Conversation(self)

    def summarize(self, topic: str, k: int | None = None, filters: SearchFilters | dict | None = None, on_text=None) -> Answer:
        """A cited literature summary of the papers matching ``topic``, grouped by approach."""
        from .answer.summarize import summarize

        _check_question(topic)
        return summarize(self, topic, k=k or self.settings.summary_docs, filters=filters, on_text=on_text)

    def document(self, doc_id: str) -> Document | None:
        """The full record of a stored document, or None if the id is unknown."""
        return self.store.get_document(doc_id)

    def info(self, load_models: bool = True) -> dict[str, Any]:
        s = self.settings
        llm = self.llm if load_models else None
        return {
            "llm_backend": s.llm_backend,
            "llm_model": llm.model if llm else None,
            "llm_endpoint": s.openai_base_url if s.llm_backend == "openai" else ("in-process" if s.llm_backend == "embedded" else None),
            "data_dir": str(s.data_dir),
            "store": s.store,
            "collection": s.collection_name,
            "chunks": self.store.count(),
            "documents": len(self.store.stored_docs()),
            "embed_backend": s.embed_backend,
            "embed_model": self.embedder.model_id,
            "chunk_size": s.chunk_size,
            "chunk_overlap": s.chunk_overlap,
        }


def _check_question(question: str) -> None:
    if not isinstance(question, str) or not question.strip():
        raise InputError("question", "empty question")
    if len(question) > MAX_QUERY_CHARS:
        raise InputError("question", f"{len(question)} characters, over the {MAX_QUERY_CHARS} limit")


_DONE = object()


def _stream(run) -> Iterator[str | Answer]:
    """Run ``run(on_text)`` in a worker thread and yield its text pieces, then its result."""
    pieces: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["answer"] = run(pieces.put)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            pieces.put(_DONE)

    threading.Thread(target=work, name="rag-answer", daemon=True).start()
    while (item := pieces.get()) is not _DONE:
        yield item
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["answer"]
