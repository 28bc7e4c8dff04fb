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
from .text import mentions, question_names, sentences

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


# What an abstract sentence does. A question about a paper is answered by what the
# paper contributes or finds ("We propose X, which ..."), rarely by its opening
# background ("Large language models are commonly trained on ..."), which shares
# the question's words just as well.
_CONTRIBUTION = re.compile(
    r"\b(we|this (paper|work|study|article|thesis|report)|the (present|proposed) (paper|work|method|model)"
    r"|our (method|model|approach|results?|experiments?))\b"
    r"[^.;]{0,60}?\b(propose|introduce|present|develop|design|build|construct|release|describe|call|dub|name|show|find|found"
    r"|demonstrate|achieve|obtain|outperform|improve|reduce|achieves|outperforms|improves|reduces|yields?)",
    re.I,
)
_BACKGROUND = re.compile(
    r"^(however|recently|despite|although|while|in recent years|existing|current|previous|prior|traditional|traditionally"
    r"|most|many|conventional|typically|as|with the|since|nowadays|the (success|rise|advent|recent)|one of"
    r"|a (key|major|common|fundamental))\b",
    re.I,
)
_FIRST_PERSON = re.compile(r"\b(we|our|us|this (paper|work|study|article))\b", re.I)
ROLE_WEIGHT = 0.08


def role(sentence: str, index: int) -> float:
    """+1 for a sentence that states a contribution or finding, -1 for background
    (the abstract's opening or a "However, ..."/"Recently, ..." statement that is not
    about this paper), 0 otherwise."""
    if _CONTRIBUTION.search(sentence):
        return 1.0
    if not _FIRST_PERSON.search(sentence) and (index == 0 or _BACKGROUND.search(sentence)):
        return -1.0
    return 0.0


@dataclass
class Source:
    """One document as shown to the model: its local number and chosen sentences."""

    n: int
    doc: Document
    sentences: list[str]
    scores: list[float] = field(default_factory=list)  # similarity to the question (0-1)
    weights: list[float] = field(default_factory=list)  # similarity adjusted by the sentence's role

    def ranked(self) -> list[tuple[float, str]]:
        """(weight, sentence), best first: what this paper says that answers best."""
        weights = self.weights or self.scores
        return sorted(zip(weights, self.sentences), key=lambda x: -x[0])

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
    roles = np.array([ROLE_WEIGHT * role(sent, i) for _, i, sent in candidates], dtype=np.float32)
    order = list(np.argsort(-(sims + prior + roles)))
    # A paper that names what the question names ("What is OPTransE?") is shown with
    # its best sentence even when other papers' sentences are closer by embedding.
    names = question_names(question)
    named = {d for d, doc in enumerate(docs) if any(mentions(f"{doc.title} {doc.abstract}", k) for k in names)}
    firsts = [next(idx for idx in order if candidates[idx][0] == d) for d in sorted(named) if any(c[0] == d for c in candidates)]
    order = firsts + [idx for idx in order if idx not in firsts]
    chosen: dict[int, list[tuple[int, str, float, float]]] = {}
    taken = 0
    for idx in order:
        d, i, sent = candidates[idx]
        if len(chosen.get(d, [])) >= per_doc:
            continue
        chosen.setdefault(d, []).append((i, sent, float(sims[idx]), float(sims[idx] + roles[idx])))
        taken += 1
        if taken >= max_sentences:
            break
    sources = []
    for n, d in enumerate(sorted(chosen), start=1):
        picked = sorted(chosen[d])
        sources.append(
            Source(
                n=n, doc=docs[d], sentences=[p[1] for p in picked], scores=[p[2] for p in picked], weights=[p[3] for p in picked]
            )
        )
    return Evidence(sources, relevance=max(0.0, float(sims.max())))
