"""BM25 search over the store's lexical index (``rag.lexical``: SQLite FTS5, updated
with every write), with the search filters translated for it and hits read back from
Chroma, the source of truth, as nodes."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore

from ..store import Store
from .filters import SearchFilters


def search(store: Store, query: str, n: int, filters: SearchFilters | None = None) -> list[NodeWithScore]:
    """The best ``n`` chunks by BM25, best first (a chunk deleted meanwhile is left out)."""
    f = filters or SearchFilters()
    ranked = store.lexical.search(
        query, n, year_min=f.year_min, year_max=f.year_max, include_undated=f.include_undated, source=f.source_name()
    )
    nodes = store.nodes([i for i, _ in ranked])
    return [NodeWithScore(node=nodes[i], score=score) for i, score in ranked if i in nodes]
