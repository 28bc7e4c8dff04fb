"""Answers over HTTP: one generates at a time (the local model is a single process-wide
resource, and queueing beats two generations thrashing two cores), each can be stopped
when its client goes away, and each is sent whole or as server-sent events.

Used by every route that answers (``/ask``, ``/summarize``, ``/chat`` and the
OpenAI-compatible ``/v1/chat/completions``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import HTTPException, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ..answer.assemble import AnswerStream, finish
from ..errors import EmbeddingError, InputError, LLMError, RagError, StoreError
from ..llm import Interruptible, Stopped
from ..models import Answer, Progress
from . import memory

log = logging.getLogger(__name__)


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

    def __init__(self, limit: int, llm: Interruptible | None = None) -> None:
        self.limit = limit
        self.admitted = 0
        self.count_lock = threading.Lock()
        self.model = threading.Lock()
        self.llm = llm

    def state(self) -> dict[str, int]:
        """Answers generating (0 or 1) and waiting, for /health."""
        running = int(self.model.locked())
        with self.count_lock:
            return {"running": running, "waiting": max(0, self.admitted - running)}

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
                    close_stream(stream)
                    return
            try:
                if self.llm is not None:
                    self.llm.stop = ticket.cancelled  # this answer's switch, while it has the model
                yield from stream
            except Stopped:
                return  # its client went away
            finally:
                self.model.release()
                memory.trim()  # what the answer freed goes back to the system
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

    def __next__(self) -> str | Answer | Progress:
        with self.step:
            return next(self.stream)

    def stop(self) -> None:
        """Ask the answer to end; returns at once (safe from the event loop). A step
        waiting for the model returns, a reply being written ends within a token."""
        self.ticket.cancelled.set()

    def close(self) -> None:
        self.stop()
        with self.step:
            close_stream(self.stream)
        self.queue.leave(self.ticket)  # also when the stream never started


def close_stream(stream: Iterator) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


async def whole(turn: Stoppable, final: Callable[[Answer], dict], request: Request) -> Any:
    """The answer as one JSON body, written in a worker thread while the event loop
    watches the connection: a client that gives up (a timeout, a closed tab) stops the
    answer within a token, as a streamed one does, instead of leaving the model busy
    for nobody. Starlette tells a non-streamed endpoint nothing of a disconnect unless
    asked, hence the polling (``Request.is_disconnected`` does not wait)."""
    gone = False

    async def watch() -> None:
        nonlocal gone
        while not await request.is_disconnected():
            await anyio.sleep(0.2)
        gone = True
        turn.stop()
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(turn.close)

    answer: Answer | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            answer = await run_in_threadpool(finish, turn)
        except RuntimeError:  # stopped: the stream ended without its answer
            if not gone:
                raise
        finally:
            tasks.cancel_scope.cancel()
    if gone or answer is None:  # nobody reads this; 499 is the usual "client closed the request" in logs
        return Response(status_code=499)
    return final(answer)


def sse(
    chunks: Iterator[str | Answer | Progress], final: Callable[[Answer], dict], first: dict | None = None, waiting: dict | None = None
) -> EventSourceResponse:
    """Server-sent events from a stream of text pieces ending with the Answer."""

    def render(chunk: str | Answer | Progress) -> list[dict]:
        if isinstance(chunk, Answer):
            return [{"event": "answer", "data": json.dumps(final(chunk), ensure_ascii=False)}]
        if isinstance(chunk, Progress):
            return [{"event": "progress", "data": chunk.model_dump_json()}]
        return [{"event": "text", "data": json.dumps({"text": chunk}, ensure_ascii=False)}]

    def failed(exc: RagError) -> list[dict]:
        return [{"event": "error", "data": json.dumps({"error": str(exc), "status": status_for(exc)})}]

    before = [{"event": "session", "data": json.dumps(first)}] if first else []
    if waiting:  # how many answers are ahead: the wait is not a hang
        before.append({"event": "queue", "data": json.dumps(waiting)})
    return event_stream(chunks, render, failed, before)


def event_stream(
    chunks: Iterator[str | Answer | Progress],
    render: Callable[[str | Answer | Progress], list[dict]],
    failed: Callable[[RagError], list[dict]],
    before: Sequence[dict] = (),
    after: Sequence[dict] = (),
) -> EventSourceResponse:
    """Server-sent events, each item of an answer stream rendered as ``render`` says (an
    error after the status line is sent is reported in-band by ``failed``); the answer
    stops as soon as its client goes away."""

    async def events():
        for event in before:
            yield event
        try:
            async for chunk in iterate_in_threadpool(chunks):
                for event in render(chunk):
                    yield event
        except RagError as exc:  # the status line is already sent: report in-band
            for event in failed(exc):
                yield event
            return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:  # a client that went away: stop the answer (and free the model)
                with anyio.CancelScope(shield=True):  # the disconnect cancelled us; closing must still run
                    await run_in_threadpool(close)
        for event in after:
            yield event

    async def gone(message: Any) -> None:
        # Called the moment the client disconnects. The events above cannot react until
        # the worker thread they await returns, which may be the whole reply later.
        stop = getattr(chunks, "stop", None)
        if stop is not None:
            stop()

    return EventSourceResponse(events(), ping=15, client_close_handler_callable=gone)
