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


def test_year_range_filter(loaded):
    hits = loaded.search("language models", k=20, filters={"year_min": 2020, "year_max": 2022})
    assert hits and all(h.year is not None and 2020 <= h.year <= 2022 for h in hits)
    assert not loaded.search("language models", filters=SearchFilters(year_min=2031))


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
