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
from dataclasses import dataclass

import numpy as np

from .. import display
from ..embeddings import Embedder
from ..llm import LLM, Message
from ..models import Answer, Progress, RemovedSentence
from ..prompts import render
from ..retrieve import Retriever
from ..retrieve.filters import SearchFilters
from ..settings import Settings
from . import budget
from . import evidence as ev
from .answerer import checking, reading, searching
from .assemble import AnswerStream, citations, cite, declined
from .support import judge
from .text import STOPWORDS, sentences

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


@dataclass
class Summarizer:
    """Literature summaries of the papers ``retriever`` finds for a topic."""

    settings: Settings
    retriever: Retriever
    embedder: Embedder
    llm: LLM

    def stream(self, topic: str, k: int, filters: SearchFilters | None = None) -> AnswerStream:
        """The overview, then each group heading and paper line as text pieces, then the
        :class:`Answer`, as people read them (``rag.display``). Inputs are assumed valid
        (``rag.inputs`` checks them)."""
        return display.stream(self._stream(topic, k, filters))

    def _stream(self, topic: str, k: int, filters: SearchFilters | None = None) -> AnswerStream:
        started = time.perf_counter()
        s = self.settings
        result = Answer(question=topic, text="", backend=self.llm.backend, model=self.llm.model)
        yield searching()
        docs = self.retriever.documents(topic, k, filters)
        evidence = ev.select(topic, docs, self.embedder, max_sentences=len(docs), per_doc=1)
        result.relevance = round(evidence.relevance, 4)
        # Papers whose best sentence is far from the topic are not part of its literature.
        evidence = ev.Evidence([src for src in evidence.sources if max(src.scores) >= s.abstain_threshold], evidence.relevance)
        numbering = {src.doc.doc_id: n for n, src in enumerate(evidence.sources, start=1)}  # retrieval rank
        if not evidence.sources:
            yield from declined(result, "no paper matches the topic closely enough", started)
            return
        yield reading(evidence, numbering)  # every paper is listed and cited: its number is known now

        parts: list[str] = []

        # 1. A verified overview from the model.
        messages, fitted = budget.fit(evidence, lambda e: prompt(e, topic), s.answer_max_tokens, self.llm.context_window)
        yield Progress(step="writing", message="Writing the overview")
        completion = self.llm.complete(messages, max_tokens=s.answer_max_tokens).finish()
        yield checking()
        result.prompt_tokens, result.completion_tokens = completion.prompt_tokens, completion.completion_tokens
        if completion.first_token_s is not None:
            result.timings["first_token_s"] = round(time.perf_counter() - started - completion.total_s + completion.first_token_s, 4)
        overview: list[tuple[str, list[int]]] = []
        for sentence in sentences(completion.text):
            j = judge(sentence, fitted, s.support_threshold)
            if j.sources and j.text not in (o[0] for o in overview):
                numbers = sorted({numbering[fitted.by_number()[n].doc.doc_id] for n in j.sources})
                overview.append((j.text, numbers))
                result.support.append(j.support)
            else:
                result.removed.append(RemovedSentence(text=j.text, reason=j.reason or "unsupported"))
        if overview:
            parts.append(" ".join(cite(t, ns) for t, ns in overview) + "\n")
            yield parts[-1]

        # 2. Papers grouped by approach, each with its key sentence.
        vectors = np.asarray(self.embedder.embed([f"{src.doc.title}. {src.text}" for src in evidence.sources]), dtype=np.float32)
        for members in group(vectors):
            srcs = [evidence.sources[i] for i in members]
            heading = label([f"{x.doc.title} {x.text}" for x in srcs], topic)
            parts.append(f"\n{heading.capitalize()} ({len(srcs)} paper{'s' if len(srcs) > 1 else ''}):\n")
            yield parts[-1]
            for src in srcs:
                year = f" ({src.doc.year})" if src.doc.year else ""
                title = src.doc.title or "Untitled paper"
                parts.append(f"- {title}{year}: {cite(src.text, [numbering[src.doc.doc_id]])}\n")
                yield parts[-1]
                result.support.append(1.0)

        result.text = "".join(parts).strip()
        result.citations = citations(numbering, {src.doc.doc_id: src for src in evidence.sources}, set(numbering.values()))
        result.timings["total_s"] = round(time.perf_counter() - started, 4)
        yield result


def prompt(evidence: ev.Evidence, topic: str) -> list[Message]:
    return [
        {"role": "system", "content": render("summary_system")},
        {"role": "user", "content": render("summary_user", sources=evidence.render(), topic=topic)},
    ]
