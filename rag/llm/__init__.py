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

import time
from collections.abc import Iterable, Iterator
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
    #: "embedded", "openai" or "fake": the backend, as recorded on answers.
    backend: str
    #: The model's name as the backend knows it.
    model: str
    #: Tokens the model can attend to (prompt + completion).
    context_window: int

    def complete(self, messages: list[Message], *, max_tokens: int = 256, stop: list[str] | None = None) -> Completion:
        """Start a reply to ``messages``; the model runs as the result is iterated."""
        ...
