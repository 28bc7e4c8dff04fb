"""Retrieval metrics over ranked doc ids. Duplicates in a ranking are removed first
(a document retrieved twice must not count twice), so no score can exceed 1."""

from __future__ import annotations

import math


def dedupe(ranked: list[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked: list[str], gold: set[str], k: int) -> float:
    if not gold:
        return 0.0
    return len(set(dedupe(ranked)[:k]) & gold) / len(gold)


def hit_at_k(ranked: list[str], gold: set[str], k: int) -> float:
    return float(bool(set(dedupe(ranked)[:k]) & gold))


def mrr(ranked: list[str], gold: set[str], k: int = 10) -> float:
    for rank, doc in enumerate(dedupe(ranked)[:k], start=1):
        if doc in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: list[str], gold: set[str], k: int = 10) -> float:
    """Binary-gain nDCG; the ideal ranking holds min(|gold|, k) relevant documents."""
    if not gold:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(dedupe(ranked)[:k], start=1) if doc in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal
