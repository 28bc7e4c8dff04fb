"""The store against a real Chroma server (``RAG_STORE=server``).

One ``chroma run`` process (the console script of the installed chromadb) serves the
whole module from a temporary directory on a free loopback port. Every test writes
to its own collection (a unique ``collection_prefix``) and its own ``data_dir``, so
tests stay independent although they share the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from rag import Assistant, StoreError
from rag.store import Store, make_client
from rag.testing import EchoLLM, HashingEmbedder

from .conftest import CORPUS, make_settings

STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chroma_cli() -> Path:
    cli = Path(sys.executable).with_name("chroma")
    if not cli.exists():
        pytest.skip(f"no `chroma` console script next to {sys.executable}")
    return cli


def _heartbeat(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory) -> int:
    """A real Chroma server for this module; yields its port, stops it afterwards."""
    root = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(_chroma_cli()), "run", "--path", str(root / "db"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so the whole group can be stopped
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _heartbeat(port):
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited with {proc.returncode}: {(root / 'server.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"chroma run did not answer a heartbeat within {STARTUP_TIMEOUT_S} s")
            time.sleep(0.25)
        yield port
    finally:
        _stop(proc)
        log.close()


def server_settings(tmp_path: Path, port: int, **overrides):
    prefix = f"t{uuid.uuid4().hex[:10]}"  # a private collection on the shared server
    return make_settings(
        tmp_path, store="server", chroma_host="127.0.0.1", chroma_port=port, collection_prefix=prefix, **overrides
    )


@pytest.fixture
def server_assistant(tmp_path, chroma_port) -> Assistant:
    return Assistant(server_settings(tmp_path, chroma_port), embedder=HashingEmbedder(), llm=EchoLLM())


@pytest.fixture
def loaded(server_assistant) -> Assistant:
    report = server_assistant.ingest([CORPUS])
    assert report.added > 0 and report.chunks_written >= report.added
    return server_assistant


def test_server_mode_uses_an_http_client_and_writes_no_chroma_files(tmp_path, chroma_port):
    settings = server_settings(tmp_path, chroma_port)
    client = make_client(settings)
    assert type(client).__name__ != "PersistentClient"
    assert client.get_settings().chroma_api_impl == "chromadb.api.fastapi.FastAPI"
    assert client.get_settings().anonymized_telemetry is False
    Store(settings, client=client)
    assert not (settings.data_dir / "chroma").exists()


def test_ingest_then_search_returns_hits(loaded, tmp_path):
    assert loaded.store.count() > 0
    hits = loaded.search("speculative decoding draft model", k=5)
    assert len(hits) == 5 and len({h.doc_id for h in hits}) == 5
    for mode in ("bm25", "dense"):
        hits = loaded.search("GlossBERT: BERT for Word Sense Disambiguation with Gloss Knowledge", k=3, mode=mode)
        assert hits[0].title.startswith("GlossBERT")
    # Only the derived lexical index is local; the vectors live on the server.
    assert list((tmp_path / "data" / "lexical").glob("*@127.0.0.1_*/index"))
    assert not (tmp_path / "data" / "chroma").exists()


def test_server_and_embedded_stores_give_the_same_results(loaded, tmp_path):
    embedded = Assistant(make_settings(tmp_path / "embedded"), embedder=HashingEmbedder())
    embedded.ingest([CORPUS])
    assert embedded.store.count() == loaded.store.count()
    for query in ("speculative decoding draft model", "graph neural networks heterophily", "low-rank adapters"):
        # HNSW is approximate and builds its graph with random levels, so two indexes of
        # the same vectors may differ in the tail; the head must agree.
        for mode in ("bm25", "dense", "hybrid"):
            assert loaded.search(query, k=5, mode=mode)[0].doc_id == embedded.search(query, k=5, mode=mode)[0].doc_id
        served = {h.doc_id for h in loaded.search(query, k=5, mode="dense")}
        local = {h.doc_id for h in embedded.search(query, k=5, mode="dense")}
        assert len(served & local) >= 3, query


def test_reingest_is_a_no_op(loaded):
    count = loaded.store.count()
    report = loaded.ingest([CORPUS])
    assert report.added == 0 and report.updated == 0 and report.removed == 0
    assert report.chunks_written == 0
    assert loaded.store.count() == count


def test_a_second_client_sees_the_same_collection(loaded, tmp_path, chroma_port):
    # Another process (own data_dir, hence own BM25 copy) reading the shared store.
    other = Assistant(
        loaded.settings.model_copy(update={"data_dir": tmp_path / "other"}), embedder=HashingEmbedder()
    )
    assert other.store.count() == loaded.store.count()
    assert other.search("speculative decoding", k=3, mode="bm25")


def test_ask_returns_a_cited_answer(loaded):
    answer = loaded.ask("What speed-up does speculative decoding with a draft model reach?")
    assert not answer.abstained and answer.citations, answer
    assert "[1]" in answer.text
    cited = loaded.document(answer.citations[0].doc_id)
    assert cited is not None and cited.abstract


def test_the_eval_runs_against_the_server(loaded, tmp_path):
    from rag.evals import run

    result = run(split="dev", limit=6, assistant=loaded, out_dir=tmp_path / "run")
    assert result.summary["questions"] == 6 and result.summary["corpus"]["documents"] == 307
    assert result.summary["metrics"]["invalid_citations"]["value"] == 0
    assert (tmp_path / "run" / "report.md").is_file()


def test_document_by_id(loaded):
    hit = loaded.search("GlossBERT word sense disambiguation", k=1)[0]
    doc = loaded.document(hit.doc_id)
    assert doc is not None
    assert doc.doc_id == hit.doc_id and doc.title == hit.title and doc.abstract
    assert loaded.document("no-such-document") is None


def test_unreachable_server_is_a_store_error_naming_the_address(tmp_path):
    port = _free_port()  # bound and released: nothing listens there
    settings = make_settings(tmp_path, store="server", chroma_host="127.0.0.1", chroma_port=port)
    with pytest.raises(StoreError, match=rf"127\.0\.0\.1:{port}.*chroma run --path") as info:
        make_client(settings)
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError, match=rf"127\.0\.0\.1:{port}"):
        Assistant(settings, embedder=HashingEmbedder()).search("anything")


def test_auth_token_is_sent_as_a_bearer_header_and_never_echoed(tmp_path, chroma_port):
    settings = server_settings(tmp_path, chroma_port, chroma_auth_token="s3cret-token")
    client = make_client(settings)  # this server has no auth and ignores the header
    assert client.get_settings().chroma_server_headers["Authorization"] == "Bearer s3cret-token"
    plain = make_client(server_settings(tmp_path, chroma_port)).get_settings().chroma_server_headers
    assert "Authorization" not in (plain or {})
    closed = make_settings(
        tmp_path, store="server", chroma_port=_free_port(), chroma_auth_token="s3cret-token"
    )
    with pytest.raises(StoreError) as info:
        make_client(closed)
    assert "s3cret-token" not in str(info.value)


def test_switching_an_existing_data_dir_to_a_server_never_reuses_its_lexical_index(tmp_path, chroma_port):
    # The lexical index in data_dir is named after the collection (and the server); an
    # embedded store and a server collection of the same name must not pass for each other.
    from .helpers import ABSTRACT_A, ABSTRACT_B, write

    embedded = Assistant(make_settings(tmp_path), embedder=HashingEmbedder())
    embedded.ingest([write(tmp_path / "a.txt", "Low-rank adapters\n" + ABSTRACT_A + "\n")])
    assert embedded.search("compressing transformer adapters", k=1, mode="bm25")
    # Same data_dir and the same collection name as the embedded store.
    settings = server_settings(tmp_path, chroma_port).model_copy(
        update={"collection_prefix": embedded.settings.collection_prefix}
    )
    served = Assistant(settings, embedder=HashingEmbedder())
    assert served.settings.collection_name == embedded.settings.collection_name
    served.ingest([write(tmp_path / "b.txt", "Heterophilous graphs\n" + ABSTRACT_B + "\n")])
    hits = served.search("compressing transformer adapters", k=5, mode="bm25")
    assert all(served.document(h.doc_id) is not None for h in hits)
    assert served.search("heterophilous graphs message passing", k=1, mode="bm25")
