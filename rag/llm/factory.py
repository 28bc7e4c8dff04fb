"""Settings -> LLM. The one place a backend is chosen; it never falls back to another."""

from __future__ import annotations

from ..errors import ConfigError
from ..settings import Settings
from . import LLM


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
