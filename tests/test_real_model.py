"""The real default pipeline: local ONNX embeddings over the bundled corpus.

The retrieval and answer regression gate is tests/evals/test_gate.py.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_embeddings_are_normalised_and_semantic():
    from rag.embeddings import MiniLMOnnxEmbedder

    e = MiniLMOnnxEmbedder()
    v = np.array(e.embed(["a cat sits on the mat", "a kitten rests on a rug", "lattice quantum chromodynamics"]))
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    # Batching and padding do not change a text's vector.
    assert np.allclose(e.embed(["a cat sits on the mat"])[0], v[0], atol=1e-4)


def test_default_pipeline_ingests_the_corpus(real_assistant):
    info = real_assistant.info()
    assert info["documents"] == 307 and info["embed_model"] == "all-MiniLM-L6-v2-onnx-int8-dynamic"


def test_paraphrase_finds_the_paper(real_assistant):
    hits = real_assistant.search("making a tiny student copy of BERT that runs much faster on phones", k=5)
    assert any("TinyBERT" in h.text for h in hits)
