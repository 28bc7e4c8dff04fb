"""Each input rule is defined once (rag.inputs) and reads the same from the Python API
and over HTTP; the MCP tools pass through the Python API (tests/test_mcp.py)."""

from __future__ import annotations

import pytest

from rag import Assistant
from rag.errors import InputError
from rag.inputs import ASK_K, MAX_TEXT_CHARS, SEARCH_K, SUMMARY_K, AskInput, SearchInput, SummarizeInput
from rag.testing import EchoLLM, HashingEmbedder

from .conftest import make_settings
from .server.conftest import client_for


@pytest.fixture
def assistant(tmp_path) -> Assistant:
    """Nothing stored: every check here happens before retrieval."""
    return Assistant(make_settings(tmp_path, llm_backend="fake"), embedder=HashingEmbedder(), llm=EchoLLM())

BAD = [
    ("search", {"query": "   "}, "query: empty query"),
    ("search", {"query": "bert", "k": SEARCH_K.high + 1}, f"k: must be between 1 and {SEARCH_K.high}, got {SEARCH_K.high + 1}"),
    ("search", {"query": "bert", "mode": "magic"}, "mode: Input should be 'hybrid', 'bm25' or 'dense'"),
    ("ask", {"question": ""}, "question: empty question"),
    ("ask", {"question": "x" * (MAX_TEXT_CHARS + 1)}, f"question: {MAX_TEXT_CHARS + 1} characters, over the {MAX_TEXT_CHARS} limit"),
    ("ask", {"question": "bert?", "k": ASK_K.high + 1}, f"k: must be between 1 and {ASK_K.high}, got {ASK_K.high + 1}"),
    ("ask", {"question": "bert?", "filters": {"year_min": 2024, "year_max": 2020}}, "filters: year_min (2024) is after year_max (2020)"),
    ("summarize", {"topic": "bert", "k": 1}, f"k: must be between {SUMMARY_K.low} and {SUMMARY_K.high}, got 1"),
]


@pytest.mark.parametrize(("operation", "values", "message"), BAD)
def test_one_rule_one_message_in_the_python_api_and_over_http(assistant, operation, values, message):
    with pytest.raises(InputError) as raised:
        getattr(assistant, operation)(**values)
    assert str(raised.value) == message
    r = client_for(assistant).post(f"/{operation}", json=values)
    assert r.status_code == 422 and r.json()["error"] == message


def test_the_input_models_publish_the_same_bounds():
    for model, rule in ((SearchInput, SEARCH_K), (AskInput, ASK_K), (SummarizeInput, SUMMARY_K)):
        k = model.model_json_schema()["properties"]["k"]["anyOf"][0]
        assert (k["minimum"], k["maximum"]) == (rule.low, rule.high)
    assert AskInput.parse(question="What is TinyBERT?", filters={"year_min": 2020}).filters.year_min == 2020


def test_a_stream_checks_its_input_before_it_is_iterated(assistant):
    with pytest.raises(InputError, match="question: empty question"):
        assistant.ask_stream(" ")  # at the call, not at the first next()
    with pytest.raises(InputError, match="question: empty question"):
        assistant.conversation().ask_stream("")
