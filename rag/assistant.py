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

import logging
from pathlib import Path
from typing import Any

from .embeddings import Embedder, make_embedder
from .errors import InputError
from .ingest.pipeline import Progress, ingest
from .models import Document, Hit, IngestReport
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
        self._store: Store | None = None
        self._retriever: HybridRetriever | None = None

    # --- components ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings)
        return self._embedder

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

    def document(self, doc_id: str) -> Document | None:
        """The full record of a stored document, or None if the id is unknown."""
        return self.store.get_document(doc_id)

    def info(self) -> dict[str, Any]:
        s = self.settings
        return {
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
