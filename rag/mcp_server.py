"""An MCP server over stdio, so that agents (Claude Desktop, IDE agents, other LLM
tools) can search the abstracts and get cited answers without scraping CLI output.

Why it looks the way it does:

* Tools return structured content (validated against a published output schema)
  *and* a readable text block: clients that understand ``structuredContent`` get
  JSON, and models that only read text still get something useful.
* The :class:`Assistant` is built lazily, once, on the first tool call: loading the
  local LLM takes seconds, and an agent host should see the server start at once.
* Calls on the Assistant are serialised by a lock: the tools run on worker threads
  (the SDK runs sync tools off the event loop) and the embedded model is not safe
  to use from two threads at once.
* Our typed errors (:class:`RagError`) come back as MCP tool errors carrying their
  one-line message; they never end the session.
* stdout belongs to the protocol: logging goes to stderr, and the SDK's stdio
  transport points fd 1 at stderr while serving, so stray output from native
  libraries cannot corrupt the stream.

Run it with ``python -m rag.mcp_server`` (settings from ``RAG_*`` env vars / ``.env``).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from . import __version__, logs
from .assistant import Assistant, load_settings
from .errors import RagError
from .inputs import ASK_K, SEARCH_K, SUMMARY_K, filter_values
from .models import Answer, Document, Hit

log = logging.getLogger("rag.mcp_server")  # not __name__: that is "__main__" under `python -m`

AssistantFactory = Callable[[], Assistant]
T = TypeVar("T")

SERVER_NAME = "rag-abstracts"
INSTRUCTIONS = (
    "Question answering over a local collection of scientific paper abstracts. "
    "Use `search` to find papers, `ask` for a short cited answer to a question, "
    "`summarize` for a cited overview of a topic, and `get_document` to read a paper's "
    "full abstract. Answers only state what the abstracts support: markers [n] in "
    "`text` refer to the entry with the same `n` in `citations`, whose `doc_id` works "
    "with `get_document`. When the sources do not answer, `abstained` is true."
)
_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


# --- output shapes (published as the tools' output schemas) ---------------------------
class SearchHit(BaseModel):
    doc_id: str = Field(description="Paper id; pass it to get_document for the full record.")
    title: str
    year: int | None = None
    score: float = Field(description="Fused BM25 + dense rank score; higher is better, only comparable within one search.")
    text: str = Field(description="The matching passage of the abstract.")
    source: str = Field("", description="Where the paper was ingested from ('file:line').")


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit] = Field(description="Best first.")


class CitationOut(BaseModel):
    n: int = Field(description="The marker [n] used in the answer text.")
    doc_id: str = Field(description="Paper id; pass it to get_document for the full record.")
    title: str = ""
    year: int | None = None
    quote: str = Field("", description="The evidence sentence(s) of this paper the answer relies on.")


class ClosestOut(BaseModel):
    doc_id: str = Field(description="Paper id; pass it to get_document.")
    title: str = ""
    year: int | None = None


class AnswerOut(BaseModel):
    text: str = Field(description="The answer; every claim ends with markers [n] that map to `citations`.")
    abstained: bool = Field(description="True when the abstracts do not answer the question; `text` then says so.")
    abstain_reason: str | None = None
    citations: list[CitationOut] = Field(default_factory=list)
    closest: list[ClosestOut] = Field(default_factory=list, description="When abstained: the papers closest to the question.")
    backend: str = Field("", description="LLM backend that wrote the answer (embedded, openai, fake).")
    model: str = ""


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    year: int | None = None
    authors: list[str] | None = None
    abstract: str
    source: str = Field(description="Where the paper was ingested from ('file:line').")


# --- conversions ---------------------------------------------------------------------------
def _hit_out(hit: Hit) -> SearchHit:
    return SearchHit(doc_id=hit.doc_id, title=hit.title, year=hit.year, score=round(hit.score, 6), text=hit.text, source=hit.source)


def _answer_out(answer: Answer) -> AnswerOut:
    return AnswerOut(
        text=answer.text,
        abstained=answer.abstained,
        abstain_reason=answer.abstain_reason,
        citations=[CitationOut(n=c.n, doc_id=c.doc_id, title=c.title, year=c.year, quote=c.quote) for c in answer.citations],
        closest=[ClosestOut(doc_id=p.doc_id, title=p.title, year=p.year) for p in answer.closest],
        backend=answer.backend,
        model=answer.model,
    )


def _document_out(doc: Document) -> DocumentOut:
    return DocumentOut(doc_id=doc.doc_id, title=doc.title, year=doc.year, authors=doc.authors, abstract=doc.abstract, source=doc.source)


def _year(year: int | None) -> str:
    return f" ({year})" if year else ""


def _search_text(result: SearchResult) -> str:
    if not result.hits:
        return f"No results for {result.query!r} (is the store empty? run `rag ingest`)."
    lines = []
    for rank, h in enumerate(result.hits, start=1):
        lines.append(f"{rank}. {h.title or '(untitled)'}{_year(h.year)} — doc_id {h.doc_id} · score {h.score:.4f}")
        lines.append(f"   {h.text}")
    return "\n".join(lines)


def _answer_text(out: AnswerOut) -> str:
    if not out.citations:
        near = [f"- {p.title or '(untitled)'}{_year(p.year)} — doc_id {p.doc_id}" for p in out.closest]
        return out.text + ("\n\nClosest papers (they do not answer it)\n" + "\n".join(near) if near else "")
    refs = [f"[{c.n}] {c.title or '(untitled)'}{_year(c.year)} — doc_id {c.doc_id}" for c in out.citations]
    return out.text + "\n\nReferences\n" + "\n".join(refs)


def _document_text(out: DocumentOut) -> str:
    lines = [f"{out.title or '(untitled)'} ({out.year or 'year unknown'})"]
    if out.authors:
        lines.append(", ".join(out.authors))
    lines += [f"doc_id {out.doc_id} · {out.source}", "", out.abstract]
    return "\n".join(lines)


def _result(structured: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured.model_dump(mode="json"))


# --- the assistant, built on first use -------------------------------------------------------
class _LazyAssistant:
    """Builds the Assistant on first use (a failed build is retried on the next call) and
    runs one call on it at a time."""

    def __init__(self, factory: AssistantFactory) -> None:
        self._factory = factory
        self._assistant: Assistant | None = None
        self._lock = threading.Lock()

    def run(self, call: Callable[[Assistant], T]) -> T:
        with self._lock:
            return call(self._get())

    def _get(self) -> Assistant:
        if self._assistant is None:
            log.info("building the assistant")
            self._assistant = self._factory()  # bad RAG_* settings: a ConfigError line
        return self._assistant


# --- the server ----------------------------------------------------------------------------
Query = Annotated[str, Field(description="What to look for, in natural language or keywords.")]
Question = Annotated[str, Field(description="The question, in natural language.")]
YearMin = Annotated[int | None, Field(description="Only papers from this year on.")]
YearMax = Annotated[int | None, Field(description="Only papers up to this year.")]


def _tool(server: MCPServer):
    """Register a read-only tool whose description is its docstring on one line (agents
    read the description verbatim; source indentation is noise to them), with our
    errors turned into tool errors."""

    def register(fn):
        @functools.wraps(fn)
        def tool(**kwargs):
            try:
                return fn(**kwargs)
            except RagError as exc:  # ours: one line for the agent, no traceback in the log
                log.info("tool %s: %s", fn.__name__, exc)
                raise ToolError(str(exc)) from None

        server.add_tool(tool, description=" ".join((fn.__doc__ or "").split()), annotations=_READ_ONLY)
        return fn

    return register


def build_server(assistant_factory: AssistantFactory) -> MCPServer:
    """An MCP server whose tools call the Assistant that ``assistant_factory`` builds
    (on the first tool call, once)."""
    lazy = _LazyAssistant(assistant_factory)
    server = MCPServer(
        SERVER_NAME, title="Paper abstracts assistant", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    @_tool(server)
    def search(
        query: Query,
        k: Annotated[int, Field(description=f"Number of hits to return ({SEARCH_K}).")] = 5,
        year_min: YearMin = None,
        year_max: YearMax = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Hybrid (BM25 + dense) search over the paper abstracts. Returns the best matching
        passages, best first, each with its paper's doc_id, title and year. Use it to find
        papers; use `ask` for an answer and `get_document` for a paper's full abstract."""
        filters = filter_values(year_min=year_min, year_max=year_max)
        hits = lazy.run(lambda a: a.search(query, k=k, filters=filters))
        out = SearchResult(query=query, hits=[_hit_out(h) for h in hits])
        return _result(out, _search_text(out))

    @_tool(server)
    def ask(
        question: Question,
        k: Annotated[int | None, Field(description=f"Papers to draw evidence from ({ASK_K}; default from settings).")] = None,
        year_min: YearMin = None,
        year_max: YearMax = None,
    ) -> Annotated[CallToolResult, AnswerOut]:
        """Answer a question from the abstracts, with citations. Every claim in `text` ends
        with markers like [1] that map to the entry with that `n` in `citations` (doc_id,
        title, year and the quoted evidence); pass a doc_id to `get_document` to read the
        paper. If the abstracts do not answer the question, `abstained` is true and `text`
        says so: do not treat that as an answer."""
        filters = filter_values(year_min=year_min, year_max=year_max)
        out = _answer_out(lazy.run(lambda a: a.ask(question, k=k, filters=filters)))
        return _result(out, _answer_text(out))

    @_tool(server)
    def summarize(
        topic: Annotated[str, Field(description="The topic to summarize the literature on.")],
        k: Annotated[int | None, Field(description=f"Papers to cover ({SUMMARY_K}; default from settings).")] = None,
        year_min: YearMin = None,
        year_max: YearMax = None,
    ) -> Annotated[CallToolResult, AnswerOut]:
        """A cited literature summary of the papers on a topic, grouped by approach. Same
        shape as `ask`: markers [n] in `text` map to `citations`; `abstained` is true when
        no paper matches the topic closely enough."""
        filters = filter_values(year_min=year_min, year_max=year_max)
        out = _answer_out(lazy.run(lambda a: a.summarize(topic, k=k, filters=filters)))
        return _result(out, _answer_text(out))

    @_tool(server)
    def get_document(
        doc_id: Annotated[str, Field(description="A doc_id from a search hit or an answer's citations.")],
    ) -> Annotated[CallToolResult, DocumentOut]:
        """The full record of one paper: title, year, authors, the whole abstract and where it
        was ingested from. Fails for an unknown doc_id."""
        doc = lazy.run(lambda a: a.document(doc_id))
        if doc is None:
            raise ToolError(f"doc_id {doc_id!r}: no such document (ids come from search hits or citations)")
        out = _document_out(doc)
        return _result(out, _document_text(out))

    return server


def serve_stdio(assistant_factory: AssistantFactory) -> None:
    """Serve the tools over stdin/stdout until the client closes the connection
    (logging goes to stderr: set it up with ``rag.logs.setup`` first)."""
    log.info("serving MCP over stdio")
    build_server(assistant_factory).run("stdio")


def main() -> None:
    """``python -m rag.mcp_server``: settings from RAG_* env vars / .env, the Assistant built
    on the first tool call."""
    logs.setup()
    try:
        settings = load_settings()
    except RagError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    logs.setup(settings.log_level)
    serve_stdio(lambda: Assistant(settings))


if __name__ == "__main__":
    main()
