"""HTTP routes: happy paths, validation, auth, body limit, SSE, OpenAPI."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rag import Assistant
from rag.errors import InputError
from rag.server import create_app

from .conftest import LOOPBACK, client_for

QUESTION = "How much smaller and faster than BERT is TinyBERT at inference?"


def events(response) -> list[tuple[str, dict]]:
    out = []
    for block in re.split(r"\r?\n\r?\n", response.text):
        name = re.search(r"^event: ?(.*)$", block, re.M)
        data = re.findall(r"^data: ?(.*)$", block, re.M)
        if name and data:
            out.append((name.group(1).strip(), json.loads("\n".join(data))))
    return out


def test_health_info_and_openapi(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "ready"  # the served assistant was given its model
    info = client.get("/info").json()
    assert info["documents"] == 307 and info["llm_backend"] == "fake"
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/health", "/info", "/search", "/ask", "/summarize", "/chat", "/export", "/documents/{doc_id}",
        "/v1/models", "/v1/models/{model}", "/v1/chat/completions", "/v1/embeddings",
    }
    ask = spec["paths"]["/ask"]["post"]
    assert "text/event-stream" in ask["responses"]["200"]["content"]
    assert {"Answer", "Citation", "AskRequest", "ChatResponse", "ErrorBody"} <= set(spec["components"]["schemas"])
    citation = spec["components"]["schemas"]["Citation"]["properties"]
    assert {"n", "doc_id", "title", "year", "quote"} <= set(citation)


def test_search_with_filters(client):
    dated = {"year_min": 2019, "include_undated": False}
    hits = client.post("/search", json={"query": "word sense disambiguation", "k": 3, "filters": dated}).json()
    assert len(hits) == 3 and all(h["year"] >= 2019 for h in hits)
    kept = client.post("/search", json={"query": "word sense disambiguation", "k": 5, "filters": {"year_min": 2019}}).json()
    assert any(h["year"] is None for h in kept) and all(h["year"] is None or h["year"] >= 2019 for h in kept)
    doc = client.get(f"/documents/{hits[0]['doc_id']}").json()
    assert doc["doc_id"] == hits[0]["doc_id"] and doc["abstract"]


def test_ask_returns_the_same_structured_citations_as_the_python_api(client, served):
    body = client.post("/ask", json={"question": QUESTION}).json()
    direct = served.ask(QUESTION)
    assert body["text"] == direct.text and not body["abstained"]
    assert [c["doc_id"] for c in body["citations"]] == [c.doc_id for c in direct.citations]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", body["text"])} == {c["n"] for c in body["citations"]}
    assert all(c["quote"] and c["title"] is not None for c in body["citations"])


def test_ask_streams_server_sent_events(client):
    with client.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        response.read()
    got = events(response)
    texts = [d["text"] for e, d in got if e == "text"]
    (final,) = [d for e, d in got if e == "answer"]
    assert texts and "".join(texts).strip() == final["text"].strip()
    assert final["citations"] and got[-1][0] == "answer"


def test_health_says_loading_until_the_model_is_built(served):
    lazy = Assistant(served.settings, embedder=served.embedder)  # the model is built by the first answer
    client = TestClient(create_app(lazy), base_url=LOOPBACK)
    assert client.get("/health").json()["model"] == "loading"
    assert not lazy.llm_loaded  # asking did not load it


def test_a_stream_says_what_it_is_doing_before_its_text(client):
    with client.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as response:
        response.read()
    got = events(response)
    steps = [d for e, d in got if e == "progress"]
    assert [s["step"] for s in steps] == ["searching", "reading", "writing", "checking"]
    first_text = next(i for i, (e, _) in enumerate(got) if e == "text")
    reading = next(i for i, (e, d) in enumerate(got) if e == "progress" and d["step"] == "reading")
    assert reading < first_text
    paper = got[reading][1]["papers"][0]
    assert set(paper) == {"doc_id", "title", "name", "year", "source", "authors", "n"} and paper["name"]
    assert set(steps[0]) == {"step", "message", "papers"} and steps[0]["message"]


def test_chat_session_keeps_numbers_and_bibliography(client):
    first = client.post("/chat", json={"question": "What is TinyBERT?"}).json()
    sid = first["session_id"]
    assert first["references"] and first["answer"]["citations"]
    second = client.post("/chat", json={"question": "How much faster is it?", "session_id": sid}).json()
    assert second["session_id"] == sid
    numbers = [r["n"] for r in second["references"]]
    assert numbers == sorted(numbers) and numbers[0] == 1
    assert first["references"][0] == second["references"][0]  # [1] stays the same paper
    unknown = client.post("/chat", json={"question": "x?", "session_id": "nope"})
    assert unknown.status_code == 400 and "unknown or expired session" in unknown.json()["error"]


def test_chat_stream_announces_the_session_first(client):
    with client.stream("POST", "/chat", json={"question": "What is TinyBERT?"}, headers={"Accept": "text/event-stream"}) as r:
        r.read()
    got = events(r)
    assert got[0][0] == "session" and got[-1][0] == "answer"
    assert got[-1][1]["session_id"] == got[0][1]["session_id"] and got[-1][1]["references"]


def test_summarize(client):
    body = client.post("/summarize", json={"topic": "speculative decoding", "k": 4}).json()
    assert body["citations"] and "[1]" in body["text"]


def test_validation_errors_name_the_field(client):
    cases = [
        ("/ask", {"question": ""}, "question"),
        ("/ask", {"question": "x" * 5000}, "question"),
        ("/search", {"query": "bert", "k": 0}, "k"),
        ("/search", {"query": "bert", "k": 500}, "k"),
        ("/search", {"query": "bert", "filters": {"year_min": "soon"}}, "filters.year_min"),
        ("/search", {"query": "bert", "mode": "magic"}, "mode"),
        ("/ask", {"questio": "typo"}, "question"),
    ]
    for path, body, field in cases:
        r = client.post(path, json=body)
        assert r.status_code == 422, (path, body)
        assert r.json()["error"].startswith(field + ":"), r.json()
    r = client.post("/search", json={"query": "bert", "filters": {"year_min": 2024, "year_max": 2020}})
    assert r.status_code == 422 and r.json()["error"].startswith("filters: year_min (2024) is after year_max")
    r = client.post("/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("request body: not valid JSON")
    missing = client.get("/documents/does-not-exist")
    assert missing.status_code == 404 and "does-not-exist" in missing.json()["error"]


def test_body_size_limit(served):
    client = client_for(served, max_request_bytes=2048)
    r = client.post("/ask", json={"question": "x" * 3000})
    assert r.status_code == 413 and "RAG_MAX_REQUEST_BYTES" in r.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 512

    r = client.post("/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_api_key_guards_every_route_but_health(served):
    client = client_for(served, api_key=SecretStr("s3cret"))
    assert client.get("/health").status_code == 200
    for method, path in (("get", "/info"), ("get", "/openapi.json"), ("get", "/"), ("get", "/static/chat.js")):
        r = getattr(client, method)(path)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
    r = client.post("/search", json={"query": "bert"})
    assert r.status_code == 401 and "API key" in r.json()["error"]
    assert client.post("/search", json={"query": "bert"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/search", json={"query": "bert"}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/info", headers={"X-API-Key": "s3cret"}).status_code == 200
    # the chat page: its login form POSTs the key once, then the cookie authorises the page's API calls
    login = client.post("/login", data={"key": "s3cret"}, follow_redirects=False)
    assert login.status_code == 303 and "rag_api_key" in login.headers["set-cookie"]
    assert client.get("/info").status_code == 200  # TestClient keeps the cookie


def test_without_a_key_everything_is_open(client):
    assert client.get("/info").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "Ask the abstracts" in page.text
    assert client.get("/static/chat.js").status_code == 200


def test_info_names_the_configured_model_without_loading_it(served, monkeypatch):
    import rag.llm.factory

    monkeypatch.setattr(rag.llm.factory, "make_llm", lambda s: (_ for _ in ()).throw(AssertionError("model loaded")))
    a = Assistant(served.settings.model_copy(update={"llm_backend": "embedded"}), embedder=served.embedder)
    body = TestClient(create_app(a), base_url=LOOPBACK).get("/info").json()
    assert (body["llm_backend"], body["llm_model"], body["llm_endpoint"]) == ("embedded", "qwen2.5-coder-0.5b-instruct-q4", "in-process")
    assert body["documents"] > 0


def test_sessions_expire_when_idle_and_stay_bounded():
    from rag.server.sessions import Sessions

    now = [0.0]
    made = []
    sessions = Sessions(lambda: made.append(object()) or made[-1], max_sessions=2, ttl_s=10, timer=lambda: now[0])
    a, conv_a = sessions.get(None)
    now[0] = 8
    assert sessions.get(a)[1] is conv_a  # used at 8: idle clock restarts
    now[0] = 16
    assert sessions.get(a)[1] is conv_a
    b, _ = sessions.get(None)
    c, _ = sessions.get(None)  # third session: the least recently used (a) goes
    with pytest.raises(InputError, match="unknown or expired"):
        sessions.get(a)
    now[0] = 40
    with pytest.raises(InputError, match="unknown or expired"):
        sessions.get(b)  # idle for 24 s
    assert len(sessions) == 0 and c


def test_export_downloads_bibtex_or_ris_and_names_an_unknown_id(client):
    doc_id = client.post("/search", json={"query": "language models", "k": 1}).json()[0]["doc_id"]
    r = client.post("/export", json={"doc_ids": [doc_id], "format": "bibtex"})
    assert r.status_code == 200 and r.text.startswith("@article{")
    assert r.headers["content-type"].startswith("application/x-bibtex")
    assert r.headers["content-disposition"] == 'attachment; filename="references.bib"'
    r = client.post("/export", json={"doc_ids": [doc_id], "format": "ris"})
    assert r.status_code == 200 and r.text.startswith("TY  - JOUR")
    r = client.post("/export", json={"doc_ids": [doc_id, "x" * 5000]})
    assert r.status_code == 422 and "\n" not in r.json()["error"] and len(r.json()["error"]) < 200
    r = client.post("/export", json={"doc_ids": ["nope"]})
    assert r.status_code in (400, 404, 422) and r.json()["error"] == "doc_ids: no stored document 'nope'"
