"""Score one answered question, then aggregate a run with bootstrap intervals.

Every number here is computed from the answer, the gold data and the abstracts:
no model judges, so a score never depends on a remote API and a re-run of the
same answers gives the same report. Scores that do not apply to a question are
``None`` and are left out of that metric's mean (its ``n`` says how many
questions it covers); an abstention is a real outcome and is always scored.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from typing import Any

from ..answer.support import score as support_score
from ..answer.text import sentences, strip_markers
from ..display import plain
from ..models import Answer, Document
from . import metrics
from .questions import Question

_MARKER = re.compile(r"\[(\d+)\]")
RETRIEVAL_METRICS = ("recall@5", "hit@5", "mrr@10", "ndcg@10")

# What the product promises for the embedded default (the targets); the
# report marks each as met or missed. (metric, direction, value)
TARGETS: dict[str, tuple[str, float]] = {
    "retrieval.hybrid.recall@5": (">=", 0.95),
    "correctness": (">=", 0.80),
    "citation_precision": (">=", 0.95),
    "abstained_unanswerable": (">=", 0.90),
    "wrongly_abstained": ("<=", 0.05),
    "invalid_citations": ("<=", 0.0),
}


def retrieval_scores(ranked: list[str], gold: list[str]) -> dict[str, float]:
    g = set(gold)
    return {
        "recall@5": metrics.recall_at_k(ranked, g, 5),
        "hit@5": metrics.hit_at_k(ranked, g, 5),
        "mrr@10": metrics.mrr(ranked, g, 10),
        "ndcg@10": metrics.ndcg_at_k(ranked, g, 10),
    }


def invalid_citations(answer: Answer, prompt_text: str) -> list[str]:
    """Problems that must never happen: a marker without a reference, a reference
    the text never uses, or a cited paper whose evidence the model was not shown."""
    problems = []
    numbers = {c.n for c in answer.citations}
    used = {int(n) for n in _MARKER.findall(answer.text)}
    problems += [f"marker [{n}] has no reference" for n in sorted(used - numbers)]
    problems += [f"reference [{n}] is not used in the text" for n in sorted(numbers - used)]
    seen = plain(prompt_text)  # quotes are shown as people read them (rag.display), the prompt as stored
    for c in answer.citations:
        shown = c.quotes or [c.quote]
        if not all(q and (q in prompt_text or q in seen) for q in shown):
            problems.append(f"reference [{c.n}] ({c.doc_id}) was not among the sources given to the model")
    return problems


def citation_checks(
    answer: Answer, gold: set[str], document: Callable[[str], Document | None], threshold: float
) -> tuple[list[bool], int, int]:
    """Per (sentence, cited paper) pair: is the paper gold, or does its abstract
    support the sentence (same lexical check as the answerer, against the whole
    abstract)? Also counts sentences and sentences carrying a marker."""
    by_n = {c.n: c.doc_id for c in answer.citations}
    pairs: list[bool] = []
    total = cited = 0
    for sent in sentences(answer.text):
        bare, numbers = strip_markers(sent)
        if not bare.strip(" ."):
            continue
        total += 1
        cited += bool(numbers)
        for n in dict.fromkeys(numbers):
            doc_id = by_n.get(n)
            if doc_id is None:
                pairs.append(False)
                continue
            if doc_id in gold:
                pairs.append(True)
                continue
            doc = document(doc_id)
            overlap, missing = support_score(bare, f"{doc.title} {doc.year or ''} {doc.abstract}") if doc else (0.0, ["?"])
            pairs.append(overlap >= threshold and not missing)
    return pairs, total, cited


def score(
    q: Question,
    answer: Answer | None,
    prompt_text: str,
    document: Callable[[str], Document | None],
    support_threshold: float,
) -> dict:
    """The per-question scores stored in the run's JSONL. ``answer`` is None when
    answering failed with an error: scored as a wrong, unabstained answer."""
    gold = set(q.gold_doc_ids)
    if answer is None:
        return {
            "correctness": 0.0 if q.answerable else None,
            "abstained": False,
            "abstained_unanswerable": None if q.answerable else 0.0,
            "wrongly_abstained": None,
            "citation_precision": None,
            "citation_precision_gold": None,
            "citation_recall": 0.0 if q.answerable else None,
            "cited_sentence_share": None,
            "invalid_citations": 0,
            "errored": 1.0,
        }
    abstained = answer.abstained
    pairs, total, cited = citation_checks(answer, gold, document, support_threshold) if not abstained else ([], 0, 0)
    cited_ids = [c.doc_id for c in answer.citations]
    return {
        "correctness": (0.0 if abstained else metrics.facts_present(answer.text, q.facts)) if q.answerable else None,
        "abstained": abstained,
        "abstained_unanswerable": None if q.answerable else float(abstained),
        "wrongly_abstained": float(abstained) if q.answerable else None,
        "citation_precision": statistics.fmean(pairs) if pairs else None,
        "citation_precision_gold": metrics.citation_precision(cited_ids, gold) if q.answerable else None,
        "citation_recall": metrics.citation_recall(cited_ids, gold) if q.answerable else None,
        "cited_sentence_share": cited / total if total else None,
        "invalid_citations": len(invalid_citations(answer, prompt_text)) if not abstained else 0,
        "errored": 0.0,
    }


# --- aggregation ------------------------------------------------------------------------

ANSWER_METRICS = (
    "correctness",
    "abstained_unanswerable",
    "wrongly_abstained",
    "citation_precision",
    "citation_precision_gold",
    "citation_recall",
    "cited_sentence_share",
    "errored",
)


def _stat(values: list[float], stat=None) -> dict:
    mean, lo, hi = metrics.bootstrap_ci(values, stat=stat)
    return {"value": round(mean, 4), "ci": [round(lo, 4), round(hi, 4)], "n": len(values)}


def _p50(v: list[float]) -> float:
    return metrics.percentile(v, 50)


def _p95(v: list[float]) -> float:
    return metrics.percentile(v, 95)


def _present(records: list[dict], key: str) -> list[float]:
    return [float(r["scores"][key]) for r in records if r["scores"].get(key) is not None]


def aggregate(records: list[dict]) -> dict:
    """Run-level metrics, each {value, ci: [lo, hi], n}; never NaN (empty -> 0 with n=0)."""
    out: dict = {name: _stat(_present(records, name)) for name in ANSWER_METRICS}
    out["invalid_citations"] = {"value": sum(r["scores"]["invalid_citations"] for r in records), "ci": None, "n": len(records)}

    support = [s for r in records for s in (r.get("support") or [])]
    out["support"] = {
        "n": len(support),
        "p10": round(metrics.percentile(support, 10), 4),
        "p50": round(metrics.percentile(support, 50), 4),
        "p90": round(metrics.percentile(support, 90), 4),
        "min": round(min(support), 4) if support else 0.0,
    }

    def timing(key: str) -> list[float]:
        return [r["timings"][key] for r in records if r.get("timings", {}).get(key) is not None]

    latency = timing("seconds")
    out["latency_p50_s"] = _stat(latency, _p50)
    out["latency_p95_s"] = _stat(latency, _p95)
    generated = [r for r in records if r.get("completion_tokens")]
    ttft = [r["timings"]["first_token_s"] for r in generated if r["timings"].get("first_token_s") is not None]
    out["first_token_p50_s"] = _stat(ttft, _p50)
    out["first_token_p95_s"] = _stat(ttft, _p95)
    out["first_text_p50_s"] = _stat(timing("first_text_s"), _p50)
    out["prompt_tokens_mean"] = _stat([float(r["prompt_tokens"]) for r in generated])
    out["completion_tokens_mean"] = _stat([float(r["completion_tokens"]) for r in generated])
    out["model_calls_share"] = _stat([float(bool(r.get("completion_tokens"))) for r in records])

    retrieval: dict = {}
    with_gold = [r for r in records if r.get("retrieval")]
    for mode in sorted({m for r in with_gold for m in r["retrieval"]}):
        retrieval[mode] = {
            name: _stat([r["retrieval"][mode]["scores"][name] for r in with_gold if mode in r["retrieval"]])
            for name in RETRIEVAL_METRICS
        }
    out["retrieval"] = retrieval
    return out


def by_kind(records: list[dict]) -> dict[str, dict]:
    kinds: dict[str, list[dict]] = {}
    for r in records:
        kinds.setdefault(r["kind"], []).append(r)
    table: dict[str, dict[str, Any]] = {}
    for kind in sorted(kinds):
        rows = kinds[kind]
        table[kind] = {name: _stat(_present(rows, name)) for name in ANSWER_METRICS if _present(rows, name)}
        table[kind]["questions"] = len(rows)
        table[kind]["latency_p50_s"] = _stat([r["timings"]["seconds"] for r in rows], _p50)
    return table


def lookup(summary: dict, dotted: str) -> float | None:
    """``summary['metrics']`` value by a dotted name like 'retrieval.hybrid.recall@5'."""
    node = summary["metrics"]
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node.get("value") if isinstance(node, dict) else node


def target_status(summary: dict) -> dict[str, dict]:
    status = {}
    for name, (op, want) in TARGETS.items():
        value = lookup(summary, name)
        if value is None:
            continue
        met = value >= want if op == ">=" else value <= want
        status[name] = {"value": value, "target": f"{op} {want:g}", "met": met}
    return status
