"""An OpenAI-compatible chat endpoint, so the ``openai`` SDK and chat front-ends that
speak its API (Open WebUI, LibreChat, ...) can use the assistant as a "model".

``POST /v1/embeddings`` embeds texts with the server's embedding model (so one machine
can embed for others: another ``rag`` points ``RAG_EMBED_BASE_URL`` here).

``POST /v1/chat/completions`` answers the last user message as ``/chat`` does: the
verified, cited answer, with its references appended in Markdown and the structured
citations in an extra ``citations`` field (on the message and at the top level;
on the last chunk when streaming). ``GET /v1/models`` lists the one model.

Such clients are stateless: every request carries the whole conversation. The server
keeps each conversation it answered (bounded and expiring like the ``/chat``
sessions) under a hash of the history that the client will send back with its next
question, so a follow-up continues the same :class:`~rag.answer.chat.Conversation`
(follow-up rewriting, a paper keeps its [n]). A history the server does not hold (a
restart, an edited message) is rebuilt from its text, so follow-ups are still
rewritten, but numbering starts afresh. System messages are not used: the answer's
rules are the assistant's own.

Sampling parameters (``temperature``, ``max_tokens``, ...) are accepted and ignored:
answers are verified extracts, not samples. Errors on these routes have OpenAI's
shape, ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..answer.assemble import AnswerStream
from ..answer.chat import Conversation, Turn
from ..embeddings import Embedder
from ..errors import InputError, RagError
from ..export import markdown
from ..models import Answer, Progress
from .answers import Stoppable, event_stream, status_for, whole
from .sessions import Histories

log = logging.getLogger(__name__)

MODEL_ID = "rag-abstracts"
PREFIX = "/v1/"
MAX_MESSAGES = 200
MAX_EMBED_INPUTS = 2048  # texts per /v1/embeddings request (OpenAI's own limit); the body limit bounds their size
#: Where the Markdown a reply appends begins; cut off when a history is compared.
_APPENDIX = ("\n\n**References**", "\n\nClosest papers")


# --- the error shape ------------------------------------------------------------------------


def is_openai(path: str) -> bool:
    return path.startswith(PREFIX)


def error_body(message: str, status: int, param: str | None = None, code: str | None = None) -> dict:
    """OpenAI's error object for ``message`` (the same one line the other routes send)."""
    kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(status)
    kind = kind or ("invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class NotFound(HTTPException):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(404, message)
        self.code = code


# --- the request --------------------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, ...: not used
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; the fields this server does not use (sampling,
    tools, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    n: int | None = None
    stream_options: StreamOptions | None = None


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request; ``encoding_format``, ``dimensions``, ``user`` are accepted, not used."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=200)
    input: str | list[str] = Field(description="A text or a list of texts.")


def text_of(message: Message, index: int) -> str:
    """A message's text: a string, or its text parts joined (anything else is refused)."""
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    texts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise InputError(f"messages[{index}].content", f"only text parts are supported, got {part.type[:40]!r}")
        texts.append(part.text)
    return "\n".join(texts)


def as_turns(req: ChatCompletionRequest) -> tuple[list[tuple[str, str]], str]:
    """The user/assistant history before the question, and the question (the last
    message, which must be the user's)."""
    if req.n not in (None, 1):
        raise InputError("n", f"only one choice is generated, got {req.n}")
    if req.model != MODEL_ID:
        raise NotFound(f"model: {req.model[:80]!r} does not exist; this server offers {MODEL_ID!r}", "model_not_found")
    last = req.messages[-1]
    if last.role != "user":
        raise InputError(f"messages[{len(req.messages) - 1}].role", f"the last message must be the user's question, got {last.role!r}")
    history: list[tuple[str, str]] = [(m.role, text_of(m, i)) for i, m in enumerate(req.messages[:-1]) if m.role in ("user", "assistant")]
    return history, text_of(last, len(req.messages) - 1)


def answer_part(reply: str) -> str:
    """An assistant message without the references this server appended to it."""
    for marker in _APPENDIX:
        reply = reply.split(marker, 1)[0]
    return " ".join(reply.split())


def history_key(history: Sequence[tuple[str, str]]) -> str:
    normalized = [[role, answer_part(text) if role == "assistant" else " ".join(text.split())] for role, text in history]
    return hashlib.sha256(json.dumps(normalized, ensure_ascii=False).encode()).hexdigest()


def reply_text(answer: Answer) -> str:
    """The answer as the chat shows it: its text, then its references in Markdown (on a
    decline, the closest papers to look at)."""
    text = markdown(answer).rstrip("\n")
    if answer.abstained and answer.closest:
        names = "\n".join(f"- {p.name or p.title or '(untitled)'}" + (f" ({p.year})" if p.year else "") for p in answer.closest)
        text += f"\n\nClosest papers (they do not answer it):\n\n{names}"
    return text


def usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


# --- the routes ---------------------------------------------------------------------------


def router(
    new_conversation: Callable[[], Conversation],
    admit: Callable[[AnswerStream], Stoppable],
    histories: Histories,
    embedder: Callable[[], Embedder],
) -> APIRouter:
    """The ``/v1`` routes. ``admit`` puts an answer stream in the server's model queue;
    ``embedder`` gives the serving embedding model (built on first use)."""
    api = APIRouter(prefix="/v1", tags=["openai-compatible"])
    started = int(time.time())

    @api.post("/embeddings")
    async def embeddings(req: EmbeddingRequest) -> dict:
        """Vectors from the server's embedding model, in input order."""
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts:
            raise InputError("input", "no text to embed")
        if len(texts) > MAX_EMBED_INPUTS:
            raise InputError("input", f"{len(texts)} texts, over the {MAX_EMBED_INPUTS} a request may hold")
        model = embedder()
        vectors = await run_in_threadpool(model.embed, texts)
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": model.model_id,
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    @api.get("/models")
    def models() -> dict:
        """The one model: the assistant."""
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": started, "owned_by": "rag-abstracts"}]}

    @api.get("/models/{model}")
    def model(model: str) -> dict:
        if model != MODEL_ID:
            raise NotFound(f"model: {model[:80]!r} does not exist; this server offers {MODEL_ID!r}", "model_not_found")
        return {"id": MODEL_ID, "object": "model", "created": started, "owned_by": "rag-abstracts"}

    @api.post("/chat/completions")
    async def completions(req: ChatCompletionRequest, request: Request):
        """A cited answer to the last user message, as an OpenAI chat completion."""
        history, question = as_turns(req)
        key = history_key(history)
        conv = histories.take(key) or rebuilt(new_conversation(), history)
        try:
            stream = conv.ask_stream(question)  # checks the question before anything is sent
            turn = admit(stream)  # 503 when the queue is full
        except Exception:
            histories.keep(key, conv)  # the client's retry finds its conversation again
            raise
        ident, created = f"chatcmpl-{secrets.token_urlsafe(18)}", int(time.time())

        def keep(answer: Answer) -> str:
            reply = reply_text(answer)
            histories.keep(history_key([*history, ("user", question), ("assistant", reply)]), conv)
            return reply

        def final(answer: Answer) -> dict:
            citations = [c.model_dump() for c in answer.citations]
            message = {"role": "assistant", "content": keep(answer), "citations": citations}
            return {
                "id": ident, "object": "chat.completion", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
                "usage": usage(answer), "citations": citations,
            }

        if not req.stream:
            return await whole(turn, final, request)
        return streamed(turn, ident, created, keep, include_usage=bool(req.stream_options and req.stream_options.include_usage))

    return api


def rebuilt(conv: Conversation, history: Sequence[tuple[str, str]]) -> Conversation:
    """A conversation the server does not hold, from its text: each user message and the
    reply after it become a turn (no citations: numbering starts afresh)."""
    for (role, text), (next_role, reply) in zip(history, history[1:]):
        if role == "user" and next_role == "assistant":
            conv.turns.append(Turn(question=text, standalone=text, answer=Answer(question=text, text=answer_part(reply))))
    if conv.turns:
        log.info("rebuilt a conversation of %d turns from its history", len(conv.turns))
    return conv


def streamed(turn: Stoppable, ident: str, created: int, keep: Callable[[Answer], str], include_usage: bool):
    """OpenAI's chunks: the role, the verified sentences as they come, then a last chunk
    with what the reply appends (references) and the citations, then ``[DONE]``."""
    sent: list[str] = []
    held = [""]  # trailing spaces of the last piece: sent with the next one, so the reply ends as the whole one does

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> dict:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return {"data": json.dumps(body, ensure_ascii=False)}

    def render(item: str | Answer | Progress) -> list[dict]:
        if isinstance(item, Progress):
            return []
        if isinstance(item, str):
            text = held[0] + item
            piece = text.rstrip()
            held[0] = text[len(piece):]
            sent.append(piece)
            return [chunk({"content": piece})] if piece else []
        reply, so_far = keep(item), "".join(sent)
        rest = reply[len(so_far):] if reply.startswith(so_far) else "\n\n" + reply
        citations = [c.model_dump() for c in item.citations]
        events = [chunk({"content": rest, "citations": citations}, "stop", citations=citations)]
        if include_usage:
            events.append({"data": json.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                                               "model": MODEL_ID, "choices": [], "usage": usage(item)})})
        return events

    def failed(exc: RagError) -> list[dict]:
        return [{"data": json.dumps(error_body(str(exc), status_for(exc)))}]

    return event_stream(turn, render, failed, before=[chunk({"role": "assistant", "content": ""})], after=[{"data": "[DONE]"}])
