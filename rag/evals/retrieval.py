"""Retrieval quality of each retriever on the question set."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import get_args

from ..inputs import Mode
from . import scoring
from .questions import Question

MODES: tuple[str, ...] = tuple(sorted(get_args(Mode)))  # bm25, dense, hybrid


def evaluate(search: Callable[[str, int, str], list[str]], questions: list[Question], k: int = 10) -> dict[str, dict[str, float]]:
    """search(query, k, mode) -> ranked doc ids. Returns {mode: {metric: mean}}."""
    scored = [q for q in questions if q.gold_doc_ids]
    results: dict[str, dict[str, float]] = {}
    for mode in MODES:
        rows = []
        for q in scored:
            ranked = search(q.question, k, mode)
            rows.append(scoring.retrieval_scores(ranked, q.gold_doc_ids))
        results[mode] = {name: round(statistics.fmean(r[name] for r in rows), 4) for name in rows[0]}
        results[mode]["questions"] = len(rows)
    return results
