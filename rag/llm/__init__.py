"""LLM backends behind one protocol: ``complete(messages, max_tokens) -> Completion``.

A :class:`Completion` is a stream, as simonw/llm's ``Response`` is: iterate it to
get the text as the model writes it; once the iteration has ended (or after
``finish()``) it holds the whole text, the token counts and the timings. Nothing
runs in a background thread: the backends' client libraries stream by iteration,
so the caller's loop drives the model, and closing the stream early stops it.

Two real backends share one code path: the embedded model (llama.cpp in-process
via xllamacpp, reached through its loopback OpenAI-compatible API) and any
OpenAI-compatible endpoint. The chosen backend is recorded on every answer and
nothing ever falls back from one backend to another.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple, Protocol, runtime_checkable

Message = dict[str, str]


class Usage(NamedTuple):
    """Token counts a backend reports at the end of its stream."""

    prompt_tokens: int
    completion_tokens: int


class Completion:
    """One model call. Iterate to stream its text pieces; read the fields after.

    ``chunks`` is what a backend yields: text pieces, and optionally a final
    :class:`Usage`. Reading :attr:`text` (or calling :meth:`finish`) runs the rest
    of the stream first, so ``llm.complete(messages).text`` is the whole reply.
    """

    def __init__(self, chunks: Iterable[str | Usage]) -> None:
        self._chunks = iter(chunks)
        self._parts: list[str] = []
        self._done = False
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.first_token_s: float | None = None  # seconds from the first read to the first text
        self.total_s = 0.0

    def __iter__(self) -> Iterator[str]:
        if self._done:
            yield from self._parts
            return
        started = time.perf_counter()
        for chunk in self._chunks:
            if isinstance(chunk, Usage):
                self.prompt_tokens, self.completion_tokens = chunk
                continue
            if not chunk:
                continue
            if self.first_token_s is None:
                self.first_token_s = time.perf_counter() - started
            self._parts.append(chunk)
            yield chunk
        self.total_s = time.perf_counter() - started
        self._done = True

    def finish(self) -> Completion:
        """Run the stream to its end (a no-op once it has ended)."""
        for _ in self:
            pass
        return self

    def close(self) -> None:
        """Stop the model: the backend's stream is closed and generation ends."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    @property
    def text(self) -> str:
        self.finish()
        return "".join(self._parts)


@runtime_checkable
class LLM(Protocol):
    @property
    def backend(self) -> str:
        """"embedded", "openai" or "fake": the backend, as recorded on answers."""
        ...

    @property
    def model(self) -> str:
        """The model's name as the backend knows it."""
        ...

    @property
    def context_window(self) -> int:
        """Tokens the model can attend to (prompt + completion)."""
        ...

    def complete(self, messages: list[Message], *, max_tokens: int = 256, stop: list[str] | None = None) -> Completion:
        """Start a reply to ``messages``; the model runs as the result is iterated."""
        ...


class Stopped(Exception):
    """A reply was stopped on purpose (nobody is waiting for it); not a failure."""


class Interruptible:
    """``llm`` with a stop switch: once :attr:`stop` is set, the reply being written ends
    within one token (its backend stream is closed, so the model stops) by raising
    :class:`Stopped`, and so does every later reply until a new event is put in place.

    The HTTP server keeps one around its model: it gives each answer its own event when
    the answer gets the model, and sets it when the answer's client goes away. Closing
    the answer's generator cannot do that while a worker thread is inside it, and one
    step of an answer (one verified sentence) can take the whole reply."""

    def __init__(self, load: Callable[[], LLM]) -> None:
        self._load = load  # the model is loaded by its first use, not by wrapping it
        self.stop = threading.Event()

    @functools.cached_property
    def llm(self) -> LLM:
        return self._load()

    @property
    def backend(self) -> str:
        return self.llm.backend

    @property
    def model(self) -> str:
        return self.llm.model

    @property
    def context_window(self) -> int:
        return self.llm.context_window

    def complete(self, messages: list[Message], *, max_tokens: int = 256, stop: list[str] | None = None) -> Completion:
        event = self.stop

        def chunks() -> Iterator[str | Usage]:
            if event.is_set():
                raise Stopped
            inner = self.llm.complete(messages, max_tokens=max_tokens, stop=stop)
            try:
                for piece in inner:
                    if event.is_set():
                        raise Stopped
                    yield piece
            finally:
                inner.close()
            yield Usage(inner.prompt_tokens, inner.completion_tokens)

        return Completion(chunks())
