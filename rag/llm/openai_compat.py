"""Chat completions over the OpenAI API, with streaming and token usage."""

from __future__ import annotations

import logging
import time

from ..errors import LLMError
from . import Completion, Message, OnToken

log = logging.getLogger(__name__)


class OpenAIChatLLM:
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        backend: str,
        context_window: int,
        temperature: float = 0.0,
        timeout_s: float = 120.0,
        seed: int | None = 0,
    ) -> None:
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=1)
        self.model = model
        self.backend = backend
        self.context_window = context_window
        self.temperature = temperature
        self.seed = seed
        self.base_url = base_url

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        on_token: OnToken | None = None,
        stop: list[str] | None = None,
    ) -> Completion:
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        usage = None
        finish = None
        try:
            stream = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=self.temperature,
                seed=self.seed,
                stop=stop,
                stream=True,
                stream_options={"include_usage": True},
            )
            for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                piece = choice.delta.content if choice.delta else None
                if piece:
                    if first is None:
                        first = time.perf_counter() - started
                    parts.append(piece)
                    if on_token:
                        on_token(piece)
        except Exception as exc:  # the SDK raises many types; one clear message
            where = f"{self.backend} LLM ({self.model}" + (f" at {self.base_url}" if self.backend == "openai" and self.base_url else "") + ")"
            raise LLMError(f"{where} failed: {exc}") from exc
        text = "".join(parts)
        return Completion(
            text=text,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            first_token_s=first,
            total_s=time.perf_counter() - started,
            finish_reason=finish,
        )
