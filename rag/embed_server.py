"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` server (OpenAI itself, Text
Embeddings Inference, vLLM, Infinity, llama.cpp's server, or another ``rag serve``),
through the official ``openai`` SDK.

Batches of ``batch_size`` texts go out ``concurrency`` at a time (the SDK client is
thread-safe) and come back in order. Transient failures — a refused or dropped
connection, a timeout, 408/409/429 and 5xx, honouring Retry-After — are retried by the
SDK's own retry (``max_retries``, exponential backoff with jitter); other 4xx are not.
What comes back is checked (one vector per text, one dimension, finite numbers), and
every failure is one :class:`~rag.errors.EmbeddingError` line naming the server, the
model and the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from .errors import ConfigError, EmbeddingError

log = logging.getLogger(__name__)

#: Sent when a local server needs no key (the SDK requires one).
NO_KEY = "not-needed"


class ServerEmbedder:
    """The ``Embedder`` protocol over an OpenAI-compatible embeddings endpoint."""

    def __init__(
        self,
        model: str,
        api_key: str | None,
        base_url: str | None,
        batch_size: int = 32,
        concurrency: int = 4,
        retries: int = 3,
        timeout_s: float = 60.0,
    ) -> None:
        if not api_key and not base_url:
            raise ConfigError(
                "embedding backend 'openai' needs OPENAI_API_KEY (or RAG_OPENAI_API_KEY), or RAG_EMBED_BASE_URL for a "
                "local embeddings server; or use RAG_EMBED_BACKEND=minilm-onnx for the local model"
            )
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key or NO_KEY, base_url=base_url, max_retries=retries, timeout=timeout_s)
        self._model = model
        self._batch_size = batch_size
        self._concurrency = concurrency
        self.where = f"embeddings server {str(self._client.base_url).rstrip('/')} (model {model})"
        self.model_id = f"openai:{model}"  # the model names the vectors, wherever it runs
        self.dim = 0  # known after the first call

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        batches = [list(texts[i : i + self._batch_size]) for i in range(0, len(texts), self._batch_size)]
        if len(batches) == 1 or self._concurrency == 1:
            results = [self._request(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=min(self._concurrency, len(batches)), thread_name_prefix="embed") as pool:
                results = list(pool.map(self._request, batches))  # in order; the first failure is raised
        vectors = [v for batch in results for v in batch]
        dims = {len(v) for v in vectors}
        if len(dims) != 1:
            raise EmbeddingError(f"{self.where}: vectors of different lengths {sorted(dims)[:4]}")
        (dim,) = dims
        if self.dim and dim != self.dim:
            raise EmbeddingError(f"{self.where}: vectors of {dim} dimensions, earlier ones had {self.dim}")
        self.dim = dim
        return vectors

    def _request(self, batch: list[str]) -> list[list[float]]:
        import openai

        try:
            resp = self._client.embeddings.create(model=self._model, input=batch)
        except openai.APIConnectionError as exc:
            kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "cannot connect"
            raise EmbeddingError(f"{self.where}: {kind} ({_cause(exc)}); is it running?") from exc
        except openai.APIStatusError as exc:
            raise EmbeddingError(f"{self.where}: HTTP {exc.status_code} ({_message(exc)})") from exc
        except openai.OpenAIError as exc:  # a response the SDK could not read
            raise EmbeddingError(f"{self.where}: {' '.join(str(exc).split())[:200]}") from exc
        data = sorted(resp.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise EmbeddingError(f"{self.where}: {len(data)} vectors for {len(batch)} texts")
        vectors = [list(item.embedding) for item in data]
        if any(not math.isfinite(x) for v in vectors for x in v):
            raise EmbeddingError(f"{self.where}: a vector holds NaN or infinity")
        return vectors


def _cause(exc: BaseException) -> str:
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return " ".join(str(root).split())[:160] or type(root).__name__


def _message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        text = error.get("message") if isinstance(error, dict) else error
        if isinstance(text, str):
            return " ".join(text.split())[:200]
    return " ".join(str(exc).split())[:200]
