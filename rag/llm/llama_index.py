"""Present any of our LLMs as a llama-index LLM, so llama-index query engines can run
on the embedded model (used by the baseline benchmark; handy for users too)."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms.custom import CustomLLM
from pydantic import PrivateAttr

from . import LLM, Completion


class LlamaIndexLLM(CustomLLM):
    _llm: Any = PrivateAttr()
    _max_tokens: int = PrivateAttr()
    last: Completion | None = None

    def __init__(self, llm: LLM, max_tokens: int = 256, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._llm = llm
        self._max_tokens = max_tokens

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self._llm.context_window, num_output=self._max_tokens, model_name=self._llm.model, is_chat_model=False
        )

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.last = self._llm.complete([{"role": "user", "content": prompt}], max_tokens=self._max_tokens).finish()
        return CompletionResponse(text=self.last.text)

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        self.last = self._llm.complete([{"role": "user", "content": prompt}], max_tokens=self._max_tokens)
        text = ""
        for piece in self.last:
            text += piece
            yield CompletionResponse(text=text, delta=piece)
