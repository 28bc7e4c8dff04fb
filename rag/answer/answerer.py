"""One question -> one cited, verified answer (streamed sentence by sentence).

retrieve -> select evidence sentences -> decide whether to answer at all ->
generate -> split the stream into sentences -> verify each against its sources ->
number citations -> emit. The guarantees (every sentence cited, every citation a
source the model was given, unsupported sentences removed, abstention when the
evidence does not answer) are enforced here, whatever the model writes.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Callable

from ..embeddings import Embedder
from ..llm import LLM
from ..models import Answer, Citation, Document, Hit, RemovedSentence
from ..prompts import render
from ..settings import Settings
from . import budget, evidence as ev
from .support import Judged, judge
from .text import fold, sentences

log = logging.getLogger(__name__)

DECLINE_TEXT = "The abstracts don't answer this question."
_DECLINE = re.compile(
    r"not in (the )?sources|(do|does|did) not (contain|mention|provide|say|state|specify|include|report|discuss)"
    r"|no (information|mention|details?)|cannot (be )?(answer|determin)|not (mentioned|stated|provided|specified|available)"
    r"|(isn't|is not|aren't|are not) (mentioned|stated|provided|specified|given)|unknown from",
    re.I,
)

# Framing that small models put in front of an answer; it says nothing about the papers.
_PREAMBLE = re.compile(
    r"^(according to (the )?(text|sources?|abstracts?|papers?|information( provided)?)|based on the (information|text|sources?)"
    r"( provided)?( in the (text|sources?|abstracts?))?|in (the|this) (text|abstract|paper))\s*,\s*"
    r"|^the (text|paper|abstract|source) (states|says|mentions|shows) that\s+",
    re.I,
)

# The question asks for a quantity: an answer without any number does not answer it.
_QUANTITY = re.compile(
    r"\bhow (many|much)\b|\bby how\b|\bwhat (is the |was the |are the )?(percentage|percent|number|amount|count)\b",
    re.I,
)
# The question asks about several papers: every relevant paper should be in the answer.
_SEVERAL = re.compile(
    r"\b(which|what|the) (papers|works|studies|approaches|methods|articles)\b|\bcompare\b|\bcompared\b|\beach (paper|approach|one|method)\b"
    r"|\bpapers (here|in the collection)\b",
    re.I,
)


def asks_quantity(question: str) -> bool:
    return bool(_QUANTITY.search(question))


def asks_several(question: str) -> bool:
    return bool(_SEVERAL.search(question))


OnText = Callable[[str], None]
Search = Callable[[str, int], list[Hit]]


@dataclass
class Deps:
    """What answering needs from the rest of the system (all built by Assistant)."""

    settings: Settings
    search: Search  # (query, k) -> hits
    document: Callable[[str], Document | None]
    embedder: Embedder
    llm: LLM


_END = re.compile(r"\s*([.!?]*)([\"”’')\]]*)\s*$")


def cite(sentence: str, numbers: list[int]) -> str:
    """Markers go inside the sentence, before its final punctuation and any closing
    quote (``... systems [1]."``), so no splitter can separate them from it."""
    markers = "".join(f"[{n}]" for n in numbers)
    m = _END.search(sentence)
    body, stop, closing = sentence[: m.start()], m.group(1) or ".", m.group(2)
    return f"{body} {markers}{stop}{closing}"


def balance_quotes(sentence: str) -> str:
    """Drop an unpaired double quote: a model quoting several abstract sentences
    opens the quote in one sentence and closes it in another."""
    if sentence.count('"') % 2:
        i = sentence.find('"') if sentence.lstrip().startswith('"') else sentence.rfind('"')
        sentence = sentence[:i] + sentence[i + 1 :]
    if sentence.count("“") != sentence.count("”"):
        sentence = sentence.replace("“", "").replace("”", "")
    return sentence.strip()


class Answerer:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def gather(self, query: str, k: int, extra_doc_ids: list[str]) -> list[Document]:
        docs: dict[str, Document] = {}
        for hit in self.deps.search(query, k):
            doc = self.deps.document(hit.doc_id)
            if doc is not None:
                docs.setdefault(doc.doc_id, doc)
        for doc_id in extra_doc_ids:  # chat: papers the conversation is already about
            if doc_id not in docs and (doc := self.deps.document(doc_id)) is not None:
                docs[doc_id] = doc
        return list(docs.values())

    def answer(
        self,
        question: str,
        *,
        k: int | None = None,
        retrieval_query: str | None = None,
        numbering: dict[str, int] | None = None,
        extra_doc_ids: list[str] | None = None,
        history: list[dict] | None = None,
        on_text: OnText | None = None,
    ) -> Answer:
        s = self.deps.settings
        started = time.perf_counter()
        numbering = {} if numbering is None else numbering
        query = retrieval_query or question
        docs = self.gather(query, k or s.evidence_docs, extra_doc_ids or [])
        evidence = ev.select(query, docs, self.deps.embedder, s.evidence_sentences)
        result = Answer(
            question=question,
            text="",
            standalone_question=query if query != question else None,
            backend=self.deps.llm.backend,
            model=self.deps.llm.model,
            relevance=round(evidence.relevance, 4),
        )
        result.timings["retrieve_s"] = round(time.perf_counter() - started, 4)

        if not evidence.sources or evidence.relevance < s.abstain_threshold:
            return self._decline(
                result, f"best evidence relevance {evidence.relevance:.2f} is under {s.abstain_threshold}", on_text, started
            )

        def build(e: ev.Evidence) -> list[dict]:
            messages = [{"role": "system", "content": render("answer_system")}]
            messages += history or []
            messages.append({"role": "user", "content": render("answer_user", sources=e.render(), question=query)})
            return messages

        messages, evidence = budget.fit(evidence, build, s.answer_max_tokens, self.deps.llm.context_window)
        by_number = evidence.by_number()
        kept: list[Judged] = []
        emitted: list[str] = []
        numbering_before = dict(numbering)
        # A quantity question is only answered if some sentence states a number, which
        # is known at the end: hold its sentences back instead of streaming them.
        hold = asks_quantity(query)
        buffer = ""
        first_text: list[float] = []

        def handle(sentence: str) -> None:
            sentence = balance_quotes(_PREAMBLE.sub("", sentence.strip()))
            sentence = sentence[:1].upper() + sentence[1:]
            if not sentence:
                return
            if _DECLINE.search(sentence):
                result.removed.append(RemovedSentence(text=sentence, reason="model said the sources lack the answer"))
                return
            j = judge(sentence, evidence, s.support_threshold, query)
            if not j.sources:
                result.removed.append(RemovedSentence(text=j.text, reason=j.reason or "unsupported"))
                return
            if any(j.text == k.text for k in kept):
                return  # small models repeat themselves
            kept.append(j)
            numbers = []
            for n in j.sources:
                doc_id = by_number[n].doc.doc_id
                numbering.setdefault(doc_id, len(numbering) + 1)
                numbers.append(numbering[doc_id])
            piece = cite(j.text, sorted(set(numbers)))
            emitted.append(piece)
            if on_text and not hold:
                if not first_text:
                    first_text.append(time.perf_counter() - started)
                on_text(piece + " ")

        def on_token(token: str) -> None:
            nonlocal buffer
            buffer += token
            parts = sentences(buffer)
            if len(parts) > 1:
                for done in parts[:-1]:
                    handle(done)
                buffer = buffer[buffer.rfind(parts[-1]):]  # keep the raw tail, spaces included

        completion = self.deps.llm.complete(messages, max_tokens=s.answer_max_tokens, on_token=on_token)
        handle(buffer)
        result.prompt_tokens = completion.prompt_tokens
        result.completion_tokens = completion.completion_tokens
        if completion.first_token_s is not None:
            result.timings["first_token_s"] = round(result.timings["retrieve_s"] + completion.first_token_s, 4)
        result.timings["llm_s"] = round(completion.total_s, 4)

        if not kept and evidence.relevance >= s.extractive_threshold:
            # The model's words failed the checks, but the evidence matches the question
            # closely: quote the best evidence sentence instead of declining.
            best = max(
                ((score, src.n, sent) for src in evidence.sources for score, sent in zip(src.scores, src.sentences)),
            )
            handle(best[2])
            result.extractive = bool(kept)
        if kept and asks_several(query):
            # A question about several papers: the small model tends to describe one.
            # Add the best evidence sentence of each other relevant paper, checked and
            # cited like any model sentence.
            cited_docs = {by_number[n].doc.doc_id for j in kept for n in j.sources}
            floor = max(s.abstain_threshold, evidence.relevance - s.several_margin)
            for src in evidence.sources:
                if src.doc.doc_id in cited_docs or not src.scores or max(src.scores) < floor:
                    continue
                handle(src.sentences[src.scores.index(max(src.scores))])
        if kept and asks_quantity(query) and not any(re.search(r"\d", fold(j.text)) for j in kept):
            result.removed += [RemovedSentence(text=j.text, reason="the question asks for a number and this gives none") for j in kept]
            kept.clear()
            numbering.clear()
            numbering.update(numbering_before)
            return self._decline(result, "the sources state no number for what was asked", on_text, started)
        if hold and on_text:  # the number check passed: release the held sentences
            first_text.append(time.perf_counter() - started)
            for piece in emitted:
                on_text(piece + " ")
        if not kept:
            why = "the model said the sources lack the answer" if result.removed and all(
                r.reason.startswith("model said") for r in result.removed
            ) else "no sentence of the model's answer was supported by the sources"
            return self._decline(result, why, on_text, started)

        result.text = " ".join(emitted)
        result.support = [j.support for j in kept]
        by_doc = {src.doc.doc_id: src for src in evidence.sources}
        cited = {numbering[by_number[n].doc.doc_id] for j in kept for n in j.sources}
        for doc_id, n in sorted(numbering.items(), key=lambda kv: kv[1]):
            if n in cited and doc_id in by_doc:
                doc = by_doc[doc_id].doc
                result.citations.append(
                    Citation(n=n, doc_id=doc_id, title=doc.title, year=doc.year, source=doc.source, quote=by_doc[doc_id].text)
                )
        if first_text:
            result.timings["first_text_s"] = round(first_text[0], 4)
        result.timings["total_s"] = round(time.perf_counter() - started, 4)
        return result

    def _decline(self, result: Answer, why: str, on_text: OnText | None, started: float) -> Answer:
        result.text = DECLINE_TEXT
        result.abstained = True
        result.abstain_reason = why
        result.citations = []
        if on_text:
            on_text(DECLINE_TEXT)
        result.timings["total_s"] = round(time.perf_counter() - started, 4)
        log.info("abstained: %s", why)
        return result
