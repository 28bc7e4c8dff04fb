"""Plain data objects that cross module boundaries (records, hits, reports).

They are pydantic models so that every interface (CLI ``--json``, HTTP, agents)
serialises them the same way with ``model_dump()``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


def paper_link(doi: str | None, arxiv_id: str | None, url: str | None) -> str | None:
    """Where a reader finds a paper: its DOI's page, else its arXiv page, else the record's link."""
    if doi:
        return f"https://doi.org/{doi}"
    if arxiv_id:
        return f"https://arxiv.org/abs/{arxiv_id}"
    return url


def file_of(place: str) -> str:
    """The file of a ``file:line`` place (a source, a rejection's ``where``)."""
    return place.rsplit(":", 1)[0]


class Document(BaseModel):
    """One paper: the unit we deduplicate, store and cite."""

    doc_id: str = Field(description="Stable content hash of the normalised abstract.")
    title: str = Field("", description="Paper title; empty only when the source has none.")
    abstract: str
    authors: list[str] | None = Field(None, description="Author names, when the source states them.")
    year: int | None = Field(None, description="Publication year, when the source states it.")
    source: str = Field(description="Where it came from: 'file:line'.")
    also_in: list[str] = Field(default_factory=list, description="Other places the same paper was seen.")
    name: str = Field("", description="How to call it: the title, or an untitled paper's first words (set on output).")
    doi: str | None = Field(None, description="DOI, when the record states one.")
    url: str | None = Field(None, description="A link to the paper, when the record gives one (an arXiv id becomes its abs page).")
    arxiv_id: str | None = Field(None, description="arXiv identifier without version, when known.")
    cite_key: str | None = Field(None, description="The citation key the record came with (BibTeX key, RIS ID), kept on export.")
    venue: str | None = Field(None, description="Journal, proceedings or other venue, when the record names one.")

    @property
    def link(self) -> str | None:
        return paper_link(self.doi, self.arxiv_id, self.url)

    @property
    def source_file(self) -> str:
        return file_of(self.source)


class Hit(BaseModel):
    """One search result: a chunk of a document with its fused score."""

    doc_id: str
    title: str
    text: str
    score: float
    name: str = Field("", description="The title, or an untitled paper's first words.")
    source: str
    year: int | None = None
    chunk: int = 0
    dense_score: float | None = Field(None, description="Cosine-based similarity from the dense retriever, if it ranked this chunk.")
    bm25_score: float | None = Field(None, description="BM25 score, if BM25 ranked this chunk.")


class Rejection(BaseModel):
    """Input that was not ingested, and why."""

    where: str = Field(description="File, or 'file:line' for a single record.")
    reason: str


class IngestReport(BaseModel):
    """What an ingest run did. Counts are documents unless named otherwise."""

    files: int = 0
    records: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    kept: int = Field(0, description="Stored papers a file no longer yields, kept because that file has rejected records.")
    duplicates: int = 0
    no_abstract: int = Field(0, description="Records without an abstract (each also listed in ``rejected``).")
    chunks_written: int = 0
    rejected: list[Rejection] = Field(default_factory=list)
    skipped_files: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    collection: str = ""


class Citation(BaseModel):
    """A numbered reference: ``[n]`` in the answer text points at this paper."""

    n: int
    doc_id: str
    title: str = ""
    name: str = Field("", description="The title, or an untitled paper's first words.")
    year: int | None = None
    authors: list[str] | None = None
    source: str = ""
    doi: str | None = None
    url: str | None = None
    arxiv_id: str | None = None
    venue: str | None = None
    quote: str = Field("", description="The evidence sentence(s) of this paper that support the answer's claims, verbatim.")
    quotes: list[str] = Field(
        default_factory=list, description="The same sentences one by one, each verbatim as the model was shown it (for highlighting)."
    )

    @property
    def link(self) -> str | None:
        return paper_link(self.doi, self.arxiv_id, self.url)


class PaperRef(BaseModel):
    """A paper named without a claim: where to look next after a decline."""

    doc_id: str
    title: str = ""
    name: str = Field("", description="The title, or an untitled paper's first words.")
    year: int | None = None
    source: str = ""
    authors: list[str] | None = None
    n: int | None = Field(None, description="The marker [n] this paper has, or will have if cited, when known already (else null).")


class Progress(BaseModel):
    """A step of an answer being made, streamed before its text so a reader sees what
    is happening: ``reading`` lists the papers the model is shown."""

    step: Literal["searching", "reading", "writing", "checking"]
    message: str
    papers: list[PaperRef] = Field(default_factory=list)


class RemovedSentence(BaseModel):
    text: str
    reason: str


class Answer(BaseModel):
    """A cited answer. Every sentence of ``text`` ends with markers ``[n]`` that map to
    ``citations``; an abstention has ``abstained=True`` and no citations."""

    question: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    abstained: bool = False
    extractive: bool = Field(False, description="True when the answer quotes the evidence because the model's text failed verification.")
    abstain_reason: str | None = None
    removed: list[RemovedSentence] = Field(default_factory=list, description="Sentences dropped as unsupported.")
    standalone_question: str | None = Field(None, description="The question as retrieved for (chat rewrites follow-ups).")
    backend: str = ""
    model: str = ""
    timings: dict[str, float] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    relevance: float = Field(0.0, description="How well the best evidence matches the question (0-1).")
    support: list[float] = Field(default_factory=list, description="Support score of each kept sentence.")
    closest: list[PaperRef] = Field(
        default_factory=list, description="On a decline: the papers closest to the question, best first (not citations)."
    )

    @property
    def cited_ids(self) -> list[str]:
        """The cited papers' doc_ids in marker order (for ``Assistant.export``)."""
        return [c.doc_id for c in sorted(self.citations, key=lambda c: c.n)]

    def references(self) -> str:
        lines = []
        for c in self.citations:
            year = f" ({c.year})" if c.year else ""
            link = f" {c.link}" if c.link else ""
            lines.append(f"[{c.n}] {c.name or c.title or '(untitled)'}{year}{link} — {c.doc_id}")
        return "\n".join(lines)
