"""The MCP server's stdio boundary: every line the client sends is checked before the
SDK reads it (:func:`check_line`), and every error reply is one bounded line
(:func:`bounded`). See ``rag.mcp_server`` for the server and its tools.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TextIO

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    RequestId,
    jsonrpc_message_adapter,
)
from pydantic import ValidationError

from .errors import one_line

log = logging.getLogger("rag.mcp_server")  # the server's log, whichever module writes it

#: Most characters of an input value an error message shows.
VALUE_CHARS = 80
#: Longest error message (one line) this server sends.
MESSAGE_CHARS = 300


# --- bounded, one-line error messages ----------------------------------------------------
def quote(value: str) -> str:
    """``value`` as an error message quotes it: ``repr`` when short; when long, its first
    characters and its length (``'abc…' (1048576 characters)``), so that a 1 MB argument
    is not sent back whole. The quoted part stays within VALUE_CHARS characters."""
    if len(value) <= VALUE_CHARS - 4:  # room for the quotes and the ellipsis
        return repr(value)
    return f"{value[: VALUE_CHARS - 4] + '…'!r} ({len(value)} characters)"


_LONG_RUN = re.compile(rf"\S{{{VALUE_CHARS + 1},}}")


def bounded(message: str) -> str:
    """``message`` as one line of at most about MESSAGE_CHARS characters, each run of more
    than VALUE_CHARS non-blank characters (a value it quotes, in practice: a number of
    4,000 digits, an id of a megabyte) cut to its start and its length."""
    line = " ".join(message.split())
    line = _LONG_RUN.sub(lambda m: f"{m[0][:VALUE_CHARS]}… ({len(m[0])} characters)", line)
    return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS] + "…"


# --- the stdio boundary ------------------------------------------------------------------
# The SDK's stdio transport parses each line it reads and, when that fails, puts the
# exception on the read stream, where the session drops it (debug-logged): no reply, so a
# client whose request was malformed waits forever. It fails so for non-JSON, truncated
# JSON, a wrong "jsonrpc", `params` that is not an object, batches and JSON nested deeper
# than its parser's limit. So each line is checked here before the SDK reads it: one
# that passes is handed on unchanged (the SDK then parses it as we did); one that fails
# is answered here, through the SDK's own writer (one writer on stdout, no interleaving),
# and the SDK never sees it.

_DECODER = json.JSONDecoder()
_BLANK = re.compile(r"[ \t\n\r]*")
_TOO_DEEP = "Parse error: JSON nested too deeply"
#: The member of the SDK's message union that a request is checked against.
_REQUEST_MODEL = "JSONRPCRequest"


@dataclass(frozen=True)
class Rejection:
    """Why a line is not handed on to the SDK, and who gets an error reply: one reply per
    entry of ``reply_to`` (``None`` is the JSON-RPC ``"id": null`` for a request whose id
    is unknown); none for notifications and responses, which are never answered."""

    code: int
    message: str  # one line, quoting none of the input
    reply_to: tuple[RequestId | None, ...] = (None,)

    def replies(self) -> list[JSONRPCError]:
        error = ErrorData(code=self.code, message=self.message)
        return [JSONRPCError(jsonrpc="2.0", id=request_id, error=error) for request_id in self.reply_to]


def _is_id(value: object) -> bool:
    """A valid request id: a string or an integer (MCP allows no null; JSON true is no number)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _skip_blank(text: str, pos: int) -> int:
    match = _BLANK.match(text, pos)
    return match.end() if match else pos


def _recover_id(text: str) -> RequestId | None:
    """The ``id`` of a message that does not parse, read from the top-level members that
    do (in order, up to the first broken one); ``None`` when it is not among them. An id
    must be followed by ``,`` or ``}``: in ``{"id": 12`` the id may have been 123."""
    pos = _skip_blank(text, 0)
    if not text.startswith("{", pos):
        return None
    pos += 1
    try:
        while True:
            key, pos = _DECODER.raw_decode(text, _skip_blank(text, pos))
            pos = _skip_blank(text, pos)
            if not isinstance(key, str) or not text.startswith(":", pos):
                return None
            value, pos = _DECODER.raw_decode(text, _skip_blank(text, pos + 1))
            pos = _skip_blank(text, pos)
            if pos >= len(text) or text[pos] not in ",}":
                return None
            if key == "id":
                return value if _is_id(value) else None
            if text[pos] == "}":
                return None
            pos += 1
    except (ValueError, RecursionError):  # a broken or too deeply nested member
        return None


