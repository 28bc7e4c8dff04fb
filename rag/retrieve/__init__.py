"""Retrieval: BM25 and dense retrievers over the store, fused into one ranking.

:class:`Retriever` is the seam answering depends on; :class:`~rag.retrieve.hybrid.HybridRetriever`
is the implementation built from settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..models import Document, Hit
    from .filters import SearchFilters


class Retriever(Protocol):
    def retrieve(self, query: str, k: int, filters: SearchFilters | None = None, mode: str = "hybrid") -> list[Hit]:
        """The best ``k`` hits, one per document, best first."""
        ...

    def documents(self, query: str, k: int, filters: SearchFilters | None = None, also: Sequence[str] = ()) -> list[Document]:
        """The documents of the best ``k`` hits, then those of the ids in ``also``."""
        ...
