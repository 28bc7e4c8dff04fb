from __future__ import annotations

import math

import pytest

from rag.evals import metrics


def test_recall_hit_mrr_by_hand():
    ranked = ["a", "b", "c", "d"]
    assert metrics.recall_at_k(ranked, {"b", "z"}, 2) == 0.5
    assert metrics.hit_at_k(ranked, {"d"}, 3) == 0.0
    assert metrics.mrr(ranked, {"c"}) == pytest.approx(1 / 3)
    assert metrics.mrr(ranked, {"q"}) == 0.0


def test_duplicate_ids_never_push_scores_above_one():
    ranked = ["a", "a", "a", "b"]
    assert metrics.recall_at_k(ranked, {"a"}, 3) == 1.0
    assert metrics.ndcg_at_k(ranked, {"a"}, 10) == 1.0
    assert metrics.ndcg_at_k(ranked, {"a", "b"}, 10) == 1.0  # b is second once duplicates go


def test_ndcg_ideal_uses_min_of_gold_and_k():
    # 3 gold, k=2, both top-2 relevant: perfect, although one gold is beyond k.
    assert metrics.ndcg_at_k(["a", "b", "x"], {"a", "b", "c"}, 2) == 1.0
    # one relevant at rank 2 of 1 gold: 1/log2(3)
    assert metrics.ndcg_at_k(["x", "a"], {"a"}, 10) == pytest.approx(1 / math.log2(3))


def test_empty_gold_is_zero_not_nan():
    assert metrics.recall_at_k(["a"], set(), 5) == 0.0
    assert metrics.ndcg_at_k(["a"], set(), 5) == 0.0


def test_facts_present_uses_alternatives_and_folding():
    facts = [["7.5x", "7.5 times"], ["9.4x"], ["three trillion"]]
    assert metrics.facts_present("TinyBERT is 7.5× smaller [1] and 9.4x faster on 3 trillion tokens.", facts) == 1.0
    assert metrics.facts_present("It is 7.5 times smaller.", facts) == pytest.approx(1 / 3)
    assert metrics.facts_present("anything", []) == 0.0


def test_citation_metrics():
    assert metrics.citation_precision(["a", "a", "b"], {"a"}) == 0.5
    assert metrics.citation_precision([], {"a"}) is None
    assert metrics.citation_recall(["a"], {"a", "b"}) == 0.5
    assert metrics.citation_recall(["a"], set()) == 0.0


def test_bootstrap_is_seeded_and_never_nan():
    vals = [0.0, 1.0, 1.0, 0.0, 1.0]
    assert metrics.bootstrap_ci(vals) == metrics.bootstrap_ci(vals)
    mean, lo, hi = metrics.bootstrap_ci(vals)
    assert lo <= mean == 0.6 <= hi
    assert metrics.bootstrap_ci([]) == (0.0, 0.0, 0.0)
    assert metrics.bootstrap_ci([1.0] * 10) == (1.0, 1.0, 1.0)
