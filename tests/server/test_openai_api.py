"""The OpenAI-compatible endpoint, driven by the official ``openai`` SDK against a real
uvicorn server on loopback (echo model, bundled corpus, an API key set)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import openai
import pytest
import uvicorn
from pydantic import SecretStr

from rag import Assistant
from rag.server import create_app
from rag.server.openai_api import MODEL_ID, answer_part, history_key

KEY = "test-key-123"


@pytest.fixture(scope="module")
def url(served) -> Iterator[str]:
    settings = served.settings.model_copy(update={"api_key": SecretStr(KEY), "max_request_bytes": 200_000})
    app = create_app(Assistant(settings, embedder=served.embedder, llm=served.llm))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def client(url) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=60)


def ask(client: openai.OpenAI, *messages: dict, **extra):
    return client.chat.completions.create(model=MODEL_ID, messages=list(messages), **extra)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_models_lists_the_assistant(client):
    assert [m.id for m in client.models.list()] == [MODEL_ID]
    assert client.models.retrieve(MODEL_ID).id == MODEL_ID


def test_an_answer_with_references_and_structured_citations(client):
    resp = ask(client, {"role": "system", "content": "You are helpful."}, user("What is TinyBERT?"))
    message = resp.choices[0].message
    assert resp.object == "chat.completion" and resp.model == MODEL_ID and resp.choices[0].finish_reason == "stop"
    assert "[1]" in message.content and "\n\n**References**\n\n- [1] " in message.content
    citations = message.model_extra["citations"]
    assert citations[0]["n"] == 1 and citations[0]["quote"] and citations == resp.model_extra["citations"]
    assert "TinyBERT" in message.content
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_streamed_chunks_add_up_to_the_same_reply(client):
    whole = ask(client, user("How much faster is TinyBERT than BERT?")).choices[0].message.content
    chunks = list(ask(client, user("How much faster is TinyBERT than BERT?"), stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    last = [c for c in chunks if c.choices][-1]
    assert last.choices[0].finish_reason == "stop" and last.model_extra["citations"][0]["n"] == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0  # include_usage: a usage chunk at the end


def test_a_follow_up_continues_the_conversation_and_its_numbering(client):
    first_q = "What is TinyBERT?"
    first = ask(client, user(first_q)).choices[0].message
    tinybert = first.model_extra["citations"][0]["doc_id"]
    history = [user(first_q), {"role": "assistant", "content": first.content}]
    other = ask(client, *history, user("Which draft model speeds up Llama 2 Chat with speculative decoding?")).choices[0].message
    numbers = {c["doc_id"]: c["n"] for c in other.model_extra["citations"]}
    assert tinybert not in numbers and min(numbers.values()) >= 2  # a new paper gets the next number of the session
    history += [user("Which draft model speeds up Llama 2 Chat with speculative decoding?"), {"role": "assistant", "content": other.content}]
    back = ask(client, *history, user("How much smaller is TinyBERT than BERT?")).choices[0].message
    assert {c["doc_id"]: c["n"] for c in back.model_extra["citations"]}.get(tinybert) == 1  # kept its [1]


def test_a_history_the_server_does_not_hold_is_rebuilt(client):
    history = [user("What is TinyBERT?"), {"role": "assistant", "content": "TinyBERT is a distilled BERT [1].\n\n**References**\n\n- [1] x"}]
    resp = ask(client, *history, user("Which draft model speeds up Llama 2 Chat with speculative decoding?")).choices[0].message
    assert resp.model_extra["citations"][0]["n"] == 1  # numbering starts afresh
    assert "[1]" in resp.content


def test_the_history_key_ignores_the_appended_references_and_spacing():
    reply = "An answer [1].\n\n**References**\n\n- [1] A paper (2020). https://doi.org/10.1/x"
    assert answer_part(reply) == "An answer [1]."
    assert history_key([("user", "q  "), ("assistant", reply)]) == history_key([("user", " q"), ("assistant", "An answer [1].")])


def test_a_wrong_key_is_refused(url):
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(openai.OpenAI(base_url=url, api_key="wrong", max_retries=0), user("What is TinyBERT?"))
    body = refused.value.body
    assert body["type"] == "authentication_error" and body["code"] == "invalid_api_key" and "API key" in body["message"]


@pytest.mark.parametrize(
    ("messages", "extra", "says"),
    [
        ([], {}, "messages: List should have at least 1 item"),
        ([user("What is TinyBERT?"), {"role": "assistant", "content": "It is a model."}], {}, "messages[1].role: the last message must be the user's"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}], {}, "only text parts are supported, got 'image_url'"),
        ([user("What is TinyBERT?")], {"n": 2}, "n: only one choice is generated, got 2"),
        ([user("   ")], {}, "question: empty question"),
        ([{"role": "wizard", "content": "hi"}], {}, "messages.0.role"),
    ],
)
def test_bad_requests_are_one_line_400s(client, messages, extra, says):
    with pytest.raises(openai.BadRequestError) as bad:
        ask(client, *messages, **extra)
    assert says in bad.value.body["message"] and bad.value.body["type"] == "invalid_request_error"
    assert "\n" not in bad.value.body["message"]


def test_an_unknown_model_and_a_huge_body(client):
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=[user("What is TinyBERT?")])
    assert missing.value.body["code"] == "model_not_found" and "'rag-abstracts'" in missing.value.body["message"]
    with pytest.raises(openai.APIStatusError) as huge:
        ask(client, user("x" * 300_000))
    assert huge.value.status_code == 413 and "RAG_MAX_REQUEST_BYTES" in huge.value.body["message"]


def test_text_parts_are_read(client):
    resp = ask(client, {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "TinyBERT?"}]})
    assert "[1]" in resp.choices[0].message.content


def test_a_refused_turn_keeps_the_conversation_for_the_retry(client):
    first_q = "What is TinyBERT?"
    first = ask(client, user(first_q)).choices[0].message
    history = [user(first_q), {"role": "assistant", "content": first.content}]
    with pytest.raises(openai.BadRequestError):
        ask(client, *history, user("   "))  # refused before any work
    other = ask(client, *history, user("Which draft model speeds up Llama 2 Chat with speculative decoding?")).choices[0].message
    assert min(c["n"] for c in other.model_extra["citations"]) >= 2  # the same session: TinyBERT still holds [1]
