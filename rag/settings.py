"""All configuration in one place.

Every field can be set from the environment or a ``.env`` file with the ``RAG_`` prefix
(``RAG_DATA_DIR``, ``RAG_CHUNK_SIZE``...); ``.env.example`` mirrors this file. The
OpenAI key and base URL also accept the SDK's own names (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``) so existing setups work unchanged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Bumped whenever parsing or chunking changes what lands in the store, so that an
#: old index is never reused with records it would not produce any more.
INDEX_FORMAT_VERSION = 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- where things live -------------------------------------------------------
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("rag")),
        description="Directory holding the Chroma store and the lexical (BM25) index.",
    )
    model_cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("rag")) / "models",
        description="Per-user cache where the packaged LLM is assembled and the int8 embedding model built, once, "
        "shared by every data dir.",
    )
    corpus_paths: list[Path] = Field(
        default_factory=lambda: [Path("data/corpus")],
        description="What `make run` / `rag ingest` with no argument ingests.",
    )

    # --- store ---------------------------------------------------------------------
    store: Literal["embedded", "server"] = Field(
        "embedded",
        description="Chroma mode: 'embedded' (PersistentClient in data_dir) or 'server' (HttpClient to a Chroma "
        "server at chroma_host:chroma_port; the lexical (BM25) index still lives in data_dir).",
    )
    chroma_host: str = Field("127.0.0.1", description="Chroma server host (store=server).")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port (store=server).")
    chroma_ssl: bool = Field(False, description="Use HTTPS to reach the Chroma server (store=server).")
    chroma_auth_token: SecretStr | None = Field(
        None, description="Bearer token for a Chroma server with token auth (store=server); unset = no auth header."
    )
    collection_prefix: str = Field(
        "abstracts", description="Collection names are '<prefix>-<hash of index settings>'."
    )

    # --- embeddings ----------------------------------------------------------------
    embed_backend: Literal["minilm-onnx", "openai", "hashing"] = Field(
        "minilm-onnx",
        description="'minilm-onnx' (local, default), 'openai' (needs a key), "
        "'hashing' (tiny deterministic embedder for tests; no semantics).",
    )
    embed_model: str = Field(
        "text-embedding-3-small", description="Model name for the 'openai' embedding backend."
    )
    embed_batch_size: int = Field(
        32, ge=1, le=2048, description="Texts per request to a remote embeddings server (the local model sets its own)."
    )
    embed_base_url: str | None = Field(
        None,
        description="An OpenAI-compatible embeddings server for the 'openai' backend (Text Embeddings Inference, vLLM, "
        "Infinity, llama.cpp, another `rag serve`), e.g. http://gpu:8081/v1; needs no key. Else RAG_OPENAI_BASE_URL.",
    )
    embed_concurrency: int = Field(4, ge=1, le=64, description="Requests in flight at once to an embeddings server.")
    embed_retries: int = Field(3, ge=0, le=10, description="Retries of a failed request to an embeddings server (backoff, Retry-After).")
    embed_timeout_s: float = Field(60.0, gt=0, le=3600, description="Seconds an embeddings server may take per request.")
    embed_threads: int = Field(2, ge=1, description="CPU threads for the local embedding model.")
    embed_max_tokens: int = Field(
        256, ge=16, le=512, description="Word pieces the local model reads per chunk (it truncates past this)."
    )
    embed_compute: Literal["int8", "fp32"] = Field(
        "int8",
        description="How the local model computes: int8 (its weights re-quantized per channel for integer products, "
        "built once into the model cache and checked against fp32: mean cosine >= 0.99) or fp32 (the shipped graph).",
    )

    # --- chunking ------------------------------------------------------------------
    chunk_size: int = Field(320, ge=32, description="Chunk size in tiktoken (cl100k_base) tokens.")
    chunk_overlap: int = Field(48, ge=0, description="Tokens shared by consecutive chunks.")

    # --- ingestion -----------------------------------------------------------------
    near_duplicate_threshold: float = Field(
        0.7, gt=0, le=1, description="Word-shingle (5-gram) Jaccard at or above which two abstracts are one paper."
    )
    max_record_chars: int = Field(
        100_000, ge=1000, description="A line or record longer than this is rejected, not ingested."
    )
    max_file_mb: float = Field(
        512, gt=0, description="Files larger than this are rejected unread (JSON Lines files are streamed: no limit)."
    )
    ingest_part_docs: int = Field(
        20_000,
        ge=1,
        description="Papers read, deduplicated and written together, which bounds ingest memory. Near-duplicates are "
        "found within a part; exact copies and shared DOI/arXiv ids across the whole run.",
    )

    # --- search --------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=200, description="Results returned by search when k is not given.")
    candidates: int = Field(40, ge=1, description="Candidates each retriever contributes before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant (higher flattens ranks).")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in fusion.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in fusion.")

    # --- language model --------------------------------------------------------------
    llm_backend: Literal["embedded", "openai", "fake"] = Field(
        "embedded",
        description="'embedded' (local GGUF model in-process, default), 'openai' (any OpenAI-compatible "
        "endpoint), 'fake' (echoes the best-matching evidence sentence; for tests and the eval's CI gate).",
    )
    llm_model: str = Field(
        "qwen2.5-coder-0.5b-instruct-q4", description="Packaged GGUF model the embedded backend runs."
    )
    llm_model_path: Path | None = Field(None, description="Any GGUF file to run instead of the packaged model.")
    llm_model_sha256: str | None = Field(None, description="Expected SHA-256 of RAG_LLM_MODEL_PATH (checked if set).")
    llm_context_window: int = Field(4096, ge=512, description="Context window (prompt + answer tokens) of the LLM.")
    llm_threads: int = Field(2, ge=1, description="CPU threads for the embedded model.")
    llm_speculative: Literal["off", "ngram", "draft"] = Field(
        "off",
        description="Speculative decoding of the embedded model: 'off', 'ngram' (prompt lookup: drafts copied from "
        "the prompt's evidence), 'draft' (the packaged 0.5B model drafts for a larger RAG_LLM_MODEL). The model checks "
        "every draft, but its batched checks can break near-ties differently, so a few answers change "
        "(benchmarks/speculative.py measures speed and changes).",
    )
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (0 = deterministic).")
    openai_model: str = Field("gpt-4o-mini", description="Model name at the OpenAI-compatible endpoint.")

    # --- answering -------------------------------------------------------------------
    answer_max_tokens: int = Field(160, ge=16, description="Most tokens the model may write for one answer.")
    evidence_docs: int = Field(4, ge=1, le=20, description="Top documents that evidence sentences are drawn from.")
    evidence_sentences: int = Field(6, ge=1, le=40, description="Evidence sentences sent to the model.")
    support_threshold: float = Field(
        0.5, ge=0, le=1, description="Least support score a sentence needs to keep its citation."
    )
    abstain_threshold: float = Field(
        0.45, ge=0, le=1, description="Below this question-evidence relevance the assistant declines without asking the model."
    )
    extractive_threshold: float = Field(
        0.45, ge=0, le=1.01,
        description="At or above this relevance, an answer whose sentences all failed verification is replaced "
        "by the best evidence sentence (quoted, cited) instead of a refusal; above 1 disables it.",
    )
    several_margin: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Questions about several papers ('which papers...', 'compare'): the best evidence sentence of each "
        "other paper whose relevance is within this margin of the best is added to the answer, verified and cited.",
    )
    complement_answers: bool = Field(
        True,
        description="Add the evidence sentence closest to the question (quoted, cited) to an answer that leaves out "
        "terms of the question that sentence covers.",
    )
    summary_docs: int = Field(8, ge=2, le=30, description="Papers a literature summary covers.")

    # --- OpenAI-compatible endpoint ------------------------------------------------
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("RAG_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="Key for the OpenAI-compatible endpoint (only used when a backend asks for it).",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("RAG_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server...).",
    )

    # --- serving (rag serve / rag mcp) -------------------------------------------------
    serve_host: str = Field("127.0.0.1", description="Address `rag serve` binds to (loopback by default).")
    serve_port: int = Field(8080, ge=1, le=65535, description="Port `rag serve` listens on.")
    api_key: SecretStr | None = Field(
        None, description="When set, every HTTP route except /health requires it (header 'Authorization: Bearer <key>' or 'X-API-Key')."
    )
    max_queued_answers: int = Field(
        8, ge=0, description="HTTP answers (ask, chat, summarize) that may wait for the model; more get 503 with Retry-After."
    )
    max_request_bytes: int = Field(65536, ge=1024, description="Largest HTTP request body accepted (bytes); larger gets 413.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the HTTP server answers to besides loopback (127.0.0.1, localhost, ::1) and RAG_SERVE_HOST, "
        "comma-separated (a DNS-rebinding guard: any other Host header gets 400); '*.example.com' matches its subdomains, "
        "'*' any host (turns the check off).",
    )

    # --- misc ----------------------------------------------------------------------
    log_level: str = Field("WARNING", description="Logging level for the 'rag' loggers.")

    # --- checks beyond a field's type ------------------------------------------------
    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        """``a.example, b.example`` from the environment (a JSON list also works)."""
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        """Bare host names or IP addresses, as the Host header check compares them."""
        out = []
        for raw in hosts:
            host = raw.strip().lower()
            if not host:
                continue
            if host != "*" and ("*" in host[1:] or (host.startswith("*") and not host.startswith("*."))):
                raise ValueError(f"{raw!r}: a wildcard is '*' alone or leads a domain, like '*.example.com'")
            if any(c in host for c in "/@ \t"):
                raise ValueError(f"{raw!r}: give a host name only (no scheme, user or path)")
            if ":" in host and not _ipv6(host.removeprefix("[").removesuffix("]")):
                raise ValueError(f"{raw!r}: give a host name without a port")
            out.append(host)
        return out

    def index_fingerprint(self) -> dict[str, object]:
        """The settings that decide what the vectors mean; any change means a new index."""
        model = self.embed_model if self.embed_backend == "openai" else self.embed_backend
        return {
            "format": INDEX_FORMAT_VERSION,
            "embed_backend": self.embed_backend,
            "embed_model": model,
            "embed_max_tokens": self.embed_max_tokens if self.embed_backend == "minilm-onnx" else None,
            **({"embed_compute": self.embed_compute} if self.embed_backend == "minilm-onnx" and self.embed_compute != "fp32" else {}),
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
            "tokenizer": "cl100k_base",
        }

    @property
    def collection_name(self) -> str:
        blob = json.dumps(self.index_fingerprint(), sort_keys=True).encode()
        return f"{self.collection_prefix}-{hashlib.sha256(blob).hexdigest()[:12]}"


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
