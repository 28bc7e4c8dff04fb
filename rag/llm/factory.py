"""Settings -> LLM. The one place a backend is chosen; it never falls back to another."""

from __future__ import annotations

from typing import NamedTuple

from ..errors import ConfigError
from ..settings import Settings
from . import LLM


class Described(NamedTuple):
    backend: str
    model: str
    endpoint: str | None


def describe(settings: Settings) -> Described:
    """The backend, model and endpoint ``make_llm`` would use, named from settings
    alone (for ``rag info`` and ``GET /info``: describing a model must not load it)."""
    backend = settings.llm_backend
    if backend == "embedded":
        model = settings.llm_model_path.stem if settings.llm_model_path else settings.llm_model
        return Described(backend, model, "in-process")
    if backend == "openai":
        return Described(backend, settings.openai_model, settings.openai_base_url)
    if backend == "fake":
        from ..testing import EchoLLM

        return Described(backend, EchoLLM.model, None)
    raise ConfigError(f"RAG_LLM_BACKEND: unknown backend {backend!r} (embedded, openai, fake)")


def make_llm(settings: Settings) -> LLM:
    backend = settings.llm_backend
    if backend == "embedded":
        from .embedded import embedded_llm

        return embedded_llm(settings)
    if backend == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key:
            raise ConfigError(
                "RAG_LLM_BACKEND=openai needs OPENAI_API_KEY (or RAG_OPENAI_API_KEY); "
                "set it, or use RAG_LLM_BACKEND=embedded for the local model (no key needed)"
            )
        from .openai_compat import OpenAIChatLLM

        return OpenAIChatLLM(
            api_key=key,
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            backend="openai",
            context_window=settings.llm_context_window,
            temperature=settings.llm_temperature,
        )
    if backend == "fake":
        from ..testing import EchoLLM

        return EchoLLM(context_window=settings.llm_context_window)
    raise ConfigError(f"RAG_LLM_BACKEND: unknown backend {backend!r} (embedded, openai, fake)")
