"""LLM backends behind one protocol: ``complete(messages, max_tokens, on_token) -> Completion``.

Two real backends share one code path: the embedded model (llama.cpp in-process
via xllamacpp, reached through its loopback OpenAI-compatible API) and any
OpenAI-compatible endpoint. The chosen backend is recorded on every answer and
nothing ever falls back from one backend to another.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from pydantic import BaseModel

Message = dict[str, str]
OnToken = Callable[[str], None]


class Completion(BaseModel):
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    finish_reason: str | None = None


@runtime_checkable
class LLM(Protocol):
    #: "embedded", "openai" or "fake": the backend, as recorded on answers.
    backend: str
    #: The model's name as the backend knows it.
    model: str
    #: Tokens the model can attend to (prompt + completion).
    context_window: int

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        on_token: OnToken | None = None,
        stop: list[str] | None = None,
    ) -> Completion: ...
