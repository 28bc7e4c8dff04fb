"""Input rules, defined once: the Python API validates with these models, the HTTP
API uses them (plus transport fields) as request bodies, and the CLI and the MCP
tools pass their arguments through the Python API. So a question is 1-4,000
characters, ``k`` has the same range for the same operation, and a mistake reads
the same, whichever way a request comes in.

    >>> AskInput.parse(question="What is TinyBERT?", k=4).k
    4
    >>> AskInput.parse(question="  ")
    Traceback (most recent call last):
    ...
    rag.errors.InputError: question: empty question
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, WithJsonSchema

from .errors import InputError, first_problem
from .retrieve.filters import SearchFilters

#: Longest question, query or topic, in characters.
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True)
class Range:
    """An inclusive range for ``k``; its message names the bounds and the value."""

    low: int
    high: int

    def __call__(self, value: int) -> int:
        if not self.low <= value <= self.high:
            raise ValueError(f"must be between {self.low} and {self.high}, got {value}")
        return value

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


#: Hits a search returns.
SEARCH_K = Range(1, 200)
#: Papers an answer draws its evidence from.
ASK_K = Range(1, 20)
#: Papers a literature summary covers.
SUMMARY_K = Range(2, 30)


def _text(value: str, info: ValidationInfo) -> str:
    name = info.field_name or "text"
    if not value.strip():
        raise ValueError(f"empty {name}")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{len(value)} characters, over the {MAX_TEXT_CHARS} limit")
    return value


def _schema(rule: Range) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "minimum": rule.low, "maximum": rule.high})


SearchK = Annotated[int, AfterValidator(SEARCH_K), _schema(SEARCH_K)]
AskK = Annotated[int, AfterValidator(ASK_K), _schema(ASK_K)]
SummaryK = Annotated[int, AfterValidator(SUMMARY_K), _schema(SUMMARY_K)]
Text = Annotated[str, AfterValidator(_text), WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS})]
Mode = Literal["hybrid", "bm25", "dense"]


def filter_values(**given: Any) -> dict[str, Any]:
    """Filter options as an interface received them, unset ones left out; the input
    models check them (CLI and MCP pass them on to the Assistant)."""
    return {k: v for k, v in given.items() if v is not None}

M = TypeVar("M", bound="Input")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def parse(cls: type[M], **values: Any) -> M:
        """Validate, turning the first problem into one :class:`InputError` line."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise InputError(*first_problem(exc.errors())) from None


class SearchInput(Input):
    query: Text
    k: SearchK | None = Field(None, description=f"Number of hits ({SEARCH_K}; default RAG_TOP_K).")
    filters: SearchFilters | None = None
    mode: Mode = Field("hybrid", description="hybrid (BM25 + dense), bm25 or dense.")


class AskInput(Input):
    question: Text
    k: AskK | None = Field(None, description=f"Papers to draw evidence from ({ASK_K}; default RAG_EVIDENCE_DOCS).")
    filters: SearchFilters | None = None


class SummarizeInput(Input):
    topic: Text
    k: SummaryK | None = Field(None, description=f"Papers to cover ({SUMMARY_K}; default RAG_SUMMARY_DOCS).")
    filters: SearchFilters | None = None


class ChatInput(Input):
    question: Text


#: Papers one export may hold.
EXPORT_DOCS = Range(1, 500)
DocId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ExportInput(Input):
    doc_ids: list[DocId] = Field(min_length=EXPORT_DOCS.low, max_length=EXPORT_DOCS.high, description="Stored papers, in order.")
    format: Literal["bibtex", "ris"] = Field("bibtex", description="bibtex or ris.")
