"""A client that goes away stops its answer: the model does not generate for nobody.

A real uvicorn server on a loopback port (a disconnect only exists on a real
connection), and a model that would write for twenty seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from rag import Assistant
from rag.llm import Completion
from rag.server import create_app

QUESTION = "How much smaller and faster than BERT is TinyBERT at inference?"
TOKENS = 2000  # 10 ms each: 20 s if nobody stops it


class Endless:
    backend, model, context_window = "fake", "endless", 4096

    def __init__(self) -> None:
        self.produced = 0

    def complete(self, messages, *, max_tokens: int = 256, stop=None) -> Completion:
        def chunks() -> Iterator[str]:
            for _ in range(TOKENS):
                time.sleep(0.01)
                self.produced += 1
                yield "word "

        return Completion(chunks())


@pytest.fixture
def server(served):
    llm = Endless()
    app = create_app(Assistant(served.settings, embedder=served.embedder, llm=llm))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", llm
    uv.should_exit = True
    thread.join(10)


def idle(url: str) -> dict:
    """Wait (a bounded time, not a timing assertion) until no answer runs or waits."""
    for _ in range(300):
        answers = httpx.get(url + "/health").json()["answers"]
        if answers == {"running": 0, "waiting": 0}:
            break
        time.sleep(0.05)
    return answers


def started(llm: Endless) -> None:
    for _ in range(500):
        if llm.produced:
            return
        time.sleep(0.01)


def test_a_client_that_times_out_stops_its_non_streamed_answer(server):
    url, llm = server
    with pytest.raises(httpx.ReadTimeout):
        threading.Thread(target=started, args=(llm,)).start()
        httpx.post(url + "/ask", json={"question": QUESTION}, timeout=httpx.Timeout(5, read=0.8))
    assert idle(url) == {"running": 0, "waiting": 0}
    stopped_at = llm.produced
    time.sleep(0.1)
    assert 0 < llm.produced == stopped_at < TOKENS  # it ran, and stopped long before its end


def test_a_client_that_leaves_a_stream_stops_its_answer(server):
    url, llm = server
    with httpx.stream("POST", url + "/ask", json={"question": QUESTION, "stream": True}) as r:
        assert r.status_code == 200
        started(llm)  # the model is writing; the client closes the connection
    assert idle(url) == {"running": 0, "waiting": 0}
    stopped_at = llm.produced
    time.sleep(0.1)
    assert 0 < llm.produced == stopped_at < TOKENS


@pytest.mark.parametrize("stream", [True, False])
def test_an_openai_client_that_leaves_stops_its_answer(server, stream):
    import openai

    url, llm = server
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=openai.Timeout(5, read=0.8))
    threading.Thread(target=started, args=(llm,)).start()
    messages = [{"role": "user", "content": QUESTION}]
    if stream:
        with client.chat.completions.create(model="rag-abstracts", messages=messages, stream=True) as chunks:
            next(iter(chunks))  # the role chunk; then the client closes the connection
            started(llm)
    else:
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="rag-abstracts", messages=messages)
    assert idle(url) == {"running": 0, "waiting": 0}
    stopped_at = llm.produced
    time.sleep(0.1)
    assert 0 < llm.produced == stopped_at < TOKENS
