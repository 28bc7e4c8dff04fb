from __future__ import annotations

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from rag import InputError, SearchFilters
from rag.retrieve.hybrid import rrf


@pytest.fixture
def loaded(assistant, corpus_copy):
    assistant.ingest([corpus_copy])
    return assistant


def test_hits_have_the_contract_fields_and_one_hit_per_document(loaded):
    hits = loaded.search("speculative decoding draft model", k=8)
    assert len(hits) == 8 and len({h.doc_id for h in hits}) == 8
    assert hits == sorted(hits, key=lambda h: h.score, reverse=True)
    for h in hits:
        assert h.doc_id and h.text and h.source and isinstance(h.score, float)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_mode_finds_an_exact_title(loaded, mode):
    hits = loaded.search("GlossBERT: BERT for Word Sense Disambiguation with Gloss Knowledge", k=3, mode=mode)
    assert hits[0].title.startswith("GlossBERT")


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_year_range_filter_keeps_undated_papers_unless_asked_not_to(loaded, mode):
    dated_only = {"year_min": 2020, "year_max": 2022, "include_undated": False}
    hits = loaded.search("language models", k=20, filters=dated_only, mode=mode)
    assert hits and all(h.year is not None and 2020 <= h.year <= 2022 for h in hits)
    assert not loaded.search("language models", filters=SearchFilters(year_min=2031, include_undated=False), mode=mode)
    # by default a paper without a year is kept (most scraped pages state none), a dated one out of range is not
    hits = loaded.search("language models", k=20, filters={"year_min": 2020, "year_max": 2022}, mode=mode)
    assert any(h.year is None for h in hits) and all(h.year is None or 2020 <= h.year <= 2022 for h in hits)


def test_source_filter_by_file_name(loaded):
    hits = loaded.search("language models", k=10, filters={"source": "004_2ed6818d327bd65b.txt"})
    assert 0 < len(hits) <= 6 and all("004_2ed6818d327bd65b.txt" in h.source for h in hits)


def test_bad_queries_are_clear_errors(loaded):
    with pytest.raises(InputError, match="query: empty query"):
        loaded.search("   ")
    with pytest.raises(InputError, match="k: must be between"):
        loaded.search("x", k=0)
    with pytest.raises(InputError, match="mode"):
        loaded.search("x", mode="fuzzy")
    with pytest.raises(ValueError, match="year_min"):
        SearchFilters(year_min=2024, year_max=2020)


def test_empty_store_returns_nothing(assistant):
    assert assistant.search("anything") == []


def test_bm25_index_follows_new_writes(loaded, tmp_path):
    from ..helpers import write

    write(tmp_path / "new.txt", "Zyxquor\n" + "Zyxquor networks are a new family of models. " * 10 + "\n")
    loaded.ingest([tmp_path / "new.txt"])
    assert loaded.search("zyxquor", k=1, mode="bm25")[0].title == "Zyxquor"


def test_rrf_rewards_agreement():
    def ranking(*ids):
        return [NodeWithScore(node=TextNode(id_=i, text=i), score=1.0) for i in ids]

    fused = rrf({"bm25": ranking("a", "b", "c"), "dense": ranking("b", "a", "d")}, {"bm25": 1, "dense": 1}, k=60)
    assert [r.node.node.node_id for r in fused][:2] in (["a", "b"], ["b", "a"])
    assert fused[-1].node.node.node_id in ("c", "d")
    weighted = rrf({"bm25": ranking("a"), "dense": ranking("b")}, {"bm25": 0.5, "dense": 1}, k=60)
    assert weighted[0].node.node.node_id == "b"


def test_lexical_index_catches_up_after_a_kill_before_the_generation_update(loaded, settings, tmp_path, monkeypatch):
    """A kill between the last chunk write and the generation update: the re-run finds
    every document complete and writes nothing, yet lexical search must see the paper."""
    from rag import Assistant
    from rag.store import Store
    from rag.testing import HashingEmbedder

    from ..helpers import write

    loaded.search("anything", mode="bm25")
    write(tmp_path / "new.txt", "Zyxquor\n" + "Zyxquor networks are a new family of models. " * 10 + "\n")
    with monkeypatch.context() as m:
        m.setattr(Store, "bump_generation", lambda self: None)  # killed before the update
        loaded.ingest([tmp_path / "new.txt"])
    fresh = Assistant(settings, embedder=HashingEmbedder())  # the next process
    assert fresh.ingest([tmp_path / "new.txt"]).chunks_written == 0
    assert fresh.search("zyxquor", k=1, mode="bm25")[0].title == "Zyxquor"


