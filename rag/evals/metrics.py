"""Retrieval metrics over ranked doc ids. Duplicates in a ranking are removed first
(a document retrieved twice must not count twice), so no score can exceed 1."""

from __future__ import annotations

import math
from collections.abc import Callable


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


# --- answers (deterministic; no model judges) -------------------------------------------


def facts_present(text: str, facts: list[list[str]]) -> float:
    """Share of required facts found in ``text``; each fact is a list of accepted
    alternatives, matched case-insensitively after the same folding the support
    checks use ("×" = "x", "three" = "3"). An empty fact list scores 0, never NaN."""
    from ..answer.text import fold, strip_markers

    if not facts:
        return 0.0
    folded = fold(strip_markers(text)[0])
    return sum(any(fold(alt) in folded for alt in alts) for alts in facts) / len(facts)


def citation_precision(cited: list[str], gold: set[str]) -> float | None:
    """Share of cited papers that are gold; None when nothing was cited (not a zero)."""
    cited = dedupe(cited)
    return None if not cited else sum(c in gold for c in cited) / len(cited)


def citation_recall(cited: list[str], gold: set[str]) -> float:
    return 0.0 if not gold else len(set(cited) & gold) / len(gold)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100); 0.0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def bootstrap_ci(
    values: list[float],
    n: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    stat: Callable[[list[float]], float] | None = None,
) -> tuple[float, float, float]:
    """``stat`` (default: the mean) and its percentile-bootstrap interval. Seeded, so
    a report is reproducible; an empty list gives (0, 0, 0) rather than NaN."""
    import random
    import statistics

    if not values:
        return 0.0, 0.0, 0.0
    stat = stat or statistics.fmean
    rng = random.Random(seed)
    stats = sorted(stat(rng.choices(values, k=len(values))) for _ in range(n))
    lo = stats[int((1 - level) / 2 * n)]
    hi = stats[min(n - 1, int((1 + level) / 2 * n))]
    return stat(values), lo, hi
