"""Backend selection: a missing piece is a clear error, never a fallback."""

from __future__ import annotations

import pytest

from rag import Assistant
from rag.errors import ConfigError
from rag.llm.factory import make_llm
from rag.settings import Settings


def settings(tmp_path, **kw):
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
        llm.complete([{"role": "user", "content": "hi"}], max_tokens=4)


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
