"""The Python API contract other code and agents rely on."""

from __future__ import annotations

from rag import Assistant, Document, Hit, IngestReport, Settings


def test_contract(tmp_path, corpus_copy, monkeypatch):
    monkeypatch.setenv("RAG_EMBED_BACKEND", "hashing")
    a = Assistant(data_dir=tmp_path / "store")
    assert a.settings.data_dir == tmp_path / "store"
    report = a.ingest([str(corpus_copy)])
    assert isinstance(report, IngestReport)
    for field in ("added", "updated", "unchanged", "duplicates", "rejected"):
        assert hasattr(report, field)
    hits = a.search("word sense disambiguation", k=5)
    assert len(hits) == 5 and all(isinstance(h, Hit) for h in hits)
    for field in ("doc_id", "title", "text", "score", "source"):
        assert getattr(hits[0], field) is not None
    doc = a.document(hits[0].doc_id)
    assert isinstance(doc, Document)
    for field in ("doc_id", "title", "abstract", "authors", "year", "source"):
        assert hasattr(doc, field)
    assert a.document("0000000000000000") is None
    assert (tmp_path / "store").is_dir()


def test_settings_come_from_env_and_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("RAG_TOP_K=7\nRAG_CHUNK_SIZE=200\n")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "d"))
    s = Settings()
    assert (s.top_k, s.chunk_size, s.data_dir) == (7, 200, tmp_path / "d")
    assert Assistant(data_dir=tmp_path / "x", top_k=3).settings.top_k == 3


def test_a_new_index_for_incompatible_settings(tmp_path):
    base = Settings(_env_file=None, data_dir=tmp_path)
    assert base.collection_name == Settings(_env_file=None, data_dir=tmp_path / "other").collection_name
    assert base.collection_name != base.model_copy(update={"chunk_size": 128}).collection_name
    assert base.collection_name != base.model_copy(update={"embed_backend": "hashing"}).collection_name
    assert base.collection_name.startswith("abstracts-")
