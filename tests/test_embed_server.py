"""Embeddings from an OpenAI-compatible server: a real ``rag serve`` process (its
``/v1/embeddings`` route, hashing embedder) and, for failures, a tiny server that
answers what the test scripts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from rag import Assistant, Settings
from rag.embed_server import ServerEmbedder
from rag.embeddings import make_embedder
from rag.errors import ConfigError, EmbeddingError
from rag.testing import HashingEmbedder

from .helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, write


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``rag serve`` in its own process, embedding with the hashing embedder."""
    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path_factory.mktemp("served")), "RAG_EMBED_BACKEND": "hashing",
           "RAG_LLM_BACKEND": "fake", "RAG_SERVE_PORT": str(port)}
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "rag serve did not start")
    yield url + "/v1"
    proc.terminate()
    proc.wait(10)


TEXTS = [f"text number {i}: " + ["graph neural networks", "speculative decoding", "soil microbiome"][i % 3] for i in range(50)]


def test_vectors_come_back_in_order_from_concurrent_batches(server):
    remote = ServerEmbedder("hashing", None, server, batch_size=3, concurrency=4)
    assert np.allclose(remote.embed(TEXTS), HashingEmbedder().embed(TEXTS), atol=1e-6)
    assert remote.dim == HashingEmbedder.dim and remote.model_id == "openai:hashing"


def test_an_ingest_embeds_through_the_server(server, tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", embed_backend="openai", embed_model="hashing",
                        embed_base_url=server, embed_batch_size=2)
    write(tmp_path / "papers.txt", "\n".join([ABSTRACT_A, ABSTRACT_B, ABSTRACT_C]) + "\n")
    a = Assistant(settings)
    assert a.ingest([tmp_path / "papers.txt"]).added == 3
    assert a.search("compressing transformer language models", k=1, mode="dense")
    assert a.info()["embed_model"] == "openai:hashing"


def test_a_server_needs_no_key_but_openai_does():
    assert isinstance(make_embedder(Settings(_env_file=None, embed_backend="openai", embed_base_url="http://127.0.0.1:9/v1")),
                      ServerEmbedder)
    with pytest.raises(ConfigError, match="RAG_EMBED_BASE_URL"):
        make_embedder(Settings(_env_file=None, embed_backend="openai"))


class Scripted(BaseHTTPRequestHandler):
    """Answers POST /v1/embeddings with the statuses in ``server.script``, then vectors."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls += 1  # type: ignore[attr-defined]
        status = self.server.script.pop(0) if self.server.script else 200  # type: ignore[attr-defined]
        if status != 200:
            payload = json.dumps({"error": {"message": f"scripted {status}", "type": "x"}}).encode()
        else:
            data = [{"object": "embedding", "index": i, "embedding": [1.0, 0.0]} for i, _ in enumerate(body["input"])]
            payload = json.dumps({"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 0, "total_tokens": 0}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    httpd.calls, httpd.script = 0, []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()


def test_a_busy_server_is_retried(scripted):
    scripted.script = [503, 503]
    url = f"http://127.0.0.1:{scripted.server_port}/v1"
    assert ServerEmbedder("m", None, url, retries=3).embed(["a", "b"]) == [[1.0, 0.0], [1.0, 0.0]]
    assert scripted.calls == 3


def test_a_bad_request_is_not_retried_and_says_why(scripted):
    scripted.script = [400]
    url = f"http://127.0.0.1:{scripted.server_port}/v1"
    with pytest.raises(EmbeddingError) as failed:
        ServerEmbedder("m", None, url, retries=3).embed(["a"])
    assert scripted.calls == 1
    assert str(failed.value) == f"embeddings server {url} (model m): HTTP 400 (scripted 400)"


def test_a_server_that_is_not_running_is_one_line():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbeddingError) as failed:
        ServerEmbedder("m", None, url, retries=0, timeout_s=5).embed(["a"])
    message = str(failed.value)
    assert message.startswith(f"embeddings server {url} (model m): cannot connect") and message.endswith("is it running?")
    assert "\n" not in message


def test_the_server_route_refuses_bad_input_in_openai_shape(server):
    r = httpx.post(server + "/embeddings", json={"model": "x", "input": []})
    assert r.status_code == 400 and r.json()["error"]["message"] == "input: no text to embed"
    r = httpx.post(server + "/embeddings", json={"model": "x", "input": ["a"] * 3000})
    assert r.status_code == 400 and "over the 2048" in r.json()["error"]["message"]

