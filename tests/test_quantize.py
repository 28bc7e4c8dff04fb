"""The local embedding model computing in int8 (rag/quantize.py): built once into the
model cache, checked against the float model, trusted again after a stat."""

from __future__ import annotations

import numpy as np
import pytest

from rag import Settings
from rag.embeddings import MINILM_IDS, MiniLMOnnxEmbedder, embed_model_id
from rag.errors import ConfigError

pytestmark = pytest.mark.slow

TEXTS = [
    "We distil BERT into a student model that is 7.5x smaller and 9.4x faster.",
    "Graph neural networks struggle when linked nodes have different labels.",
    "a cat sits on the mat",
]


def test_int8_agrees_with_float_and_is_built_once(tmp_path):
    cache = tmp_path / "cache"
    int8 = MiniLMOnnxEmbedder(cache_dir=cache)
    (built,) = cache.glob("*.int8.onnx")
    made = built.stat().st_mtime_ns
    float32 = MiniLMOnnxEmbedder(compute="fp32")
    a, b = np.array(int8.embed(TEXTS)), np.array(float32.embed(TEXTS))
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-4)
    assert (a * b).sum(axis=1).min() >= 0.98 and (a * b).sum(axis=1).mean() >= 0.99
    assert (int8.model_id, float32.model_id) == (MINILM_IDS["int8"], MINILM_IDS["fp32"])
    MiniLMOnnxEmbedder(cache_dir=cache)  # from the cache: not built again
    assert built.stat().st_mtime_ns == made
    assert np.allclose(MiniLMOnnxEmbedder(cache_dir=cache).embed(TEXTS[:1])[0], a[0], atol=1e-5)  # a text alone or in a call: the same vector


def test_a_damaged_cached_model_is_built_again(tmp_path):
    cache = tmp_path / "cache"
    MiniLMOnnxEmbedder(cache_dir=cache)
    (built,) = cache.glob("*.int8.onnx")
    built.write_bytes(b"not a model")
    v = MiniLMOnnxEmbedder(cache_dir=cache).embed(TEXTS[:1])
    assert len(v[0]) == 384 and built.stat().st_size > 1_000_000


def test_a_build_that_disagrees_with_float_stops_with_the_way_back(tmp_path, monkeypatch):
    from rag import quantize

    monkeypatch.setattr(quantize, "MIN_COSINE", 1.01)
    with pytest.raises(ConfigError, match="RAG_EMBED_COMPUTE=fp32"):
        MiniLMOnnxEmbedder(cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.int8.onnx"))  # nothing half-checked left under the final name


def test_the_compute_mode_names_the_vectors_and_the_collection():
    int8, fp32 = Settings(_env_file=None), Settings(_env_file=None, embed_compute="fp32")
    assert (embed_model_id(int8), embed_model_id(fp32)) == (MINILM_IDS["int8"], MINILM_IDS["fp32"])
    assert int8.collection_name != fp32.collection_name
    assert "embed_compute" not in fp32.index_fingerprint()  # stores built before int8 keep their collection
