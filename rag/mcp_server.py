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
  one-line message; they never end the session. Arguments that do not fit a tool's
  input schema (a string for ``k``, a missing ``query``) and unknown tool names are
  JSON-RPC errors -32602 (Invalid params) with one ``field: reason`` line.
* No error echoes a long input: a quoted value shows its first ~80 characters and its
  length, and every error reply is one line of bounded length (``rag.mcp_stdio.bounded``).
* Every line the client sends is checked at the stdio boundary before the SDK sees it
  (``rag.mcp_stdio.check_line``): the SDK drops what it cannot parse without a word, so a client
  whose request was malformed would wait forever. A malformed request is answered
  with -32700 (Parse error) or -32600 (Invalid Request), with its id when one can be
  recovered and ``null`` otherwise; malformed notifications and responses are only
  logged. The server keeps serving either way.
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
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    InputRequiredResult,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, Field, ValidationError

from . import __version__, logs
from .assistant import Assistant, load_settings
from .errors import RagError, one_line
from .inputs import ASK_K, SEARCH_K, SUMMARY_K, filter_values
from .mcp_stdio import bounded, quote, serve_stdio_async
from .models import Answer, Document, Hit, paper_link

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


class Identified(BaseModel):
    """What identifies a paper outside this store, when its record said."""

    authors: list[str] | None = None
    venue: str | None = Field(None, description="Journal or proceedings.")
    doi: str | None = None
    arxiv_id: str | None = None
    url: str | None = Field(None, description="A link to the paper (its DOI or arXiv page when no other was given).")


class CitationOut(Identified):
    n: int = Field(description="The marker [n] used in the answer text.")
    doc_id: str = Field(description="Paper id; pass it to get_document for the full record, or to export.")
    title: str = ""
    name: str = Field("", description="The title, or an untitled paper's first words.")
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


class DocumentOut(Identified):
    doc_id: str
    title: str
    year: int | None = None
    abstract: str
    source: str = Field(description="Where the paper was ingested from ('file:line').")
    cite_key: str | None = Field(None, description="The citation key the record came with.")


class ExportOut(BaseModel):
    format: str
    text: str = Field(description="The BibTeX or RIS file's text.")


# --- conversions ---------------------------------------------------------------------------
def _hit_out(hit: Hit) -> SearchHit:
    return SearchHit(doc_id=hit.doc_id, title=hit.title, year=hit.year, score=round(hit.score, 6), text=hit.text, source=hit.source)


def _answer_out(answer: Answer) -> AnswerOut:
    return AnswerOut(
        text=answer.text,
        abstained=answer.abstained,
        abstain_reason=answer.abstain_reason,
        citations=[
            CitationOut(
                n=c.n, doc_id=c.doc_id, title=c.title, name=c.name, year=c.year, quote=c.quote,
                authors=c.authors, venue=c.venue, doi=c.doi, arxiv_id=c.arxiv_id, url=c.url,
            )
            for c in answer.citations
        ],
        closest=[ClosestOut(doc_id=p.doc_id, title=p.title, year=p.year) for p in answer.closest],
        backend=answer.backend,
        model=answer.model,
    )


def _document_out(doc: Document) -> DocumentOut:
    return DocumentOut(
        doc_id=doc.doc_id, title=doc.title, year=doc.year, authors=doc.authors, abstract=doc.abstract, source=doc.source,
        venue=doc.venue, doi=doc.doi, arxiv_id=doc.arxiv_id, url=doc.url, cite_key=doc.cite_key,
    )


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
    refs = [f"[{c.n}] {c.name or c.title or '(untitled)'}{_year(c.year)}{_link(c)} — doc_id {c.doc_id}" for c in out.citations]
    return out.text + "\n\nReferences\n" + "\n".join(refs)


def _link(paper: Identified) -> str:
    link = paper_link(paper.doi, paper.arxiv_id, paper.url)
    return f" {link}" if link else ""


def _document_text(out: DocumentOut) -> str:
    lines = [f"{out.title or '(untitled)'} ({out.year or 'year unknown'})"]
    if out.authors:
        lines.append(", ".join(out.authors))
    if out.venue or _link(out):
        lines.append(" ".join(x for x in (out.venue or "", _link(out).strip()) if x))
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
Undated = Annotated[bool, Field(description="With a year filter, keep papers without a year (default true).")]


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
                message = bounded(str(exc))  # it may quote an argument: never echo a long one
                log.info("tool %s: %s", fn.__name__, message)
                raise ToolError(message) from None

        server.add_tool(tool, description=" ".join((fn.__doc__ or "").split()), annotations=_READ_ONLY)
        return fn

    return register


