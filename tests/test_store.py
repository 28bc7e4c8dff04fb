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
