"""The MCP server as an agent sees it: the SDK's own client talking to
``python -m rag.mcp_server`` in a real subprocess over stdio.

The store is ingested here first, once (hashing embedder); the subprocess gets the same
data dir and embed backend through RAG_* env vars, so it opens the same collection,
and answers with the fake (evidence-echoing) LLM.
"""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client

from rag import Assistant

from .conftest import CORPUS, make_settings

pytestmark = pytest.mark.anyio

TOOLS = {"search", "ask", "summarize", "get_document", "export"}


@pytest.fixture(scope="module")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Ingested once for the module; the server only reads it. No RAG_* variable of the
    developer's shell may shape this index: the server process does not inherit them."""
    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith("RAG_")]:
            env.delenv(key)
        settings = make_settings(tmp_path_factory.mktemp("mcp"))
        report = Assistant(settings).ingest([CORPUS])
    assert report.added > 0
    return settings.data_dir


@pytest.fixture(scope="module")
async def session(data_dir, anyio_backend):
    """One server process for the module (it takes seconds to import and warm up)."""
    async with connect(data_dir, cwd=data_dir.parent) as session:
        yield session


@asynccontextmanager
async def connect(data_dir: Path, cwd: Path):
    env = {
        "RAG_DATA_DIR": str(data_dir),
        "RAG_EMBED_BACKEND": "hashing",  # as ingested, so the same collection
        "RAG_LLM_BACKEND": "fake",
        # the hashing embedder has no semantics: let the echo model answer (as test_cli does)
        "RAG_ABSTAIN_THRESHOLD": "0.05",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag.mcp_server"], env=env, cwd=cwd)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=60) as session:
            await session.initialize()
            yield session


def _error_text(result) -> str:
    assert result.is_error, result
    return " ".join(block.text for block in result.content)


async def test_tools_are_listed_with_schemas(session):
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == TOOLS
    assert tools["search"].input_schema["required"] == ["query"]
    assert {"query", "k", "year_min", "year_max"} <= set(tools["search"].input_schema["properties"])
    assert tools["ask"].input_schema["required"] == ["question"]
    assert tools["get_document"].input_schema["required"] == ["doc_id"]
    assert "citations" in tools["ask"].output_schema["properties"]
    assert "[n]" in tools["ask"].description or "[1]" in tools["ask"].description
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())


async def test_search_ask_and_documents(session):
    found = await session.call_tool("search", {"query": "knowledge distillation of BERT", "k": 3})
    assert not found.is_error
    hits = found.structured_content["hits"]
    assert 1 <= len(hits) <= 3
    assert {"doc_id", "title", "year", "score", "text"} <= set(hits[0])
    assert hits[0]["doc_id"] in found.content[0].text  # readable text for models too

    answered = await session.call_tool("ask", {"question": "What is TinyBERT?"})
    assert not answered.is_error
    answer = answered.structured_content
    assert not answer["abstained"]
    assert "[1]" in answer["text"] and answer["citations"]
    assert answer["citations"][0]["n"] == 1
    assert answer["backend"] == "fake"
    for citation in answer["citations"]:
        doc = await session.call_tool("get_document", {"doc_id": citation["doc_id"]})
        assert not doc.is_error
        assert doc.structured_content["doc_id"] == citation["doc_id"]
        assert citation["quote"] and citation["quote"][:40] in doc.structured_content["abstract"]
    assert "TinyBERT" in " ".join(c["title"] for c in answer["citations"]) + answer["text"]

    assert {"name", "authors", "doi", "arxiv_id", "url", "venue"} <= set(answer["citations"][0])
    ids = [c["doc_id"] for c in answer["citations"]]
    exported = await session.call_tool("export", {"doc_ids": ids, "format": "bibtex"})
    assert not exported.is_error and exported.structured_content["text"].count("@article{") == len(ids)
    assert exported.content[0].text == exported.structured_content["text"]
    ris = await session.call_tool("export", {"doc_ids": ids[:1], "format": "ris"})
    assert ris.structured_content["text"].startswith("TY  - JOUR")
    missing = await session.call_tool("export", {"doc_ids": ["0000000000000000"]})
    assert "no stored document '0000000000000000'" in _error_text(missing)

    summary = await session.call_tool("summarize", {"topic": "compressing BERT models", "k": 4})
    assert not summary.is_error
    assert set(summary.structured_content) >= {"text", "abstained", "citations", "backend", "model"}


async def test_errors_are_tool_errors_and_the_session_survives(session):
    unknown = await session.call_tool("get_document", {"doc_id": "0000000000000000"})
    assert "0000000000000000" in _error_text(unknown) and "no such document" in _error_text(unknown)

    empty = await session.call_tool("ask", {"question": "   "})
    assert "empty question" in _error_text(empty)

    bad_k = await session.call_tool("search", {"query": "BERT", "k": 0})
    assert "k: must be between 1 and 200" in _error_text(bad_k)

    bad_years = await session.call_tool("search", {"query": "BERT", "year_min": 2020, "year_max": 2010})
    assert "year_min (2020) is after year_max (2010)" in _error_text(bad_years)

    # still serving after the errors
    ok = await session.call_tool("search", {"query": "BERT", "k": 1})
    assert not ok.is_error and len(ok.structured_content["hits"]) == 1


async def test_bad_arguments_are_invalid_params_and_nothing_long_is_echoed(session):
    """Arguments that do not fit the schema, and unknown tools: JSON-RPC -32602 with one
    ``field: reason`` line (not pydantic's four). A huge argument is never sent back whole.
    (test_mcp_protocol.py sends the malformed messages an SDK client cannot.)"""
    with pytest.raises(MCPError) as bad_type:
        await session.call_tool("search", {"query": "BERT", "k": "three"})
    assert bad_type.value.code == -32602
    assert bad_type.value.message == "k: Input should be a valid integer, unable to parse string as an integer"

    with pytest.raises(MCPError) as missing:
        await session.call_tool("ask", {})
    assert (missing.value.code, missing.value.message) == (-32602, "question: Field required")

    with pytest.raises(MCPError) as unknown:
        await session.call_tool("serach", {"query": "BERT"})
    assert unknown.value.code == -32602
    assert unknown.value.message == "unknown tool 'serach'; the tools are ask, export, get_document, search, summarize"

    huge = await session.call_tool("get_document", {"doc_id": "f" * (1 << 20)})
    text = _error_text(huge)
    assert "(1048576 characters): no such document" in text and len(text) < 300

    # still serving after the errors
    hit = (await session.call_tool("search", {"query": "BERT", "k": 1})).structured_content["hits"][0]
    assert not (await session.call_tool("get_document", {"doc_id": hit["doc_id"]})).is_error