def check_line(line: str) -> Rejection | None:
    """``None`` when ``line`` is one JSON-RPC 2.0 message the SDK accepts; otherwise why not.

    Never raises (input nested a million levels deep included) and never quotes the input.
    Codes: -32700 when the line is not JSON (or JSON too deeply nested to read), -32600
    when it is JSON but no valid message (wrong or missing ``"jsonrpc"``, an id that is no
    string or integer, no ``method``, ``params`` not an object, a batch: MCP has none),
    -32602 for positional ``params`` (MCP methods take named ones).
    """
    text = line.strip()
    if not text:
        return Rejection(PARSE_ERROR, "Parse error: empty line", reply_to=())  # framing noise, not a message
    try:
        message = json.loads(text)
    except RecursionError:
        return Rejection(PARSE_ERROR, _TOO_DEEP, (_recover_id(text),))
    except json.JSONDecodeError as exc:  # its msg names the problem, not the input
        return Rejection(PARSE_ERROR, f"Parse error: {exc.msg} at character {exc.pos}", (_recover_id(text),))
    except ValueError:  # an integer of more digits than Python converts
        return Rejection(PARSE_ERROR, "Parse error: a number with too many digits", (_recover_id(text),))

    if isinstance(message, list):  # a JSON-RPC batch: answer every request in it
        ids = tuple(item["id"] for item in message if isinstance(item, dict) and _is_id(item.get("id")))
        return Rejection(INVALID_REQUEST, "Invalid Request: batches are not supported; send one message per line", ids or (None,))
    if not isinstance(message, dict):
        return Rejection(INVALID_REQUEST, "Invalid Request: a message must be a JSON object")

    is_response = "method" not in message and ("result" in message or "error" in message)
    is_notification = "method" in message and "id" not in message
    request_id = message.get("id")
    if is_response or is_notification:
        reply_to: tuple[RequestId | None, ...] = ()
    else:
        reply_to = (request_id if _is_id(request_id) else None,)

    def reject(code: int, reason: str) -> Rejection:
        return Rejection(code, reason, reply_to)

    if message.get("jsonrpc") != "2.0":
        return reject(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    if not is_response and "id" in message and not _is_id(request_id):
        return reject(INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer')
    if not is_response:
        if "method" not in message:
            return reject(INVALID_REQUEST, 'Invalid Request: "method" is missing')
        if not isinstance(message["method"], str):
            return reject(INVALID_REQUEST, 'Invalid Request: "method" must be a string')
        params = message.get("params")
        if isinstance(params, list):
            return reject(INVALID_PARAMS, 'Invalid params: "params" must be an object (MCP methods take named parameters)')
        if params is not None and not isinstance(params, dict):
            return reject(INVALID_REQUEST, 'Invalid Request: "params" must be an object')

    # Last, the SDK's own check (what its transport runs next), so that no line handed on
    # can still be dropped: it also refuses JSON nested deeper than its parser allows.
    try:
        jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":  # deeper than its parser goes, mostly
            reason = str(errors[0]["msg"]).removeprefix("Invalid JSON: ")
            return reject(PARSE_ERROR, _TOO_DEEP if "recursion limit" in reason else "Parse error: " + bounded(reason))
        ours = [{**e, "loc": e["loc"][1:]} for e in errors if e["loc"][:1] == (_REQUEST_MODEL,)]
        return reject(INVALID_REQUEST, "Invalid Request: " + bounded(one_line(ours or errors)))
    return None


class _Writer(Protocol):
    """The send side of the SDK's stdio transport (its write stream)."""

    async def send(self, item: SessionMessage, /) -> None: ...
    async def aclose(self) -> None: ...


class _BoundedErrors:
    """The SDK's write stream, with every JSON-RPC error reply bounded (:func:`bounded`),
    whoever wrote it: some of the SDK's own quote the request (``Method not found``
    carries the method name in its ``data``, whatever its length)."""

    def __init__(self, inner: _Writer) -> None:
        self._inner = inner

    async def send(self, item: SessionMessage, /) -> None:
        message = item.message
        if isinstance(message, JSONRPCError):
            error = message.error
            update: dict[str, Any] = {"message": bounded(error.message)}
            if "data" in error.model_fields_set:
                update["data"] = _bounded_data(error.data)
            bounded_error = error.model_copy(update=update)
            item = SessionMessage(message.model_copy(update={"error": bounded_error}), metadata=item.metadata)
        await self._inner.send(item)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _BoundedErrors:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _bounded_data(data: Any, depth: int = 0) -> Any:
    """``data`` of an error reply with every string in it of at most VALUE_CHARS characters
    (the SDK's ``data`` is a string or a small mapping)."""
    if isinstance(data, str):
        return data if len(data) <= VALUE_CHARS else f"{data[:VALUE_CHARS]}… ({len(data)} characters)"
    if depth > 4:
        return None
    if isinstance(data, dict):
        return {key: _bounded_data(value, depth + 1) for key, value in data.items()}
    if isinstance(data, list):
        return [_bounded_data(value, depth + 1) for value in data]
    return data


class _CheckedLines(anyio.AsyncFile[str]):
    """The client's lines, read the way the SDK's stdio transport reads its ``stdin``
    (``async for``), minus the malformed ones: each of those is logged and answered here,
    through ``replies``, and never reaches the SDK."""

    def __init__(self, client: TextIO) -> None:
        super().__init__(client)
        self._replies: _BoundedErrors | None = None
        self._ready = anyio.Event()

    def answer_through(self, replies: _BoundedErrors) -> None:
        """Where replies go: the write stream, which exists once the transport is open."""
        self._replies = replies
        self._ready.set()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in super().__aiter__():
            rejection = check_line(line)
            if rejection is None:
                yield line
                continue
            if rejection.reply_to:
                log.warning("answered a malformed message (%d characters): %s", len(line), rejection.message)
            elif line.strip():
                log.warning("dropped a malformed notification or response (%d characters): %s", len(line), rejection.message)
            await self._ready.wait()
            assert self._replies is not None
            for reply in rejection.replies():
                try:
                    await self._replies.send(SessionMessage(reply))
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):  # the server is shutting down
                    return


@contextmanager
def _client_input() -> Iterator[TextIO]:
    """The client's side of stdin, read from a private duplicate of fd 0 while fd 0 points
    at the null device, as the SDK's transport arranges when it reads stdin itself: a tool
    or a native library that reads stdin sees EOF instead of eating protocol lines. The
    duplicate is never closed: a worker thread may still be blocked reading it when serving
    ends, and a closed descriptor could be reused under it."""
    wire = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        yield io.TextIOWrapper(os.fdopen(wire, "rb", closefd=False), encoding="utf-8", errors="replace")
    finally:
        os.dup2(wire, 0)


async def serve_stdio_async(server: MCPServer) -> None:
    """Serve ``server`` over stdin/stdout, each incoming line checked first (:func:`check_line`).

    This is ``MCPServer.run_stdio_async`` with our own ``stdin`` for the SDK's transport:
    it still claims stdout (fd 1 points at stderr while serving) and writes every message.
    """
    with _client_input() as client:
        lines = _CheckedLines(client)
        async with stdio_server(stdin=lines) as (read_stream, write_stream):
            replies = _BoundedErrors(write_stream)
            lines.answer_through(replies)
            # The low-level server has no public handle; run_stdio_async uses it just so.
            lowlevel = server._lowlevel_server
            await lowlevel.run(read_stream, replies, lowlevel.create_initialization_options())