def test_lexical_index_catches_up_after_a_kill_between_chroma_and_its_mirror(loaded, settings, tmp_path, monkeypatch):
    """Killed after Chroma took the chunks, before the lexical index did: the pending mark
    makes the next process reconcile, though Chroma already holds the paper complete."""
    from rag import Assistant
    from rag.lexical import LexicalIndex
    from rag.store import Store
    from rag.testing import HashingEmbedder

    from ..helpers import write

    write(tmp_path / "new.txt", "Zyxquor\n" + "Zyxquor networks are a new family of models. " * 10 + "\n")
    with monkeypatch.context() as m:
        m.setattr(LexicalIndex, "add", lambda self, nodes: None)
        m.setattr(Store, "bump_generation", lambda self: None)
        loaded.ingest([tmp_path / "new.txt"])
    fresh = Assistant(settings, embedder=HashingEmbedder())
    assert fresh.doctor()[-1][1] is False  # the doctor names it before anything mends it
    assert fresh.ingest([tmp_path / "new.txt"]).chunks_written == 0
    assert fresh.search("zyxquor", k=1, mode="bm25")[0].title == "Zyxquor"
    assert fresh.doctor()[-1][1] is True


def test_adding_papers_never_rescans_the_store(loaded, tmp_path, monkeypatch):
    """The lexical index takes the new chunks as they are written: no pass over the ids
    of the store (what made an add cost the whole store before)."""
    from rag.store import Store

    from ..helpers import write

    loaded.search("anything", mode="bm25")
    monkeypatch.setattr(Store, "ids", lambda self: pytest.fail("the store's ids were listed"))
    write(tmp_path / "new.txt", "Zyxquor\n" + "Zyxquor networks are a new family of models. " * 10 + "\n")
    loaded.ingest([tmp_path / "new.txt"])
    assert loaded.search("zyxquor", k=1, mode="bm25")[0].title == "Zyxquor"
    (tmp_path / "new.txt").unlink()
    write(tmp_path / "new.txt", "Quorzyx\n" + "Quorzyx networks are another family of models. " * 10 + "\n")
    loaded.ingest([tmp_path / "new.txt"])  # the paper replaced: old chunks leave the index too
    assert loaded.search("zyxquor", k=3, mode="bm25") == []
    assert loaded.search("quorzyx", k=1, mode="bm25")[0].title == "Quorzyx"


def test_a_damaged_or_substituted_lexical_index_is_rebuilt(loaded, settings):
    import shutil

    from rag import Assistant
    from rag.testing import HashingEmbedder

    query = "word sense disambiguation gloss"
    expected = [h.doc_id for h in loaded.search(query, k=5, mode="bm25")]
    folder = loaded.store.lexical.path
    # 1. an index that lost papers (restored from an old copy, or written by a bug)
    loaded.store.lexical.index.delete_docs(expected[:3])
    again = Assistant(settings, embedder=HashingEmbedder())
    assert again.doctor()[-1][1] is False
    assert [h.doc_id for h in again.search(query, k=5, mode="bm25")] == expected
    assert again.doctor()[-1][1] is True
    # 2. its files damaged: unreadable, so rebuilt from the store
    for path in (folder / "index").iterdir():
        if path.suffix in (".idx", ".store", ".json"):
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    third = Assistant(settings, embedder=HashingEmbedder())
    assert third.doctor()[-1][1] is False
    assert [h.doc_id for h in third.search(query, k=5, mode="bm25")] == expected
    assert third.doctor()[-1][1] is True
    # 3. gone altogether
    shutil.rmtree(folder)
    fourth = Assistant(settings, embedder=HashingEmbedder())
    assert [h.doc_id for h in fourth.search(query, k=5, mode="bm25")] == expected


def test_a_search_sees_what_another_process_ingested(loaded, settings, tmp_path):
    """`rag ingest` beside `rag serve` on one data dir: the serving process must see the
    new paper by every mode, and an update must not break its searches."""
    import subprocess
    import sys

    from ..helpers import write

    assert loaded.search("zyxquor networks", k=1, mode="dense")[0].title != "Zyxquor"
    write(tmp_path / "new.txt", "Zyxquor\n" + "Zyxquor networks are a new family of models. " * 10 + "\n")
    script = (
        "import sys; from rag import Assistant, Settings; from rag.testing import HashingEmbedder; "
        "s = Settings.model_validate_json(sys.argv[1]); "
        "print(Assistant(s, embedder=HashingEmbedder()).ingest([sys.argv[2]]).added)"
    )
    out = subprocess.run([sys.executable, "-c", script, settings.model_dump_json(), str(tmp_path / "new.txt")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("1")
    for mode in ("dense", "hybrid", "bm25"):
        assert loaded.search("zyxquor networks", k=1, mode=mode)[0].title == "Zyxquor", mode
    assert len(loaded.search("language models", k=20, mode="dense")) == 20
