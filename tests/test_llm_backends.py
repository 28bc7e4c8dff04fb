"""Backend selection: a missing piece is a clear error, never a fallback."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from rag import Assistant
from rag.errors import ConfigError
from rag.integrity import stamp_matches
from rag.llm import Completion
from rag.llm.factory import make_llm
from rag.settings import Settings


def settings(tmp_path, **kw):
    kw.setdefault("model_cache_dir", tmp_path / "model-cache")  # never the real user cache
    return Settings(_env_file=None, data_dir=tmp_path, **kw)


def test_openai_backend_without_a_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_llm(settings(tmp_path, llm_backend="openai"))


def test_openai_backend_with_a_key_records_its_endpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    llm = make_llm(Settings(_env_file=None, data_dir=tmp_path, llm_backend="openai", openai_model="my-model"))
    assert (llm.backend, llm.model, llm.base_url) == ("openai", "my-model", "http://127.0.0.1:9/v1")


def test_unreachable_endpoint_fails_loudly(tmp_path, monkeypatch):
    from rag.errors import LLMError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    llm = make_llm(Settings(_env_file=None, data_dir=tmp_path, llm_backend="openai", openai_base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(LLMError, match="127.0.0.1:9"):
        llm.complete([{"role": "user", "content": "hi"}], max_tokens=4).finish()


def test_unknown_embedded_model_and_bad_model_path(tmp_path):
    with pytest.raises(ConfigError, match="unknown embedded model"):
        make_llm(settings(tmp_path, llm_model="gpt-17"))
    with pytest.raises(ConfigError, match="no such file"):
        make_llm(settings(tmp_path, llm_model_path=tmp_path / "missing.gguf"))
    (tmp_path / "fake.gguf").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a GGUF"):
        make_llm(settings(tmp_path, llm_model_path=tmp_path / "fake.gguf"))


def test_info_reports_the_backend(tmp_path):
    a = Assistant(settings(tmp_path, llm_backend="fake", embed_backend="hashing"))
    info = a.info()
    assert (info["llm_backend"], info["llm_model"]) == ("fake", "echo-evidence")


# --- the shared, per-user cache of assembled packaged models -------------------------

from rag.llm import embedded  # noqa: E402

PART_BYTES = [b"GGUF" + bytes(range(256)) * 40, b"middle part " * 500, b"tail"]


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A tiny packaged model whose parts are small files; records every time the parts are looked up."""
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    paths = []
    for i, data in enumerate(PART_BYTES):
        paths.append(parts_dir / f"part{i}")
        paths[-1].write_bytes(data)
    whole = b"".join(PART_BYTES)
    model = embedded.PackagedModel(
        name="tiny-test-model", parts=("tiny_part0", "tiny_part1", "tiny_part2"), pip="tiny-test-model-parts",
        sha256=hashlib.sha256(whole).hexdigest(), size=len(whole),
    )
    lookups = []

    def part_paths(m):
        lookups.append(m.name)
        return list(paths)

    monkeypatch.setattr(embedded, "_part_paths", part_paths)
    monkeypatch.setitem(embedded.MODELS, model.name, model)
    return model, paths, lookups


