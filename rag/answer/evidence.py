"""Pick the sentences the model will see.

Whole abstracts would cost the small local model seconds of prompt processing and
bury the answer; instead the sentences closest to the question (by embedding
similarity, each sentence read together with its paper's title) are taken from
the top documents, kept in their original order, and numbered by document.

Text that gives the model orders, and text a reader would not see, is dropped
first (``rag.answer.injection``): documents are data.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from ..embeddings import Embedder
from ..models import Document
from .injection import WITHHELD_TITLE, title_for_model, visible, without_instructions
from .text import mentions, question_names, sentences

log = logging.getLogger(__name__)

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
    def title(self) -> str:
        """The title as the model sees it ("" when it gives orders: see ``title_for_model``)."""
        return title_for_model(self.doc.title)

    @property
    def checkable(self) -> str:
        """Everything the model was shown for this source: what its claims may rest on."""
        return f"{self.title} {self.doc.year or ''} {self.text}"

    @property
    def paper_text(self) -> str:
        """The whole paper as stored (title and abstract), not just the chosen sentences."""
        return f"{self.doc.title} {self.doc.abstract}"

    def render(self) -> str:
        # No numbers in the prompt: small models echo "[1] [2]" instead of answering.
        # Citations are attached afterwards by checking each sentence against the sources.
        title = self.title or (WITHHELD_TITLE if self.doc.title.strip() else "Untitled paper")
        return f"{title}: {self.text}"


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
    titles = [title_for_model(doc.title) for doc in docs]
    for d, doc in enumerate(docs):
        if titles[d] != doc.title.strip():
            log.warning("title of %s shown as %r: %.80r", doc.doc_id, titles[d] or WITHHELD_TITLE, doc.title)
        shown = visible(doc.abstract)
        if shown != doc.abstract.strip():
            log.warning("removed hidden text (HTML comments, invisible characters) from %s", doc.doc_id)
        # Only the order goes: the abstract's other sentences, and what a sentence said
        # before an order appended to it, stay eligible.
        for i, sent in enumerate(sentences(shown)):
            kept = without_instructions(sent)
            if kept != sent:
                log.warning("dropped instruction-like text from %s: %.80r (kept %.40r)", doc.doc_id, sent, kept)
            if kept:
                candidates.append((d, i, kept))
    if not candidates:
        return Evidence([], 0.0)
    texts = [question] + [f"{titles[d]}. {s}" if titles[d] else s for d, _, s in candidates]
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
