"""The lexical index (tantivy) on its own: scores against bm25s (a reference BM25
implementation, and the index it replaced); writes, deletes and filters; reconciling
with a list of ids."""

from __future__ import annotations

import bm25s
import pytest
from llama_index.core.schema import TextNode

from rag.lexical import LexicalIndex, index_text, stems

TEXTS = [
    "Speculative decoding drafts tokens with a small model and verifies them with the large model.",
    "Knowledge distillation compresses BERT into a smaller student model.",
    "Drought changes the soil microbiome of wheat fields.",
    "Graph neural networks struggle with heterophily; message passing is adapted.",
    "Retrieval augmented generation answers questions with citations to retrieved passages.",
    "Large language models decode tokens one at a time; decoding is memory bound.",
    "Soil moisture and drought stress measured in maize.",
    "A survey of model compression: pruning, quantization and distillation of language models.",
]


def reference(texts: list[tuple[int, str]]) -> bm25s.BM25:
    """Lucene BM25 with tantivy's constants. bm25s leaves out the (k1 + 1) factor, a
    constant, so scores compare as ratios; texts under 40 words keep tantivy's length
    encoding exact."""
    ref = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    ref.index(stems([index_text(node(i, t)) for i, t in texts]), show_progress=False)
    return ref


def node(i: int, text: str, **meta) -> TextNode:
    return TextNode(id_=f"d{i}-0", text=text, metadata={"title": f"Paper {i}", "doc_id": f"d{i}", **meta})


@pytest.fixture
def index(tmp_path):
    ix = LexicalIndex(tmp_path / "lexical")
    ix.add([node(i, t, year=2018 + i, source_name=f"s{i % 2}.jsonl") for i, t in enumerate(TEXTS)])
    yield ix
    ix.close()


@pytest.mark.parametrize("query", ["speculative decoding model", "drought soil", "distillation of language models", "tokens"])
def test_scores_equal_bm25s_on_the_same_corpus(index, query):
    expected = reference(list(enumerate(TEXTS))).get_scores(stems([query])[0]) * 2.2
    got = dict(index.search(query, len(TEXTS)))
    assert got, query
    for i, score in enumerate(expected):
        assert got.get(f"d{i}-0", 0.0) == pytest.approx(float(score), rel=1e-5), (query, i)


def test_deletes_and_replacements(index):
    index.delete_docs(["d0", "d5"])
    index.add([node(3, "Heterophily again: a new text for an old id.")])  # replaces d3-0
    kept = [(i, t) for i, t in enumerate(TEXTS) if i not in (0, 5)]
    kept = [(i, "Heterophily again: a new text for an old id." if i == 3 else t) for i, t in kept]
    got = dict(index.search("heterophily model tokens", 10))
    assert "d0-0" not in got and "d5-0" not in got and index.count() == len(TEXTS) - 2
    assert index.ids() == {f"d{i}-0" for i, _ in kept}
    assert list(got) == sorted(got, key=lambda i: -got[i])
    assert next(iter(got)) == "d3-0"  # the replaced text holds the rare word
    assert index.integrity() is None


def test_filters_by_year_and_source(index):
    assert {i for i, _ in index.search("model", 10, year_min=2022)} == {"d5-0", "d7-0"}
    assert {i for i, _ in index.search("model", 10, year_max=2019)} == {"d0-0", "d1-0"}
    assert {i for i, _ in index.search("drought", 10, source="s0.jsonl")} == {"d2-0", "d6-0"}
    assert index.search("drought", 10, source="s1.jsonl") == []
    undated = LexicalIndex(index.path.with_name("undated"))
    undated.add([node(0, "drought", year=2001), node(1, "drought")])
    assert {i for i, _ in undated.search("drought", 5, year_min=2010)} == {"d1-0"}
    assert undated.search("drought", 5, year_min=2010, include_undated=False) == []


def test_queries_without_indexed_words_find_nothing(index):
    assert index.search("", 5) == [] and index.search("the of and", 5) == []
    assert index.search("zyxquor", 5) == []
    assert index.search('"quoted" OR NEAR(x) *', 5) == []  # FTS5 syntax in a query is only text


def test_reconcile_adds_the_missing_and_drops_the_gone(index):
    truth = {f"d{i}-0": node(i, t) for i, t in enumerate(TEXTS) if i != 1}
    truth["d9-0"] = node(9, "Zyxquor networks")
    index.mark_pending()
    added, dropped = index.reconcile(lambda: list(truth), lambda ids: {i: truth[i] for i in ids}, generation=7)
    assert dropped == 1 and added >= 1  # 1 of 8 gone: over a tenth, so indexed afresh
    assert index.ids() == set(truth) and index.generation() == 7 and not index.pending()
    assert index.search("zyxquor", 1)[0][0] == "d9-0"


def test_equal_scores_rank_by_chunk_id_whatever_the_order_of_writes(tmp_path):
    texts = [node(i, "Identical abstract about drought.") for i in range(10, 40)]  # titles of one length
    forward, backward = LexicalIndex(tmp_path / "f"), LexicalIndex(tmp_path / "b")
    forward.add(texts)
    for n in reversed(texts):  # one commit each: many segments, the reverse order
        backward.add([n])
    expected = sorted(n.node_id for n in texts)[:10]
    assert [i for i, _ in forward.search("drought", 10)] == expected
    assert [i for i, _ in backward.search("drought", 10)] == expected


def test_reconciling_an_index_of_mostly_other_chunks_starts_over(index):
    """Deleted documents would skew BM25's statistics: scores after such a reconcile are
    those of an index built from the true chunks alone."""
    truth = {f"d{i}-0": node(i, t) for i, t in enumerate(TEXTS[:3])}
    index.reconcile(lambda: list(truth), lambda ids: {i: truth[i] for i in ids}, generation=3)
    expected = reference(list(enumerate(TEXTS[:3]))).get_scores(stems(["model tokens"])[0]) * 2.2
    got = dict(index.search("model tokens", 5))
    for i, score in enumerate(expected):
        assert got.get(f"d{i}-0", 0.0) == pytest.approx(float(score), rel=1e-5)