def cache_listing(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_packaged_model_is_assembled_once_into_the_cache_by_sha256(tmp_path, fake_model):
    model, _, lookups = fake_model
    cache = tmp_path / "cache"
    path = embedded.assemble(model, cache)
    assert path == cache / f"{model.sha256}.gguf"
    assert path.read_bytes() == b"".join(PART_BYTES)
    assert cache_listing(cache) == [f"{model.sha256}.gguf", f"{model.sha256}.verified.json"]
    assert lookups == [model.name]
    if os.name == "posix":  # readable by others, like any installed package file
        assert path.stat().st_mode & 0o777 == 0o644


def test_other_data_dirs_reuse_the_cached_file_without_reading_the_parts(tmp_path, fake_model, monkeypatch):
    model, parts, lookups = fake_model
    cache = tmp_path / "cache"
    started = []
    monkeypatch.setattr(embedded, "start_server", lambda path, n_ctx, threads, *spec: started.append(path) or ("http://127.0.0.1:9/v1", "k"))
    monkeypatch.setattr(embedded, "sha256_file", lambda path: pytest.fail(f"{path} hashed again"), raising=True)

    first = make_llm(settings(tmp_path / "one", llm_model=model.name, model_cache_dir=cache))
    cached = cache / f"{model.sha256}.gguf"
    mtime = cached.stat().st_mtime_ns
    for part in parts:
        part.unlink()  # a second use must not need the parts at all
    second = make_llm(settings(tmp_path / "two", llm_model=model.name, model_cache_dir=cache))

    assert started == [cached, cached]
    assert (first.model, second.model) == (model.name, model.name)
    assert lookups == [model.name]  # parts looked up for the first assembly only
    assert cached.stat().st_mtime_ns == mtime
    assert not (tmp_path / "one" / "models").exists() and not (tmp_path / "two" / "models").exists()
    assert cache_listing(cache) == [f"{model.sha256}.gguf", f"{model.sha256}.verified.json"]


def test_a_cached_file_that_no_longer_matches_its_stamp_is_assembled_again(tmp_path, fake_model):
    model, _, lookups = fake_model
    cache = tmp_path / "cache"
    path = embedded.assemble(model, cache)
    st = path.stat()
    path.write_bytes(b"GGUF" + b"\0" * (st.st_size - 4))  # same size, wrong bytes
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # stamp no longer matches

    assert embedded.assemble(model, cache) == path
    assert path.read_bytes() == b"".join(PART_BYTES)
    assert lookups == [model.name, model.name]
    assert cache_listing(cache) == [f"{model.sha256}.gguf", f"{model.sha256}.verified.json"]
    # ...and the fresh stamp is trusted again
    assert embedded.assemble(model, cache) == path
    assert lookups == [model.name, model.name]


def test_a_good_file_with_a_stale_stamp_is_verified_not_reassembled(tmp_path, fake_model):
    model, _, lookups = fake_model
    cache = tmp_path / "cache"
    path = embedded.assemble(model, cache)
    (cache / f"{model.sha256}.verified.json").write_text("{not json")
    assert embedded.assemble(model, cache) == path
    assert lookups == [model.name]  # hashed in place, parts untouched
    assert stamp_matches(path, cache / f"{model.sha256}.verified.json", model.sha256)


def test_wrong_digest_is_a_config_error_and_leaves_no_temp_files(tmp_path, fake_model):
    model, _, _ = fake_model
    bad = embedded.PackagedModel(name=model.name, parts=model.parts, pip=model.pip, sha256="0" * 64, size=model.size)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"tiny-test-model.*SHA-256.*reinstall the parts \(tiny-test-model-parts\)") as err:
        embedded.assemble(bad, cache)
    assert "\n" not in str(err.value)
    assert cache_listing(cache) == []


def test_concurrent_first_use_ends_with_one_valid_file_and_no_leftovers(tmp_path, fake_model, monkeypatch):
    model, paths, _ = fake_model
    cache = tmp_path / "cache"
    racers = 4
    barrier = threading.Barrier(racers, timeout=10)

    def part_paths(m):  # every racer has missed the cache before any of them writes
        barrier.wait()
        return list(paths)

    monkeypatch.setattr(embedded, "_part_paths", part_paths)
    results, errors = [], []

    def run():
        try:
            results.append(embedded.assemble(model, cache))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert not errors
    target = cache / f"{model.sha256}.gguf"
    assert results == [target] * racers
    assert hashlib.sha256(target.read_bytes()).hexdigest() == model.sha256
    assert cache_listing(cache) == [f"{model.sha256}.gguf", f"{model.sha256}.verified.json"]
    assert stamp_matches(target, cache / f"{model.sha256}.verified.json", model.sha256)


