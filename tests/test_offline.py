"""Nothing in the default path may reach the network."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from rag import offline


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_tiktoken_encoding_loads_with_the_network_unreachable(no_network, monkeypatch):
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    offline.get_encoding.cache_clear()
    enc = offline.get_encoding("cl100k_base")
    assert enc.decode(enc.encode("speculative decoding")) == "speculative decoding"
    import os

    assert "TIKTOKEN_CACHE_DIR" not in os.environ  # restored after use


def test_fresh_process_counts_tokens_without_network(tmp_path):
    # A new interpreter, an empty user cache and a blocked socket layer: it must still work.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('no network')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from rag.offline import count_tokens\n"
        "print(count_tokens('hello world'))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_chroma_telemetry_is_off(settings):
    from rag.store import Store

    store = Store(settings)
    assert store.client.get_settings().anonymized_telemetry is False


def test_chunking_works_offline(no_network):
    from rag.chunking import Chunker
    from rag.ingest.records import make_document

    from .helpers import ABSTRACT_A

    nodes = Chunker(32, 8).chunks(make_document(ABSTRACT_A * 3, "x.txt:1", title="T"))
    assert len(nodes) > 1 and all(n.metadata["title"] == "T" for n in nodes)
