from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.evals import questions
from rag.testing import EchoLLM, HashingEmbedder

from ..conftest import CORPUS


@pytest.fixture(scope="module")
def fake_assistant(tmp_path_factory) -> Assistant:
    """The bundled corpus with hashing embeddings and the echo model: the whole
    answering pipeline, in seconds, with nothing real but Chroma."""
    data = tmp_path_factory.mktemp("eval-store")
    settings = Settings(_env_file=None, data_dir=data, embed_backend="hashing", llm_backend="fake")
    a = Assistant(settings, embedder=HashingEmbedder(), llm=EchoLLM())
    a.ingest([CORPUS])
    return a


@pytest.fixture
def one_of_each_kind(tmp_path) -> Path:
    """A small question file: the first two dev questions of every kind."""
    picked: dict[str, list] = {}
    for q in questions.load(split="dev"):
        if len(picked.setdefault(q.kind, [])) < 2:
            picked[q.kind].append(q)
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q.model_dump()) + "\n" for qs in picked.values() for q in qs))
    return path
