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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie, APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..answer.assemble import AnswerStream, finish
from ..assistant import Assistant
from ..errors import EmbeddingError, InputError, LLMError, RagError, StoreError, one_line
from ..inputs import AskInput, ChatInput, SearchInput, SummarizeInput
from ..models import Answer, Citation, Document, Hit
from .sessions import Sessions

log = logging.getLogger(__name__)

STATIC = resources.files("rag.server") / "static"
COOKIE = "rag_api_key"


# --- request and response bodies: the Python API's input rules plus transport fields ------


class AskRequest(AskInput):
    stream: bool = Field(False, description="Stream server-sent events instead of one JSON answer.")


class SearchRequest(SearchInput):
    pass


class SummarizeRequest(SummarizeInput):
    stream: bool = Field(False, description="Stream server-sent events instead of one JSON answer.")


class ChatRequest(ChatInput):
    session_id: str | None = Field(None, max_length=64, description="Omit to start a session; reuse the returned id for follow-ups.")
    stream: bool = Field(False, description="Stream server-sent events instead of one JSON answer.")


class ChatResponse(BaseModel):
    session_id: str
    answer: Answer
    references: list[Citation] = Field(description="The session's bibliography: a paper keeps its number all session.")


class ErrorBody(BaseModel):
    error: str
    details: list[dict] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 413, 422)}
STREAMED: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "JSON, or server-sent events when streaming."}
}


# --- the API key: FastAPI's security dependencies (they also document the schemes) -------

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <RAG_API_KEY>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="Set by the chat page's one-time /?key=... login.")
_query = APIKeyQuery(name="key", auto_error=False, description="The chat page's one-time login; it becomes the cookie.")


def api_key_guard(key: str | None, *, query: bool = False) -> Callable[..., None]:
    """A dependency that admits a request offering ``key`` (as a bearer token, an
    ``X-API-Key`` header or the page's cookie; with ``query``, also ``?key=``), and
    admits everything when no key is configured. Compared in constant time."""

    def offered(bearer: HTTPAuthorizationCredentials | None, *others: str | None) -> bool:
        candidates = [bearer.credentials if bearer else None, *others]
        return key is None or any(c and hmac.compare_digest(c.encode(), key.encode()) for c in candidates)

    def check(
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
        header: str | None = Security(_header),
        cookie: str | None = Security(_cookie),
    ) -> None:
        if not offered(bearer, header, cookie):
            raise _unauthorized()

    def check_with_query(
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
        header: str | None = Security(_header),
        cookie: str | None = Security(_cookie),
        given: str | None = Security(_query),
    ) -> None:
        if not offered(bearer, header, cookie, given):
            raise _unauthorized()

    return check_with_query if query else check


def _unauthorized() -> HTTPException:
    return HTTPException(
        401,
        "authorization: missing or wrong API key (send 'Authorization: Bearer <RAG_API_KEY>' or 'X-API-Key')",
        headers={"WWW-Authenticate": "Bearer"},
    )


# --- the app ----------------------------------------------------------------------------------


def create_app(assistant: Assistant) -> FastAPI:
    settings = assistant.settings
    key = settings.api_key.get_secret_value() if settings.api_key else None
    app = FastAPI(
        title="rag-abstracts",
        version=__version__,
        description="Cited question answering over scientific paper abstracts.",
        docs_url=None,  # the interactive docs load scripts from a CDN; the spec is at /openapi.json
        redoc_url=None,
        openapi_url=None,  # served below, behind the API key like every route but /health
    )
    app.state.assistant = assistant
    sessions = Sessions(assistant.conversation)
    queue = ModelQueue(settings.max_queued_answers)
    guarded = APIRouter(dependencies=[Depends(api_key_guard(key))])
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)

    def respond(
        stream: AnswerStream,
        wants: bool,
        request: Request,
        final: Callable[[Answer], dict] = lambda a: a.model_dump(),
        first: dict | None = None,
    ) -> Any:
        """As server-sent events when streaming is asked for, else one JSON body shaped by ``final``."""
        ticket = queue.admit()  # 503 when the queue is full, before any work
        turn = Stoppable(queue.turn(ticket, stream), ticket, queue)
        if wants or "text/event-stream" in request.headers.get("accept", ""):
            waiting = {"position": ticket.ahead} if ticket.ahead else None
            return sse(turn, final, first, waiting)
        return final(finish(turn))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        details = [{"field": ".".join(str(x) for x in e["loc"] if x != "body"), "reason": e["msg"]} for e in errors]
        return JSONResponse({"error": one_line(errors), "details": details}, status_code=422)

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=status_for(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/health", tags=["service"])
    async def health() -> dict:  # async: answered on the event loop, never behind queued answers
        """Liveness; never requires the API key and never loads a model."""
        return {"status": "ok", "version": __version__}

    @guarded.get("/info", tags=["service"])
    def info() -> dict:
        """Store, collection, counts and configured models."""
        return assistant.info()

    @guarded.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict:
        return app.openapi()

    @guarded.post("/search", response_model=list[Hit], responses=ERRORS, tags=["answers"])
    def search(req: SearchRequest) -> list[Hit]:
        return assistant.search(req.query, k=req.k, filters=req.filters, mode=req.mode)

    @guarded.post("/ask", response_model=Answer, responses={**ERRORS, **STREAMED}, tags=["answers"])
    def ask(req: AskRequest, request: Request):
        """A cited answer; every ``[n]`` in ``text`` maps to ``citations``."""
        return respond(assistant.ask_stream(req.question, k=req.k, filters=req.filters), req.stream, request)

    @guarded.post("/summarize", response_model=Answer, responses={**ERRORS, **STREAMED}, tags=["answers"])
    def summarize(req: SummarizeRequest, request: Request):
        """A cited literature summary of the papers matching ``topic``, grouped by approach."""
        return respond(assistant.summarize_stream(req.topic, k=req.k, filters=req.filters), req.stream, request)

    @guarded.post("/chat", response_model=ChatResponse, responses={**ERRORS, **STREAMED}, tags=["answers"])
    def chat(req: ChatRequest, request: Request):
        """One turn of a chat session; follow-ups may refer to earlier turns."""
        session_id, conv = sessions.get(req.session_id)

        def final(answer: Answer) -> dict:
            refs = [conv.bibliography[n] for n in sorted(conv.bibliography)]
            return ChatResponse(session_id=session_id, answer=answer, references=refs).model_dump()

        return respond(conv.ask_stream(req.question), req.stream, request, final, {"session_id": session_id})

    @guarded.get("/documents/{doc_id}", response_model=Document, responses={404: {"model": ErrorBody}}, tags=["answers"])
    def get_document(doc_id: str):
        doc = assistant.document(doc_id) if len(doc_id) <= 128 else None
        if doc is None:
            return JSONResponse({"error": f"doc_id: no stored document {doc_id[:128]!r}"}, status_code=404)
        return doc

    @app.get("/", include_in_schema=False, dependencies=[Depends(api_key_guard(key, query=True))])
    def page(request: Request) -> Response:
        given = request.query_params.get("key")
        if key and given:  # /?key=... once (checked by the guard), then a cookie; the key leaves the address bar
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
            return response
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    static_files = {p.name for p in STATIC.iterdir() if p.is_file()}

    @guarded.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        """The page's files, by name only (a fixed set: no path can leave the folder)."""
        if name not in static_files:
            raise HTTPException(404, "Not Found")
        return FileResponse(str(STATIC / name))

    app.include_router(guarded)
    return app


def status_for(exc: RagError) -> int:
    """400 for a user's mistake, 503 for a backend that failed, 500 for the rest."""
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, (StoreError, LLMError, EmbeddingError)):
        return 503
    return 500


