"""Hybrid search: BM25 (the store's lexical index) and dense rankings fused with weighted reciprocal rank fusion.

The dense side is llama-index's ``VectorIndexRetriever`` over the Chroma vector
store. Fusion is written here instead of using ``QueryFusionRetriever`` because
that class resolves the global ``Settings.llm`` (a remote default) when built,
and we want per-retriever weights; RRF itself is a few lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core import VectorStoreIndex
from llama_index.core.retrievers import VectorIndexRetriever
from llama_index.core.schema import NodeWithScore

from ..embeddings import Embedder
from ..models import Document, Hit
from ..settings import Settings
from ..store import Store
from . import bm25
from .filters import SearchFilters
from .llama_index import LlamaIndexEmbedding

log = logging.getLogger(__name__)


@dataclass
class Ranked:
    node: NodeWithScore
    fused: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None


def rrf(rankings: dict[str, list[NodeWithScore]], weights: dict[str, float], k: int) -> list[Ranked]:
    """Weighted reciprocal rank fusion: score = sum_w w / (k + rank)."""
    fused: dict[str, Ranked] = {}
    for name, ranking in rankings.items():
        for rank, item in enumerate(ranking, start=1):
            entry = fused.setdefault(item.node.node_id, Ranked(node=item, fused=0.0))
            entry.fused += weights.get(name, 1.0) / (k + rank)
            setattr(entry, f"{name}_rank", rank)
            setattr(entry, f"{name}_score", item.score)
    return sorted(fused.values(), key=lambda r: r.fused, reverse=True)


class HybridRetriever:
    """``retrieve(query, k, filters) -> list[Hit]``, one hit per document."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embed_model = LlamaIndexEmbedding(embedder)
        self._index = VectorStoreIndex.from_vector_store(store.vector_store, embed_model=self.embed_model)

    def dense(self, query: str, n: int, filters: SearchFilters | None) -> list[NodeWithScore]:
        if self.store.empty():
            return []
        later = filters is not None and filters.by_year and filters.include_undated  # see SearchFilters.to_llama
        retriever = VectorIndexRetriever(
            self._index,
            similarity_top_k=n * 3 if later else n,
            filters=filters.to_llama() if filters else None,
        )
        with self.store.checked("dense search"):
            found = retriever.retrieve(query)
        if later and filters is not None:
            found = [r for r in found if filters.keeps(r.node.metadata.get("year"))][:n]
        return found

    def sparse(self, query: str, n: int, filters: SearchFilters | None) -> list[NodeWithScore]:
        return bm25.search(self.store, query, n, filters)

    def retrieve(self, query: str, k: int, filters: SearchFilters | None = None, mode: str = "hybrid") -> list[Hit]:
        if self.store.follow_writes():  # another process ingested: see its chunks
            self._index = VectorStoreIndex.from_vector_store(self.store.vector_store, embed_model=self.embed_model)
        n = max(self.settings.candidates, k * 3)
        rankings: dict[str, list[NodeWithScore]] = {}
        if mode in ("hybrid", "dense"):
            rankings["dense"] = self.dense(query, n, filters)
        if mode in ("hybrid", "bm25"):
            rankings["bm25"] = self.sparse(query, n, filters)
        weights = {"dense": self.settings.dense_weight, "bm25": self.settings.bm25_weight}
        hits: list[Hit] = []
        seen: set[str] = set()
        for r in rrf(rankings, weights, self.settings.rrf_k):
            meta = r.node.node.metadata
            if not (meta.get("doc_id") or r.node.node.ref_doc_id):
                continue  # a chunk another process deleted while this query ran
            doc_id = str(meta.get("doc_id") or r.node.node.ref_doc_id)
            if doc_id in seen:
                continue  # keep each document's best chunk only
            seen.add(doc_id)
            hits.append(
                Hit(
                    doc_id=doc_id,
                    title=meta.get("title", ""),
                    text=r.node.node.get_content(),
                    score=round(r.fused, 6),
                    source=meta.get("source", ""),
                    year=meta.get("year"),
                    chunk=int(meta.get("chunk", 0)),
                    dense_score=r.dense_score,
                    bm25_score=r.bm25_score,
                )
            )
            if len(hits) == k:
                break
        return hits

    def documents(
        self, query: str, k: int, filters: SearchFilters | None = None, also: Sequence[str] = ()
    ) -> list[Document]:
        """The documents of the best ``k`` hits, best first, then those of ``also`` (ids a
        caller already knows matter, e.g. the papers a chat is about): what answering
        needs, read from the store in one query rather than one per hit."""
        ids = list(dict.fromkeys([h.doc_id for h in self.retrieve(query, k, filters)] + list(also)))
        found = self.store.get_documents(ids)
        return [found[i] for i in ids if i in found]
