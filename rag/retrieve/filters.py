"""Search filters, expressed once and translated for each retriever."""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field, model_validator

if TYPE_CHECKING:
    from llama_index.core.vector_stores import MetadataFilters


class SearchFilters(BaseModel):
    """Restrict a search. A paper whose year is unknown (most scraped pages state none)
    passes a year filter unless ``include_undated`` is false: silently dropping it would
    empty most searches over such a library."""

    year_min: int | None = Field(None, ge=0, le=9999)
    year_max: int | None = Field(None, ge=0, le=9999)
    source: str | None = Field(None, min_length=1, description="Source file name (or path) the document came from.")
    include_undated: bool = Field(True, description="Keep papers without a year when filtering by year (false: only dated papers).")

    @model_validator(mode="after")
    def _check_range(self) -> SearchFilters:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError(f"year_min ({self.year_min}) is after year_max ({self.year_max})")
        return self

    @property
    def empty(self) -> bool:
        return self.year_min is None and self.year_max is None and self.source is None

    def source_name(self) -> str | None:
        return PurePath(self.source).name if self.source else None

    def to_llama(self) -> MetadataFilters | None:
        """For the Chroma vector store (llama-index translates these into a `where`)."""
        from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

        parts = []
        # Chroma cannot ask for "no year or in range": with undated papers kept, the year
        # range is applied to the hits afterwards (``keeps``), over more candidates.
        if self.year_min is not None and not self.include_undated:
            parts.append(MetadataFilter(key="year", value=self.year_min, operator=FilterOperator.GTE))
        if self.year_max is not None and not self.include_undated:
            parts.append(MetadataFilter(key="year", value=self.year_max, operator=FilterOperator.LTE))
        if self.source:
            parts.append(MetadataFilter(key="source_name", value=self.source_name(), operator=FilterOperator.EQ))
        return MetadataFilters(filters=parts) if parts else None

    @property
    def by_year(self) -> bool:
        return self.year_min is not None or self.year_max is not None

    def keeps(self, year: int | None) -> bool:
        """Whether a paper of ``year`` (None: unknown) passes the year range."""
        if year is None or year < 0:
            return self.include_undated or not self.by_year
        return (self.year_min is None or year >= self.year_min) and (self.year_max is None or year <= self.year_max)

    def mask(self, years: np.ndarray, sources: np.ndarray) -> np.ndarray | None:
        """A 0/1 weight per BM25 corpus row (years: -1 where unknown)."""
        if self.empty:
            return None
        keep = np.ones(len(years), dtype=bool)
        if self.year_min is not None:
            keep &= years >= self.year_min
        if self.year_max is not None:
            keep &= (years >= 0) & (years <= self.year_max)
        if self.by_year and self.include_undated:
            keep |= years < 0
        if self.source:
            keep &= sources == self.source_name()
        return keep.astype(np.float32)