class QueueFull(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            503, f"the model is busy: {limit} answers are already waiting; retry shortly", headers={"Retry-After": "5"}
        )


@dataclass
class Ticket:
    ahead: int  # answers running or waiting before this one when it was admitted
    cancelled: threading.Event = field(default_factory=threading.Event)
    left: bool = False  # counted out of the queue (once, however the request ended)


class ModelQueue:
    """One answer generates at a time; at most ``limit`` more wait (then 503 with
    Retry-After rather than an ever-growing wait, and a bounded number of worker threads
    parked here, so /health, /search and /documents stay fast). A waiting request whose
    client went away leaves the queue without running."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.admitted = 0
        self.count_lock = threading.Lock()
        self.model = threading.Lock()

    def admit(self) -> Ticket:
        with self.count_lock:
            if self.admitted > self.limit:
                raise QueueFull(self.limit)
            self.admitted += 1
            return Ticket(ahead=self.admitted - 1)

    def turn(self, ticket: Ticket, stream: AnswerStream) -> AnswerStream:
        """``stream`` read while holding the model, released when it ends or is closed."""
        try:
            while not self.model.acquire(timeout=0.1):
                if ticket.cancelled.is_set():
                    _close(stream)
                    return
            try:
                yield from stream
            finally:
                self.model.release()
        finally:
            self.leave(ticket)

    def leave(self, ticket: Ticket) -> None:
        with self.count_lock:
            if not ticket.left:
                ticket.left = True
                self.admitted -= 1


class Stoppable:
    """An answer stream read by worker threads that can be stopped from elsewhere: the
    server's event loop calls ``stop()`` when a client goes away, and the generator is
    closed in a worker thread as soon as its current step ends (one token), so the model
    stops instead of generating for nobody. A generator cannot be closed while another
    thread is inside it, hence the step lock."""

    def __init__(self, stream: AnswerStream, ticket: Ticket, queue: ModelQueue) -> None:
        self.stream = stream
        self.step = threading.Lock()
        self.ticket = ticket
        self.queue = queue

    def __iter__(self) -> Stoppable:
        return self

    def __next__(self) -> str | Answer:
        with self.step:
            return next(self.stream)

    def close(self) -> None:
        self.ticket.cancelled.set()  # a step waiting for the model returns at once
        with self.step:
            _close(self.stream)
        self.queue.leave(self.ticket)  # also when the stream never started


def _close(stream: Iterator) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def sse(
    chunks: Iterator[str | Answer], final: Callable[[Answer], dict], first: dict | None = None, waiting: dict | None = None
) -> EventSourceResponse:
    """Server-sent events from a stream of text pieces ending with the Answer."""

    async def events():
        if first:
            yield {"event": "session", "data": json.dumps(first)}
        if waiting:  # how many answers are ahead: the wait is not a hang
            yield {"event": "queue", "data": json.dumps(waiting)}
        try:
            async for chunk in iterate_in_threadpool(chunks):
                if isinstance(chunk, Answer):
                    yield {"event": "answer", "data": json.dumps(final(chunk), ensure_ascii=False)}
                else:
                    yield {"event": "text", "data": json.dumps({"text": chunk}, ensure_ascii=False)}
        except RagError as exc:  # the status line is already sent: report in-band
            yield {"event": "error", "data": json.dumps({"error": str(exc), "status": status_for(exc)})}
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:  # a client that went away: stop the answer (and free the model)
                with anyio.CancelScope(shield=True):  # the disconnect cancelled us; closing must still run
                    await run_in_threadpool(close)

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
