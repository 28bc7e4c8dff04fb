from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rag import Assistant, Settings
from rag.server import create_app
from rag.testing import EchoLLM, HashingEmbedder

from ..conftest import CORPUS


@pytest.fixture(scope="package")
def served(tmp_path_factory) -> Assistant:
    """The bundled corpus with hashing embeddings and the echo model, ingested once."""
    data = tmp_path_factory.mktemp("served")
    # Hashing vectors give lower similarities than the real model: a lower abstention bar.
    a = Assistant(Settings(_env_file=None, data_dir=data, embed_backend="hashing", llm_backend="fake", abstain_threshold=0.2),
                  embedder=HashingEmbedder(), llm=EchoLLM())
    a.ingest([CORPUS])
    return a


LOOPBACK = "http://localhost"  # the Host check admits loopback names; TestClient's default Host, 'testserver', is not one


def client_for(assistant: Assistant, **settings) -> TestClient:
    if settings:
        assistant = Assistant(assistant.settings.model_copy(update=settings), embedder=assistant.embedder, llm=assistant.llm)
    return TestClient(create_app(assistant), base_url=LOOPBACK)


@pytest.fixture
def client(served) -> TestClient:
    return client_for(served)