def test_model_cache_dir_defaults_to_the_user_cache(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("RAG_MODEL_CACHE_DIR")  # the suite points it at a temporary cache
    assert Settings(_env_file=None).model_cache_dir == Path(platformdirs.user_cache_dir("rag")) / "models"
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert Settings(_env_file=None).model_cache_dir == tmp_path / "elsewhere"


def _assemble_in_child(model, cache, queue):
    try:
        queue.put(str(embedded.assemble(model, cache)))
    except BaseException as exc:  # pragma: no cover - reported by the parent
        queue.put(f"error: {exc!r}")


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork")
def test_two_processes_assembling_at_once_both_get_a_valid_file(tmp_path, fake_model, monkeypatch):
    import multiprocessing

    model, paths, _ = fake_model
    cache = tmp_path / "cache"
    ctx = multiprocessing.get_context("fork")  # children inherit the fake parts
    barrier = ctx.Barrier(2, timeout=10)

    def part_paths(m):
        barrier.wait()
        return list(paths)

    monkeypatch.setattr(embedded, "_part_paths", part_paths)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_assemble_in_child, args=(model, cache, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)

    target = cache / f"{model.sha256}.gguf"
    assert got == [str(target)] * 2
    assert [p.exitcode for p in procs] == [0, 0]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == model.sha256
    assert cache_listing(cache) == [f"{model.sha256}.gguf", f"{model.sha256}.verified.json"]


# --- speculative decoding (RAG_LLM_SPECULATIVE): settings -> llama.cpp parameters, no model loaded ---


def test_speculative_setting_reaches_the_llama_cpp_parameters(tmp_path):
    xlc = pytest.importorskip("xllamacpp")
    kind = xlc.common_speculative_type
    off = embedded.server_params(tmp_path / "m.gguf", 4096, 2)
    assert list(off.speculative.types) == [kind.COMMON_SPECULATIVE_TYPE_NONE]

    ngram = embedded.server_params(tmp_path / "m.gguf", 4096, 2, "ngram")
    assert list(ngram.speculative.types) == [kind.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    assert (ngram.speculative.ngram_simple.size_n, ngram.speculative.ngram_simple.size_m) == (embedded.NGRAM_N, embedded.NGRAM_M)
    assert ngram.speculative.draft.mparams.path == ""

    draft = embedded.server_params(tmp_path / "big.gguf", 4096, 3, "draft", tmp_path / "small.gguf")
    assert list(draft.speculative.types) == [kind.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    assert draft.model.path == str(tmp_path / "big.gguf")
    assert draft.speculative.draft.mparams.path == str(tmp_path / "small.gguf")
    assert draft.speculative.draft.cpuparams.n_threads == 3
    with pytest.raises(ConfigError, match="draft model"):
        embedded.server_params(tmp_path / "big.gguf", 4096, 2, "draft")


def test_an_unknown_speculative_mode_is_rejected(tmp_path, monkeypatch):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="llm_speculative"):
        settings(tmp_path, llm_speculative="eagle")
    monkeypatch.setenv("RAG_LLM_SPECULATIVE", "on")
    with pytest.raises(ValidationError, match="llm_speculative"):
        Settings(_env_file=None)
    with pytest.raises(ConfigError, match="RAG_LLM_SPECULATIVE"):
        Assistant(data_dir=tmp_path)


def test_speculative_mode_and_draft_model_reach_the_server(tmp_path, fake_model, monkeypatch):
    model, _, _ = fake_model
    started = []
    monkeypatch.setattr(embedded, "start_server", lambda *args: started.append(args) or ("http://127.0.0.1:9/v1", "k"))
    monkeypatch.setattr(embedded, "DRAFT_MODEL", model.name)  # the tiny packaged model drafts
    big = tmp_path / "big.gguf"
    big.write_bytes(b"GGUF" + b"\0" * 64)

    make_llm(settings(tmp_path, llm_model_path=big, llm_speculative="ngram"))
    make_llm(settings(tmp_path, llm_model_path=big, llm_speculative="draft"))
    drafter = tmp_path / "model-cache" / f"{model.sha256}.gguf"
    assert started == [(big, 4096, 2, "ngram", None), (big, 4096, 2, "draft", drafter)]
    with pytest.raises(ConfigError, match="larger model"):  # a model cannot usefully draft for itself
        make_llm(settings(tmp_path, llm_model=model.name, llm_speculative="draft"))


def test_an_interruptible_reply_stops_within_a_token_and_closes_the_backend_stream():
    from rag.llm import Interruptible, Stopped

    closed = []

    class Counting:
        backend, model, context_window = "fake", "counting", 4096

        def complete(self, messages, *, max_tokens=256, stop=None):
            def chunks():
                try:
                    for i in range(100):
                        yield f"{i} "
                finally:
                    closed.append(True)

            return Completion(chunks())

    loads = []
    llm = Interruptible(lambda: loads.append(1) or Counting())
    assert loads == []  # wrapping loads nothing
    assert llm.complete([]).text.split()[-1] == "99" and llm.backend == "fake"
    reply = llm.complete([])
    seen = []
    with pytest.raises(Stopped):
        for piece in reply:
            seen.append(piece)
            if len(seen) == 3:
                llm.stop.set()  # the client went away
    assert len(seen) == 3 and closed == [True, True]
    with pytest.raises(Stopped):  # and so does every later reply, until a new switch
        llm.complete([]).finish()
