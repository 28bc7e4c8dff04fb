"""The Python API: one object that composes settings, store, embedder, retriever, the
LLM and the answer pipelines, and checks every input once (``rag.inputs``).

    from rag import Assistant
    a = Assistant()                      # settings from env / .env
    a.ingest(["data/corpus"])
    hits = a.search("speculative decoding", k=5)
    ans = a.ask("How does speculative decoding speed up inference?")
    for piece in a.ask_stream("..."): ...   # verified sentences, then the Answer

Components are built lazily, once, from settings (``make_embedder``, ``Store``,
``make_llm``); tests and users can pass their own embedder and LLM instead. The
interfaces (CLI, HTTP, MCP) call only this object.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .answer.assemble import AnswerStream, finish
from .errors import ConfigError, InputError, StoreError, one_line
from .inputs import AskInput, ExportInput, SearchInput, SummarizeInput
from .models import Answer, Document, Hit, IngestReport
from .retrieve.filters import SearchFilters
from .settings import Settings

if TYPE_CHECKING:
    from .answer.answerer import Answerer
    from .answer.chat import Conversation
    from .answer.summarize import Summarizer
    from .embeddings import Embedder
    from .ingest.pipeline import Progress
    from .llm import LLM
    from .retrieve.hybrid import HybridRetriever
    from .store import Store

log = logging.getLogger(__name__)

Filters = SearchFilters | dict[str, Any] | None


def load_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Settings from the environment / ``.env`` with ``overrides`` (or ``settings``
    with them applied); an invalid value is one :class:`ConfigError` line naming
    the RAG_* variable."""
    from pydantic import ValidationError

    if settings is not None:
        return settings.model_copy(update=overrides) if overrides else settings
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(one_line(exc.errors(), env_prefix="RAG_")) from None


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
        self.settings = load_settings(settings, **overrides)
        self._embedder = embedder
        self._llm = llm
        self._store: Store | None = None
        self._retriever: HybridRetriever | None = None

    # --- components ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from .embeddings import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            from .llm.factory import make_llm

            self._llm = make_llm(self.settings)
        return self._llm

    @property
    def llm_loaded(self) -> bool:
        """Whether the LLM is built (loaded, for the embedded model); reading this loads nothing."""
        return self._llm is not None

    @property
    def store(self) -> Store:
        if self._store is None:
            from .store import Store

            self._store = Store(self.settings)
        return self._store

    @property
    def retriever(self) -> HybridRetriever:
        if self._retriever is None:
            from .retrieve.hybrid import HybridRetriever

            self._retriever = HybridRetriever(self.settings, self.store, self.embedder)
            self._warn_if_held_elsewhere()
        return self._retriever

    def _warn_if_held_elsewhere(self) -> None:
        """An empty collection beside ones holding papers means the settings that name the
        collection changed (e.g. the int8 embedder became the default): searches would find
        nothing and answers decline, so say why once, before the first search."""
        try:
            if self.store.count():
                return
            others = self.store.others()
        except StoreError:
            return  # the search itself reports a store that cannot be read
        if others:
            held = ", ".join(f"{name} ({n} chunks)" for name, n in others.items())
            log.warning(
                "this store's collection for the current settings is empty, but %s holds papers ingested with other "
                "embedding or chunking settings: run `rag ingest` to embed them for the current settings "
                "(or set RAG_EMBED_COMPUTE=fp32 for a store built before the int8 embedder)", held,
            )

    @property
    def answerer(self) -> Answerer:
        from .answer.answerer import Answerer

        return Answerer(self.settings, self.retriever, self.embedder, self.llm)

    @property
    def summarizer(self) -> Summarizer:
        from .answer.summarize import Summarizer

        return Summarizer(self.settings, self.retriever, self.embedder, self.llm)

    def with_llm(self, llm: LLM) -> Assistant:
        """The same store, embedder and retriever answering with another model (the
        eval wraps the model to record the prompts it is given)."""
        clone = copy.copy(self)
        clone._llm = llm
        return clone

    # --- API -------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path] | str | Path | None = None, progress: Progress | None = None) -> IngestReport:
        """Add or update the documents in ``paths`` (files or directories). Idempotent."""
        from .ingest.pipeline import ingest

        if paths is None:
            paths = list(self.settings.corpus_paths)
        elif isinstance(paths, (str, Path)):
            paths = [paths]
        return ingest(list(paths), self.settings, self.store, self.embedder, progress)

    def search(self, query: str, k: int | None = None, filters: Filters = None, mode: str = "hybrid") -> list[Hit]:
        """Hybrid (BM25 + dense) search; ``mode`` may also be 'bm25' or 'dense'."""
        from . import display

        q = SearchInput.parse(query=query, k=k, filters=filters, mode=mode)
        return [display.hit(h) for h in self.retriever.retrieve(q.query, q.k or self.settings.top_k, q.filters, q.mode)]

    def ask(self, question: str, k: int | None = None, filters: Filters = None) -> Answer:
        """A cited answer (or a decline) to one question."""
        return finish(self.ask_stream(question, k=k, filters=filters))

    def ask_stream(self, question: str, k: int | None = None, filters: Filters = None) -> AnswerStream:
        """The answer's verified sentences as they are verified, then the :class:`Answer`."""
        q = AskInput.parse(question=question, k=k, filters=filters)
        return self.answerer.stream(q.question, k=q.k, filters=q.filters)

    def conversation(self) -> Conversation:
        """A multi-turn chat with one bibliography: a paper keeps its number all session."""
        from .answer.chat import Conversation

        return Conversation(self.answerer, self.llm)

    def summarize(self, topic: str, k: int | None = None, filters: Filters = None) -> Answer:
        """A cited literature summary of the papers matching ``topic``, grouped by approach."""
        return finish(self.summarize_stream(topic, k=k, filters=filters))

    def summarize_stream(self, topic: str, k: int | None = None, filters: Filters = None) -> AnswerStream:
        """The summary's lines as they are written, then the :class:`Answer`."""
        q = SummarizeInput.parse(topic=topic, k=k, filters=filters)
        return self.summarizer.stream(q.topic, k=q.k or self.settings.summary_docs, filters=q.filters)

    def export(self, doc_ids: Sequence[str], fmt: str = "bibtex") -> str:
        """The stored papers ``doc_ids`` as a BibTeX or RIS file's text, in the given order."""
        from . import export

        q = ExportInput.parse(doc_ids=list(doc_ids), format=fmt)
        found = self.store.get_documents(q.doc_ids)
        missing = [d for d in q.doc_ids if d not in found]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InputError("doc_ids", f"no stored document {missing[0][:64]!r}{more}")
        docs = [found[d] for d in q.doc_ids]
        return export.bibtex(docs) if q.format == "bibtex" else export.ris(docs)

    def document(self, doc_id: str) -> Document | None:
        """The full record of a stored document (LaTeX shown as plain text; the store keeps
        it as ingested), or None if the id is unknown."""
        from . import display

        doc = self.store.get_document(doc_id)
        return display.document(doc) if doc is not None else None

    def info(self) -> dict[str, Any]:
        """Store location and counts, and the configured models (named from settings:
        nothing is loaded to describe them)."""
        from .embeddings import embed_model_id
        from .llm.factory import describe

        s = self.settings
        llm = describe(s)
        return {
            "llm_backend": llm.backend,
            "llm_model": llm.model,
            "llm_endpoint": llm.endpoint,
            "data_dir": str(s.data_dir),
            "store": s.store,
            "collection": s.collection_name,
            "chunks": self.store.count(),
            "documents": len(self.store.stored_docs()),
            "embed_backend": s.embed_backend,
            "embed_model": embed_model_id(s),
            "chunk_size": s.chunk_size,
            "chunk_overlap": s.chunk_overlap,
            "other_collections": self.store.others(),
        }

    def doctor(self) -> list[tuple[str, bool, str]]:
        """Checks of the store and its derived index: (what, ok, detail). Reads only;
        ``reindex`` mends what it can."""
        checks: list[tuple[str, bool, str]] = []
        try:
            docs = self.store.stored_docs()
            checks.append(("Chroma store", True, f"{self.store.where}: {self.store.count()} chunks, {len(docs)} documents"))
            others = self.store.others()
        except StoreError as exc:
            return [("Chroma store", False, str(exc))]
        if others and not docs:
            held = ", ".join(f"{name} ({n} chunks)" for name, n in others.items())
            checks.append(("settings", False, f"this collection is empty but {held} holds papers ingested with other embedding "
                           "or chunking settings: `rag ingest` them again (or restore those settings)"))
        partial = [d.doc_id for d in docs.values() if not d.complete]
        checks.append(
            ("documents complete", not partial, f"{len(partial)} incomplete ({', '.join(partial[:5])}): `rag ingest` again rewrites them"
             if partial else "every document has all its chunks")
        )
        trouble = self.store.lexical.problem()
        checks.append((
            "lexical index", trouble is None,
            f"{self.store.lexical.path}: {trouble}; the next search mends it, or `rag reindex`" if trouble
            else f"{self.store.lexical.path}: in step with the store",
        ))
        return checks

    def reindex(self) -> int:
        """Rebuild the derived lexical (BM25) index from the Chroma store; returns its chunk count."""
        self.store.lexical.sync(rebuild=True)
        return self.store.lexical.count()