class _Server(MCPServer):
    """MCPServer, with calls that do not fit a tool answered as JSON-RPC errors -32602
    (Invalid params) of one line. The SDK reports both as tool results: an unknown name
    quoted whole, and arguments that fail its validation as pydantic's multi-line text
    (with the rejected value in it)."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tools = sorted(tool.name for tool in await self.list_tools())
        if name not in tools:
            log.info("unknown tool %s", quote(name))
            raise MCPError(INVALID_PARAMS, f"unknown tool {quote(name)}; the tools are {', '.join(tools)}")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            # The SDK raises a ToolError caused by the ValidationError when the arguments do
            # not fit the tool's signature (documented on Tool.run); a failure inside the
            # tool is caused by something else, and crashes are UnexpectedToolError.
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            message = bounded(one_line(cause.errors()))  # "k: Input should be a valid integer, ..."
            log.info("tool %s: invalid arguments: %s", name, message)
            raise MCPError(INVALID_PARAMS, message) from None


def build_server(assistant_factory: AssistantFactory) -> MCPServer:
    """An MCP server whose tools call the Assistant that ``assistant_factory`` builds
    (on the first tool call, once)."""
    lazy = _LazyAssistant(assistant_factory)
    server = _Server(
        SERVER_NAME, title="Paper abstracts assistant", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    @_tool(server)
    def search(
        query: Query,
        k: Annotated[int, Field(description=f"Number of hits to return ({SEARCH_K}).")] = 5,
        year_min: YearMin = None,
        year_max: YearMax = None,
        include_undated: Undated = True,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Hybrid (BM25 + dense) search over the paper abstracts. Returns the best matching
        passages, best first, each with its paper's doc_id, title and year. Use it to find
        papers; use `ask` for an answer and `get_document` for a paper's full abstract."""
        filters = filter_values(year_min=year_min, year_max=year_max, include_undated=None if include_undated else False)
        hits = lazy.run(lambda a: a.search(query, k=k, filters=filters))
        out = SearchResult(query=query, hits=[_hit_out(h) for h in hits])
        return _result(out, _search_text(out))

    @_tool(server)
    def ask(
        question: Question,
        k: Annotated[int | None, Field(description=f"Papers to draw evidence from ({ASK_K}; default from settings).")] = None,
        year_min: YearMin = None,
        year_max: YearMax = None,
        include_undated: Undated = True,
    ) -> Annotated[CallToolResult, AnswerOut]:
        """Answer a question from the abstracts, with citations. Every claim in `text` ends
        with markers like [1] that map to the entry with that `n` in `citations` (doc_id,
        title, year and the quoted evidence); pass a doc_id to `get_document` to read the
        paper. If the abstracts do not answer the question, `abstained` is true and `text`
        says so: do not treat that as an answer."""
        filters = filter_values(year_min=year_min, year_max=year_max, include_undated=None if include_undated else False)
        out = _answer_out(lazy.run(lambda a: a.ask(question, k=k, filters=filters)))
        return _result(out, _answer_text(out))

    @_tool(server)
    def summarize(
        topic: Annotated[str, Field(description="The topic to summarize the literature on.")],
        k: Annotated[int | None, Field(description=f"Papers to cover ({SUMMARY_K}; default from settings).")] = None,
        year_min: YearMin = None,
        year_max: YearMax = None,
        include_undated: Undated = True,
    ) -> Annotated[CallToolResult, AnswerOut]:
        """A cited literature summary of the papers on a topic, grouped by approach. Same
        shape as `ask`: markers [n] in `text` map to `citations`; `abstained` is true when
        no paper matches the topic closely enough."""
        filters = filter_values(year_min=year_min, year_max=year_max, include_undated=None if include_undated else False)
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
            raise ToolError(f"doc_id {quote(doc_id)}: no such document (ids come from search hits or citations)")
        out = _document_out(doc)
        return _result(out, _document_text(out))

    @_tool(server)
    def export(
        doc_ids: Annotated[list[str], Field(description="doc_ids from citations or search hits, in the order wanted.")],
        format: Annotated[Literal["bibtex", "ris"], Field(description="bibtex or ris.")] = "bibtex",
    ) -> Annotated[CallToolResult, ExportOut]:
        """The papers `doc_ids` as a BibTeX or RIS file's text, for a reference manager. Keys
        are stable: the citation key a paper was imported with, else author+year+title word."""
        text = lazy.run(lambda a: a.export(doc_ids, format))
        out = ExportOut(format=format, text=text)
        return _result(out, text)

    return server


def serve_stdio(assistant_factory: AssistantFactory) -> None:
    """Serve the tools over stdin/stdout until the client closes the connection
    (logging goes to stderr: set it up with ``rag.logs.setup`` first)."""
    log.info("serving MCP over stdio")
    anyio.run(serve_stdio_async, build_server(assistant_factory))


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
