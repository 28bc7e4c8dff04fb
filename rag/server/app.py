"""The HTTP API and the web chat page (``rag serve``).

Routes mirror the Python API, with the same pydantic models on the wire, so an
answer over HTTP carries exactly the structured citations ``Assistant.ask``
returns. Answers stream as server-sent events when asked (``"stream": true`` or
``Accept: text/event-stream``): ``text`` events carry verified sentences, one
``answer`` event the final structured answer, an ``error`` event a failure.

Guards, in the order a request meets them: the body-size limit, the API key
(when ``RAG_API_KEY`` is set; every route but ``/health``), pydantic validation
(422 with the field and the reason), then our typed errors mapped to status codes.
One answer is generated at a time: the local model is a single process-wide
resource, and queueing beats two generations thrashing two cores.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from importlib import resources
from typing import Any, Callable, Iterator, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool

from .. import __version__
from ..assistant import MAX_QUERY_CHARS, Assistant, _stream
from ..errors import ConfigError, EmbeddingError, InputError, LLMError, RagError, StoreError
from ..models import Answer, Citation, Document, Hit
from ..retrieve.filters import SearchFilters
from .sessions import Sessions

log = logging.getLogger(__name__)

STATIC = resources.files("rag.server") / "static"
OPEN_PATHS = {"/health"}
COOKIE = "rag_api_key"


# --- request and response bodies --------------------------------------------------------


class Filters(BaseModel):
    year_min: int | None = Field(None, ge=0, le=9999, description="Only papers from this year on.")
    year_max: int | None = Field(None, ge=0, le=9999, description="Only papers up to this year.")
    source: str | None = Field(None, min_length=1, max_length=500, description="Only papers from this source file (name).")

    def to_search(self) -> SearchFilters:
        try:
            return SearchFilters(**self.model_dump())
        except ValidationError as exc:  # year_min after year_max
            raise InputError("filters", exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


Text = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)


class AskRequest(BaseModel):
    question: str = Text
    k: int | None = Field(None, ge=1, le=50, description="Papers to draw evidence from (default RAG_EVIDENCE_DOCS).")
    filters: Filters | None = None
    stream: bool = Field(False, description="Stream server-sent events instead of one JSON answer.")


class SearchRequest(BaseModel):
    query: str = Text
    k: int = Field(5, ge=1, le=200)
    filters: Filters | None = None
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"


class SummarizeRequest(BaseModel):
    topic: str = Text
    k: int | None = Field(None, ge=2, le=30, description="Papers to cover (default RAG_SUMMARY_DOCS).")
    filters: Filters | None = None
    stream: bool = False


class ChatRequest(BaseModel):
    question: str = Text
    session_id: str | None = Field(None, max_length=64, description="Omit to start a session; reuse the returned id for follow-ups.")
    stream: bool = False


class ChatResponse(BaseModel):
    session_id: str
    answer: Answer
    references: list[Citation] = Field(description="The session's bibliography: a paper keeps its number all session.")


class ErrorBody(BaseModel):
    error: str
    details: list[dict] | None = None


ERRORS = {400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 413: {"model": ErrorBody}, 422: {"model": ErrorBody}}
STREAMED = {200: {"content": {"text/event-stream": {}}, "description": "JSON, or server-sent events when streaming."}}


# --- the app ----------------------------------------------------------------------------------


def create_app(assistant: Assistant) -> FastAPI:
    settings = assistant.settings
    app = FastAPI(
        title="rag-abstracts",
        version=__version__,
        description="Cited question answering over scientific paper abstracts.",
        docs_url=None,  # the interactive docs load scripts from a CDN; the spec is at /openapi.json
        redoc_url=None,
    )
    app.state.assistant = assistant
    sessions = Sessions(assistant)
    generating = threading.Lock()

    def locked(fn: Callable[[], Any]) -> Any:
        with generating:
            return fn()

    key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(ApiKey, key=key)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)  # outermost: runs first

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(x) for x in e["loc"] if x != "body"), "reason": e["msg"]} for e in exc.errors()]
        first = details[0] if details else {"field": "body", "reason": "invalid request"}
        return JSONResponse({"error": f"{first['field'] or 'body'}: {first['reason']}", "details": details}, status_code=422)

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status_for(exc))

    @app.get("/health", tags=["service"])
    def health() -> dict:
        """Liveness; never requires the API key and never loads a model."""
        return {"status": "ok", "version": __version__}

    @app.get("/info", tags=["service"])
    def info() -> dict:
        """Store, collection, counts and configured models."""
        return assistant.info(load_models=False)

    @app.post("/search", response_model=list[Hit], responses=ERRORS, tags=["answers"])
    def search(req: SearchRequest) -> list[Hit]:
        filters = req.filters.to_search() if req.filters else None
        return assistant.search(req.query, k=req.k, filters=filters, mode=req.mode)

    def respond(call, stream: bool, request: Request, final=lambda a: a.model_dump(), first: dict | None = None):
        """Run ``call(on_text)`` under the generation lock: as SSE when streaming is
        asked for, else as one JSON body shaped by ``final``."""
        run = lambda on_text=None: locked(lambda: call(on_text))  # noqa: E731
        if wants_stream(stream, request):
            return sse(_stream(run), final, first)
        return final(run())

    @app.post("/ask", response_model=Answer, responses={**ERRORS, **STREAMED}, tags=["answers"])
    def ask(req: AskRequest, request: Request):
        """A cited answer; every ``[n]`` in ``text`` maps to ``citations``."""
        filters = req.filters.to_search() if req.filters else None
        return respond(lambda on_text: assistant.ask(req.question, k=req.k, filters=filters, on_text=on_text), req.stream, request)

    @app.post("/summarize", response_model=Answer, responses={**ERRORS, **STREAMED}, tags=["answers"])
    def summarize(req: SummarizeRequest, request: Request):
        """A cited literature summary of the papers matching ``topic``, grouped by approach."""
        filters = req.filters.to_search() if req.filters else None
        return respond(lambda on_text: assistant.summarize(req.topic, k=req.k, filters=filters, on_text=on_text), req.stream, request)

    @app.post("/chat", response_model=ChatResponse, responses={**ERRORS, **STREAMED}, tags=["answers"])
    def chat(req: ChatRequest, request: Request):
        """One turn of a chat session; follow-ups may refer to earlier turns."""
        session_id, conv = sessions.get(req.session_id)

        def final(answer: Answer) -> dict:
            refs = [conv.bibliography[n] for n in sorted(conv.bibliography)]
            return ChatResponse(session_id=session_id, answer=answer, references=refs).model_dump()

        return respond(lambda on_text: conv.ask(req.question, on_text=on_text), req.stream, request, final, {"session_id": session_id})

    @app.get("/documents/{doc_id}", response_model=Document, responses={404: {"model": ErrorBody}}, tags=["answers"])
    def get_document(doc_id: str):
        doc = assistant.document(doc_id) if len(doc_id) <= 128 else None
        if doc is None:
            return JSONResponse({"error": f"doc_id: no stored document {doc_id[:128]!r}"}, status_code=404)
        return doc

    @app.get("/", include_in_schema=False)
    def page(request: Request) -> Response:
        given = request.query_params.get("key")
        if key and given:  # /?key=... once, then a cookie; the key leaves the address bar
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
            return response
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def status_for(exc: RagError) -> int:
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, (StoreError, LLMError, EmbeddingError)):
        return 503
    if isinstance(exc, ConfigError):
        return 500
    return 500


def wants_stream(flag: bool, request: Request) -> bool:
    return flag or "text/event-stream" in request.headers.get("accept", "")


def sse(chunks: Iterator[str | Answer], final: Callable[[Answer], dict], first: dict | None = None) -> EventSourceResponse:
    """Server-sent events from a stream of text pieces ending with the Answer."""

    async def events():
        if first:
            yield {"event": "session", "data": json.dumps(first)}
        try:
            async for chunk in iterate_in_threadpool(chunks):
                if isinstance(chunk, Answer):
                    yield {"event": "answer", "data": json.dumps(final(chunk), ensure_ascii=False)}
                else:
                    yield {"event": "text", "data": json.dumps({"text": chunk}, ensure_ascii=False)}
        except RagError as exc:  # the status line is already sent: report in-band
            yield {"event": "error", "data": json.dumps({"error": str(exc), "status": status_for(exc)})}

    return EventSourceResponse(events(), ping=15)


# --- middleware (pure ASGI, so streamed responses pass through untouched) ----------------------


async def _reply(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """413 for a body over ``max_bytes``, whether announced by Content-Length or not.

    The body is read here, up to the limit, and replayed to the app: an error raised
    from inside the app's own body reading would be turned into a generic 400."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = {"error": f"request body: larger than the {self.max_bytes}-byte limit (RAG_MAX_REQUEST_BYTES)"}
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _reply(send, 413, message)
        body = bytearray()
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # client went away
                return
            body += msg.get("body", b"")
            if len(body) > self.max_bytes:
                return await _reply(send, 413, message)
            if not msg.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class ApiKey:
    """When a key is configured, every route but /health needs it: as a bearer token,
    an ``X-API-Key`` header, or the cookie the chat page gets from ``/?key=...``."""

    def __init__(self, app, key: str | None) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.key or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        offered = []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[7:].strip())
        offered.append(headers.get("x-api-key", ""))
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                offered.append(value)
        if scope["path"] == "/":  # the page's one-time ?key=... login
            from urllib.parse import parse_qs

            offered += parse_qs(scope.get("query_string", b"").decode()).get("key", [])
        if any(o and hmac.compare_digest(o.encode(), self.key.encode()) for o in offered):
            return await self.app(scope, receive, send)
        await _reply(
            send, 401,
            {"error": "authorization: missing or wrong API key (send 'Authorization: Bearer <RAG_API_KEY>' or 'X-API-Key')"},
            [(b"www-authenticate", b"Bearer")],
        )
