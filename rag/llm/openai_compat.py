"""Chat completions over the OpenAI API, with streaming and token usage."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ..errors import LLMError
from . import Completion, Message, Usage

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

    def complete(self, messages: list[Message], *, max_tokens: int = 256, stop: list[str] | None = None) -> Completion:
        return Completion(self._stream(messages, max_tokens, stop))

    def _stream(self, messages: list[Message], max_tokens: int, stop: list[str] | None) -> Iterator[str | Usage]:
        """The SDK's stream, piece by piece; closing this generator closes the HTTP
        response, which ends the generation on the server."""
        try:
            stream = self._client.chat.completions.create(  # type: ignore[call-overload]  # messages: plain role/content dicts
                model=self.model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=self.temperature,
                seed=self.seed,
                stop=stop,
                stream=True,
                stream_options={"include_usage": True},
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        yield Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                    if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        except Exception as exc:  # the SDK raises many types; one clear message
            at = f" at {self.base_url}" if self.backend == "openai" and self.base_url else ""
            where = f"{self.backend} LLM ({self.model}{at})"
            raise LLMError(f"{where} failed: {exc}") from exc
