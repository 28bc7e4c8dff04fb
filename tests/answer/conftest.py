from __future__ import annotations

import re

import pytest

from rag import Assistant
from rag.testing import FakeLLM, HashingEmbedder

from ..conftest import make_settings

TINYBERT = "TinyBERT is empirically effective and achieves comparable results with BERT in GLUE datasets, while being 7.5x smaller and 9.4x faster on inference."


def make_assistant(tmp_path, corpus, llm, **overrides) -> Assistant:
    settings = make_settings(tmp_path, **{"llm_backend": "fake", "abstain_threshold": 0.05, "extractive_threshold": 1.01, **overrides})
    a = Assistant(settings, embedder=HashingEmbedder(), llm=llm)
    a.ingest([corpus])
    return a


@pytest.fixture
def build(tmp_path, corpus_copy):
    def _build(llm: FakeLLM, **overrides) -> Assistant:
        return make_assistant(tmp_path, corpus_copy, llm, **overrides)

    return _build


MARKER = re.compile(r"\[(\d+)\]")


def assert_well_cited(answer) -> None:
    """Every sentence carries a marker and every marker is one of the answer's citations."""
    numbers = {c.n for c in answer.citations}
    used = {int(n) for n in MARKER.findall(answer.text)}
    assert used and used == numbers, (answer.text, numbers)
    for sentence in re.split(r"(?<=[.!?])\s+", answer.text.strip()):
        assert MARKER.search(sentence), sentence
