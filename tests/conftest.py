"""Shared fixtures. Every test gets its own data directory under tmp_path; nothing
is written to the working tree. The fast tests use the hashing embedder; tests
marked ``slow`` use the real local model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.testing import HashingEmbedder

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "corpus"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One assembled-model cache for the whole run (the user's own cache is never written)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path, model_cache):
    """No stray RAG_* or OpenAI settings from the developer's shell or .env leak in."""
    import os

    for key in list(os.environ):
        if key.startswith("RAG_") or key.startswith("OPENAI_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(model_cache))
    monkeypatch.chdir(tmp_path)  # a .env in the repo must not be read by tests


def make_settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", embed_backend="hashing", **overrides)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def assistant(settings) -> Assistant:
    return Assistant(settings, embedder=HashingEmbedder())


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A private copy of the bundled corpus that a test may edit."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def real_assistant(tmp_path_factory, model_cache) -> Assistant:
    """The real default pipeline (local ONNX model) over the bundled corpus, built once."""
    data = tmp_path_factory.mktemp("real")
    a = Assistant(Settings(_env_file=None, data_dir=data, model_cache_dir=model_cache))
    a.ingest([CORPUS])
    return a
