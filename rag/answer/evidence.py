"""Pick the sentences the model will see.

Whole abstracts would cost the small local model seconds of prompt processing and
bury the answer; instead the sentences closest to the question (by embedding
similarity, each sentence read together with its paper's title) are taken from
the top documents, kept in their original order, and numbered by document.

Sentences that read like instructions to an AI ("ignore previous instructions")
are dropped: documents are data, and such text has no place in an abstract.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from ..embeddings import Embedder
from ..models import Document
from .text import sentences

log = logging.getLogger(__name__)

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget)\b[^.]{0,40}\b(instructions?|prompts?|rules|directions|guidelines)\b"
    r"|\byou are (now )?(an? )?(ai|assistant|chatbot|language model)\b"
    r"|\b(system prompt|assistant:|as an ai)\b"
    r"|\b(respond|reply|answer|say|output)\b.{0,30}\b(only|exactly)\b.{0,40}[\"'“]",
    re.I,
)


def looks_like_instruction(sentence: str) -> bool:
    return _INJECTION.search(sentence) is not None


@dataclass
class Source:
    """One document as shown to the model: its local number and chosen sentences."""

    n: int
    doc: Document
    sentences: list[str]
    scores: list[float] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    @property
    def checkable(self) -> str:
        """Everything the model was shown for this source: what its claims may rest on."""
        return f"{self.doc.title} {self.doc.year or ''} {self.text}"

    @property
    def paper_text(self) -> str:
        """The whole paper as stored (title and abstract), not just the chosen sentences."""
        return f"{self.doc.title} {self.doc.abstract}"

    def render(self) -> str:
        # No numbers in the prompt: small models echo "[1] [2]" instead of answering.
        # Citations are attached afterwards by checking each sentence against the sources.
        return f"{self.doc.title or 'Untitled paper'}: {self.text}"


@dataclass
class Evidence:
    sources: list[Source]
    relevance: float  # best sentence similarity to the question (0-1)

    def render(self) -> str:
        return "\n\n".join(s.render() for s in self.sources)

    def by_number(self) -> dict[int, Source]:
        return {s.n: s for s in self.sources}


def select(
    question: str,
    docs: list[Document],
    embedder: Embedder,
    max_sentences: int,
    per_doc: int = 3,
) -> Evidence:
    candidates: list[tuple[int, int, str]] = []  # (doc index, sentence index, text)
    for d, doc in enumerate(docs):
        for i, sent in enumerate(sentences(doc.abstract)):
            if looks_like_instruction(sent):
                log.warning("dropped instruction-like sentence from %s: %.80s", doc.doc_id, sent)
                continue
            candidates.append((d, i, sent))
    if not candidates:
        return Evidence([], 0.0)
    texts = [question] + [f"{docs[d].title}. {s}" if docs[d].title else s for d, _, s in candidates]
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    sims = vectors[1:] @ vectors[0]
    # A small prior for retrieval rank breaks near-ties in favour of better documents.
    prior = np.array([0.02 * (len(docs) - d) / len(docs) for d, _, _ in candidates], dtype=np.float32)
    order = np.argsort(-(sims + prior))
    chosen: dict[int, list[tuple[int, str, float]]] = {}
    taken = 0
    for idx in order:
        d, i, sent = candidates[idx]
        if len(chosen.get(d, [])) >= per_doc:
            continue
        chosen.setdefault(d, []).append((i, sent, float(sims[idx])))
        taken += 1
        if taken >= max_sentences:
            break
    sources = []
    for n, d in enumerate(sorted(chosen), start=1):
        picked = sorted(chosen[d])
        sources.append(Source(n=n, doc=docs[d], sentences=[s for _, s, _ in picked], scores=[x for _, _, x in picked]))
    return Evidence(sources, relevance=max(0.0, float(sims.max())))
