from __future__ import annotations

import random

import pytest
from chromadb.api.client import SharedSystemClient

from rag import Assistant
from rag.errors import StoreError
from rag.testing import HashingEmbedder


def test_a_damaged_chroma_file_is_one_clear_line(assistant, corpus_copy, settings):
    assistant.ingest([corpus_copy])
    path = settings.data_dir / "chroma" / "chroma.sqlite3"
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    data[100:] = bytes(rng.randrange(256) for _ in range(len(data) - 100))  # the header survives, nothing else
    path.write_bytes(bytes(data))
    SharedSystemClient.clear_system_cache()  # as a new process would open it
    with pytest.raises(StoreError) as caught:
        damaged = Assistant(settings, embedder=HashingEmbedder())
        damaged.info()
        damaged.search("language models", mode="dense")
    message = str(caught.value)
    assert "\n" not in message and "chroma" in message.lower()


def test_a_store_that_could_not_open_on_a_full_disk_says_so_and_opens_once_space_is_back(
    assistant, corpus_copy, settings, monkeypatch
):
    import sqlite3

    from chromadb.config import System

    assistant.ingest([corpus_copy])
    SharedSystemClient.clear_system_cache()  # as a new process would open it
    start = System.start

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(System, "start", full)
    with pytest.raises(StoreError) as caught:
        Assistant(settings, embedder=HashingEmbedder()).info()
    assert "disk is full: free space and retry" in str(caught.value)
    monkeypatch.setattr(System, "start", start)  # space is back: the same process opens it
    assert Assistant(settings, embedder=HashingEmbedder()).info()["documents"] > 0


def test_an_ingest_cut_off_by_a_full_disk_says_to_free_space_and_run_it_again(assistant, corpus_copy, monkeypatch):
    import sqlite3

    from llama_index.vector_stores.chroma import ChromaVectorStore

    def full(self, nodes, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ChromaVectorStore, "add", full)
    with pytest.raises(StoreError) as caught:
        assistant.ingest([corpus_copy])
    message = str(caught.value)
    assert "\n" not in message and "free space and run the ingest again" in message


def test_papers_ingested_with_other_settings_are_named(settings, tmp_path, caplog):
    """After a change of embedding or chunking settings the store's collection is new
    and empty; info and doctor say where the papers are and what to do."""
    from rag import Assistant
    from rag.testing import HashingEmbedder

    from .helpers import ABSTRACT_A, write

    write(tmp_path / "a.txt", ABSTRACT_A + "\n")
    old = Assistant(settings, embedder=HashingEmbedder())
    old.ingest([tmp_path / "a.txt"])
    new = Assistant(settings.model_copy(update={"chunk_size": 200}), embedder=HashingEmbedder())
    assert new.info()["other_collections"] == {old.store.name: 1}
    check = dict((what, (ok, detail)) for what, ok, detail in new.doctor())["settings"]
    assert check[0] is False and "`rag ingest` them again" in check[1] and old.store.name in check[1]
    assert old.info()["other_collections"] == {}  # the new collection is empty: nothing to name
    with caplog.at_level("WARNING", logger="rag.assistant"):
        assert new.search("compressing transformer language models") == []
    assert f"{old.store.name} (1 chunks) holds papers ingested with other" in caplog.text and "`rag ingest`" in caplog.text
