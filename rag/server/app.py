"""The HTTP API and the web chat page (``rag serve``).

Routes mirror the Python API, with the same pydantic models on the wire, so an
answer over HTTP carries exactly the structured citations ``Assistant.ask``
returns. Answers stream as server-sent events when asked (``"stream": true`` or
``Accept: text/event-stream``): ``text`` events carry verified sentences, one
``answer`` event the final structured answer, an ``error`` event a failure.

Guards, in the order a request meets them: the Host header check (loopback, the
serve host and ``RAG_ALLOWED_HOSTS`` only: a DNS-rebinding page cannot reach the
API), the body-size limit, the API key (when ``RAG_API_KEY`` is set; every route but
``/health``, ``/login`` and the page's stylesheet), pydantic validation (422 with the
field and the reason), then our typed errors mapped to status codes. Every error is
one JSON line, ``{"error": "..."}``, and every response carries the security headers
(a Content-Security-Policy allowing the page's own files only, no framing, no
sniffing, no referrer).
One answer is generated at a time: the local model is a single process-wide
resource, and queueing beats two generations thrashing two cores.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__
from ..answer.assemble import AnswerStream
from ..assistant import Assistant
from ..errors import RagError, one_line
from ..inputs import AskInput, ChatInput, ExportInput, SearchInput, SummarizeInput
from ..llm import Interruptible
from ..models import Answer, Citation, Document, Hit
from . import memory, openai_api
from .answers import ModelQueue, Stoppable, sse, status_for, whole
from .sessions import Histories, Sessions

log = logging.getLogger(__name__)

STATIC = resources.files("rag.server") / "static"
COOKIE = "rag_api_key"
PUBLIC_STATIC = {"chat.css", "favicon.svg"}  # the login page's look: served without the key (it holds no data)
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # always allowed Host names
ANY_ADDRESS = ("0.0.0.0", "::", "[::]")  # bind-all addresses: no client sends them as its Host

#: The page's own files only: no inline script or style, no eval, no other origin, no
#: framing; and no HTML built from strings (Trusted Types: the page builds DOM nodes).
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
])
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


# --- request and response bodies: the Python API's input rules plus transport fields ------


class AskRequest(AskInput):
    stream: bool = Field(False, description="Stream server-sent events instead of one JSON answer.")


class ExportRequest(ExportInput):
    pass


EXPORT_TYPES = {
    "bibtex": ("application/x-bibtex; charset=utf-8", "references.bib"),
    "ris": ("application/x-research-info-systems; charset=utf-8", "references.ris"),
}


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
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="Set by the chat page's login form (POST /login).")


def api_key_check(key: str | None) -> Callable[..., bool]:
    """A dependency telling whether a request offers ``key`` (as a bearer token, an
    ``X-API-Key`` header or the page's cookie); always true when no key is configured."""

    def authorized(
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
        header: str | None = Security(_header),
        cookie: str | None = Security(_cookie),
    ) -> bool:
        return key is None or any(same_key(c, key) for c in (bearer.credentials if bearer else None, header, cookie))

    return authorized


def api_key_guard(key: str | None) -> Callable[..., None]:
    """A dependency that answers 401 to a request not offering ``key`` (see ``api_key_check``)."""

    def check(ok: bool = Depends(api_key_check(key))) -> None:
        if not ok:
            raise _unauthorized()

    return check


def same_key(given: str | None, key: str) -> bool:
    """Compared in constant time (the time taken says nothing of how much matched)."""
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


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
    # Every answer reaches the model through one stop switch, so an answer whose client
    # went away stops within a token (see ModelQueue.turn and Stoppable.close).
    memory.limit_arenas()  # before the worker threads exist (see rag/server/memory.py)
    model = Interruptible(lambda: original.llm)
    original, assistant = assistant, assistant.with_llm(model)
    app.state.assistant = assistant
    sessions = Sessions(assistant.conversation)
    queue = ModelQueue(settings.max_queued_answers, model)
    authorized = api_key_check(key)
    guarded = APIRouter(dependencies=[Depends(api_key_guard(key))])
    # add_middleware wraps: the last added meets the request first
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(AllowedHosts, allowed_hosts=allowed_hosts(settings.serve_host, settings.allowed_hosts))
    app.add_middleware(SecurityHeaders)

    def admit(stream: AnswerStream) -> Stoppable:
        """``stream`` in the model queue (503 when it is full, before any work)."""
        ticket = queue.admit()
        return Stoppable(queue.turn(ticket, stream), ticket, queue)

    async def respond(
        stream: AnswerStream,
        wants: bool,
        request: Request,
        final: Callable[[Answer], dict] = lambda a: a.model_dump(),
        first: dict | None = None,
    ) -> Any:
        """As server-sent events when streaming is asked for, else one JSON body shaped by
        ``final``; either way the answer stops when its client goes away."""
        turn = admit(stream)
        if wants or "text/event-stream" in request.headers.get("accept", ""):
            waiting = {"position": turn.ticket.ahead} if turn.ticket.ahead else None
            return sse(turn, final, first, waiting)
        return await whole(turn, final, request)

    def error(request: Request, message: str, status: int, headers: Mapping[str, str] | None = None, **openai: Any) -> JSONResponse:
        """The one-line error, in OpenAI's shape on its routes."""
        body = openai_api.error_body(message, status, **openai) if openai_api.is_openai(request.url.path) else {"error": message}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if errors and errors[0].get("type") == "json_invalid":  # not JSON at all: nothing to name a field of
            where = errors[0].get("loc", ("body", "?"))[-1]
            reason = (errors[0].get("ctx") or {}).get("error", "invalid JSON")
            return error(request, f"request body: not valid JSON ({reason} at character {where})", 400)
        details = [{"field": ".".join(str(x) for x in e["loc"] if x != "body"), "reason": e["msg"]} for e in errors]
        if openai_api.is_openai(request.url.path):
            return error(request, one_line(errors), 400, param=details[0]["field"] if details else None)
        return JSONResponse({"error": one_line(errors), "details": details}, status_code=422)

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        return error(request, str(exc), status_for(exc), param=getattr(exc, "where", None))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or ("invalid_api_key" if exc.status_code == 401 else None)
        return error(request, http_error_message(request, exc), exc.status_code, exc.headers, code=code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Sent by Starlette's outermost middleware (which then re-raises, so the traceback
        # is logged): outside SecurityHeaders, hence the headers here.
        headers = {k.decode(): v.decode() for k, v in SECURITY_HEADERS}
        return JSONResponse({"error": "internal error (see the server log)"}, status_code=500, headers=headers)

    @app.get("/health", tags=["service"])
    async def health() -> dict:  # async: answered on the event loop, never behind queued answers
        """Liveness; never requires the API key and never loads a model. ``model`` is
        "loading" until the model is built (`rag serve` builds it before it listens;
        otherwise the first answer does)."""
        model_state = "ready" if original.llm_loaded else "loading"
        return {"status": "ok", "version": __version__, "model": model_state, "answers": queue.state()}

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
    async def ask(req: AskRequest, request: Request):
        """A cited answer; every ``[n]`` in ``text`` maps to ``citations``."""
        return await respond(assistant.ask_stream(req.question, k=req.k, filters=req.filters), req.stream, request)

    @guarded.post("/summarize", response_model=Answer, responses={**ERRORS, **STREAMED}, tags=["answers"])
    async def summarize(req: SummarizeRequest, request: Request):
        """A cited literature summary of the papers matching ``topic``, grouped by approach."""
        return await respond(assistant.summarize_stream(req.topic, k=req.k, filters=req.filters), req.stream, request)

    @guarded.post("/chat", response_model=ChatResponse, responses={**ERRORS, **STREAMED}, tags=["answers"])
    async def chat(req: ChatRequest, request: Request):
        """One turn of a chat session; follow-ups may refer to earlier turns."""
        session_id, conv = sessions.get(req.session_id)

        def final(answer: Answer) -> dict:
            refs = [conv.bibliography[n] for n in sorted(conv.bibliography)]
            return ChatResponse(session_id=session_id, answer=answer, references=refs).model_dump()

        return await respond(conv.ask_stream(req.question), req.stream, request, final, {"session_id": session_id})

    @guarded.post("/export", responses={**ERRORS, 200: {"content": {t: {} for t, _ in EXPORT_TYPES.values()}}}, tags=["answers"])
    def export(req: ExportRequest) -> Response:
        """The stored papers ``doc_ids`` as a BibTeX or RIS file (a download)."""
        media, filename = EXPORT_TYPES[req.format]
        text = assistant.export(req.doc_ids, req.format)
        return Response(text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @guarded.get("/documents/{doc_id}", response_model=Document, responses={404: {"model": ErrorBody}}, tags=["answers"])
    def get_document(doc_id: str):
        doc = assistant.document(doc_id) if len(doc_id) <= 128 else None
        if doc is None:
            return JSONResponse({"error": f"doc_id: no stored document {doc_id[:128]!r}"}, status_code=404)
        return doc

    @app.get("/", include_in_schema=False)
    def page(request: Request, ok: bool = Depends(authorized)) -> Response:
        """The chat page, or the login form when the API key is set and not offered."""
        if "key" in request.query_params:  # the retired /?key= login: never accepted; the key leaves the address bar
            return RedirectResponse("/", status_code=303)
        if not ok:
            return login_page()
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        """The login form posts the key (form field or JSON ``{"key": ...}``) here, never in
        an address: a right key becomes the page's HttpOnly, SameSite=Strict cookie."""
        given = await offered_key(request)
        if key is not None and not same_key(given, key):
            if "json" in request.headers.get("content-type", ""):
                raise _unauthorized()
            return login_page(failed=True)
        response = RedirectResponse("/", status_code=303)
        if key is not None:
            secure = request.url.scheme == "https"
            response.set_cookie(COOKIE, key, httponly=True, samesite="strict", secure=secure, path="/")
        return response

    static_files = {p.name for p in STATIC.iterdir() if p.is_file()}

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str, ok: bool = Depends(authorized)) -> Response:
        """The page's files, by name only (a fixed set: no path can leave the folder);
        all but the login page's stylesheet need the key."""
        if not ok and name not in PUBLIC_STATIC:
            raise _unauthorized()
        if name not in static_files:
            raise HTTPException(404, f"static: no file {name[:64]!r}")
        return FileResponse(str(STATIC / name))

    app.include_router(guarded)
    openai_routes = openai_api.router(assistant.conversation, admit, Histories(), lambda: assistant.embedder)
    app.include_router(openai_routes, dependencies=[Depends(api_key_guard(key))])
    return app


def login_page(*, failed: bool = False) -> HTMLResponse:
    """The login form (401: the page's API calls would be refused)."""
    html = (STATIC / "login.html").read_text(encoding="utf-8")
    if failed:  # a fixed message: nothing from the request is written into the page
        html = html.replace("<!-- failed -->", '<p class="login-error" role="alert">Wrong API key.</p>')
    headers = {"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=401, headers=headers)


async def offered_key(request: Request) -> str | None:
    """The ``key`` field of a login form or JSON body; None when there is none."""
    body = await request.body()
    value: object = None
    if "json" in request.headers.get("content-type", ""):
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        value = data.get("key") if isinstance(data, dict) else None
    else:
        values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20).get("key")
        value = values[0] if values else None
    return value if isinstance(value, str) else None


def http_error_message(request: Request, exc: StarletteHTTPException) -> str:
    """One line for an HTTP error: ours as raised; Starlette's and FastAPI's generic
    ones (bad body, no route, wrong method) reworded to say what was wrong."""
    cause = exc.__cause__
    if isinstance(cause, RecursionError):  # json.loads on [[[[...: the request body failed to parse
        return "request body: JSON nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "request body: not valid UTF-8"
    if exc.status_code == 400 and cause is not None:
        return "request body: could not be parsed"
    if exc.status_code in (404, 405) and exc.detail == HTTPStatus(exc.status_code).phrase:  # Starlette's wording
        path = request.url.path[:200]
        if exc.status_code == 404:
            return f"{path}: no such route"
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{path}: method {request.method} not allowed" + (f" (allowed: {allowed})" if allowed else "")
    return " ".join(str(exc.detail).split())


def allowed_hosts(serve_host: str, extra: Sequence[str]) -> list[str]:
    """Host names the Host check accepts: loopback, the serve host, the configured ones
    (IPv6 addresses bracketed, as they appear in a Host header)."""
    hosts = {h.strip().lower() for h in (*LOOPBACK, serve_host, *extra)} - {"", *ANY_ADDRESS}
    return sorted(f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts)


# --- middleware (pure ASGI, so streamed responses pass through untouched) ----------------------


async def _reply(send, scope, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = openai_api.error_body(message, status) if openai_api.is_openai(scope.get("path", "")) else {"error": message}
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": payload})


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response (a header the app set itself wins)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


ADMITTED = "rag.host_admitted"


class AllowedHosts(TrustedHostMiddleware):
    """Starlette's Host header check (against DNS rebinding: a page on an attacker's
    name that resolves to this machine sends that name as Host), answering in the API's
    error shape: 400 ``{"error": ...}`` instead of the plain text "Invalid host header".

    Starlette's parsing and matching are kept; a response started before the request
    reached the app is the check's refusal, and is replaced."""

    def __init__(self, app, allowed_hosts: Sequence[str]) -> None:
        async def admitted(scope, receive, send):
            scope[ADMITTED] = True
            await app(scope, receive, send)

        super().__init__(admitted, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.allow_any:
            return await super().__call__(scope, receive, send)
        refused = False

        async def send_or_refuse(message):
            nonlocal refused
            if refused:  # the plain-text body of the refusal
                return
            if message["type"] == "http.response.start" and not scope.get(ADMITTED):
                refused = True
                host = Headers(scope=scope).get("host", "")[:100]
                error = f"host: {host!r} is not an allowed host name (loopback, RAG_SERVE_HOST or RAG_ALLOWED_HOSTS)"
                return await _reply(send, scope, 400, error)
            await send(message)

        await super().__call__(scope, receive, send_or_refuse)


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
        message = f"request body: larger than the {self.max_bytes}-byte limit (RAG_MAX_REQUEST_BYTES)"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _reply(send, scope, 413, message)
        body = bytearray()
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # client went away
                return
            body += msg.get("body", b"")
            if len(body) > self.max_bytes:
                return await _reply(send, scope, 413, message)
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
