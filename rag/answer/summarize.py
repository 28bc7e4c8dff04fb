"""Cited literature summaries: the papers matching a topic, grouped by approach.

Structure: a short overview written by the model (each sentence verified and
cited like an answer), then one section per group of papers with similar
approaches, each paper listed with its most topic-relevant sentence, cited.
Grouping is deterministic (embedding similarity), so a summary never depends on
a small model's ability to organise many abstracts at once.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from ..models import Answer, Citation, RemovedSentence
from ..prompts import render
from . import budget, evidence as ev
from .answerer import DECLINE_TEXT, cite
from .support import judge
from .text import STOPWORDS, sentences

if TYPE_CHECKING:
    from ..assistant import Assistant

GROUP_SIMILARITY = 0.5
MAX_GROUPS = 4
_GENERIC = STOPWORDS | set(
    "model models language large learning neural network networks data task tasks performance training "
    "trained via towards toward efficient improving improve improved deep llm llms approach paper".split()
)


def group(vectors: np.ndarray) -> list[list[int]]:
    """Greedy clustering in rank order: join the closest group if similar enough."""
    groups: list[list[int]] = []
    centroids: list[np.ndarray] = []
    for i, v in enumerate(vectors):
        sims = [float(c @ v / (np.linalg.norm(c) or 1)) for c in centroids]
        best = int(np.argmax(sims)) if sims else -1
        if best >= 0 and (sims[best] >= GROUP_SIMILARITY or len(groups) >= MAX_GROUPS):
            groups[best].append(i)
            centroids[best] = vectors[groups[best]].mean(axis=0)
        else:
            groups.append([i])
            centroids.append(v.copy())
    return groups


def label(texts: list[str], topic: str) -> str:
    topic_words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9\-]+", topic)}
    counts: Counter[str] = Counter()
    for text in texts:
        words = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9\-]+", text) if len(w) > 2}
        counts.update({w.lower() if not w.isupper() else w for w in words})
    common = [
        w for w, n in counts.most_common()
        if w.lower() not in _GENERIC and w.lower() not in topic_words and (n > 1 or len(texts) == 1)
    ]
    return ", ".join(common[:3]) or "other approaches"


def summarize(assistant: "Assistant", topic: str, k: int, filters=None, on_text=None) -> Answer:
    started = time.perf_counter()
    s = assistant.settings
    deps = assistant._answerer(filters).deps
    llm = deps.llm
    result = Answer(question=topic, text="", backend=llm.backend, model=llm.model)
    docs = [d for h in deps.search(topic, k) if (d := deps.document(h.doc_id)) is not None]
    evidence = ev.select(topic, docs, deps.embedder, max_sentences=len(docs), per_doc=1)
    result.relevance = round(evidence.relevance, 4)
    # Papers whose best sentence is far from the topic are not part of its literature.
    evidence = ev.Evidence([src for src in evidence.sources if max(src.scores) >= s.abstain_threshold], evidence.relevance)
    if not evidence.sources:
        result.text, result.abstained = DECLINE_TEXT, True
        result.abstain_reason = "no paper matches the topic closely enough"
        if on_text:
            on_text(DECLINE_TEXT)
        result.timings["total_s"] = round(time.perf_counter() - started, 4)
        return result

    numbering: dict[str, int] = {}
    for src in evidence.sources:  # numbers follow retrieval rank
        numbering[src.doc.doc_id] = len(numbering) + 1
    parts: list[str] = []

    def emit(piece: str) -> None:
        parts.append(piece)
        if on_text:
            on_text(piece)

    # 1. A verified overview from the model.
    def build(e: ev.Evidence) -> list[dict]:
        return [
            {"role": "system", "content": render("summary_system")},
            {"role": "user", "content": render("summary_user", sources=e.render(), topic=topic)},
        ]

    messages, fitted = budget.fit(evidence, build, s.answer_max_tokens, llm.context_window)
    completion = llm.complete(messages, max_tokens=s.answer_max_tokens)
    result.prompt_tokens, result.completion_tokens = completion.prompt_tokens, completion.completion_tokens
    if completion.first_token_s is not None:
        result.timings["first_token_s"] = round(time.perf_counter() - started - completion.total_s + completion.first_token_s, 4)
    overview = []
    for sentence in sentences(completion.text):
        j = judge(sentence, fitted, s.support_threshold)
        if j.sources and j.text not in (o[0] for o in overview):
            numbers = sorted({numbering[fitted.by_number()[n].doc.doc_id] for n in j.sources})
            overview.append((j.text, numbers))
            result.support.append(j.support)
        else:
            result.removed.append(RemovedSentence(text=j.text, reason=j.reason or "unsupported"))
    if overview:
        emit(" ".join(cite(t, ns) for t, ns in overview) + "\n")

    # 2. Papers grouped by approach, each with its key sentence.
    vectors = np.asarray(
        deps.embedder.embed([f"{src.doc.title}. {src.text}" for src in evidence.sources]), dtype=np.float32
    )
    for members in group(vectors):
        srcs = [evidence.sources[i] for i in members]
        heading = label([f"{x.doc.title} {x.text}" for x in srcs], topic)
        emit(f"\n{heading.capitalize()} ({len(srcs)} paper{'s' if len(srcs) > 1 else ''}):\n")
        for src in srcs:
            year = f" ({src.doc.year})" if src.doc.year else ""
            title = src.doc.title or "Untitled paper"
            emit(f"- {title}{year}: {cite(src.text, [numbering[src.doc.doc_id]])}\n")
            result.support.append(1.0)

    result.text = "".join(parts).strip()
    for src in evidence.sources:
        d = src.doc
        result.citations.append(
            Citation(n=numbering[d.doc_id], doc_id=d.doc_id, title=d.title, year=d.year, source=d.source, quote=src.text)
        )
    result.citations.sort(key=lambda c: c.n)
    result.timings["total_s"] = round(time.perf_counter() - started, 4)
    return result
