"""One question -> one cited, verified answer, streamed sentence by sentence.

``Answerer.stream`` is the whole path, one stage per step:

1. gather    the documents of the best hits (and of the papers a chat is about), one
             store read; their question-closest sentences are the evidence;
2. decide    evidence too far from the question: decline without asking the model;
3. generate  a prompt that fits the context window; the model's reply streams in;
4. verify    each finished sentence is checked against the sources: cited or removed;
5. complete  the model's words compete with verbatim evidence: a quote when every
             sentence failed, the number a quantity answer left out, the closest
             sentence when it covers what the answer left out, the title for a
             "which paper" question, the other papers of a several-papers question;
             then the last checks (a quantity question needs a number);
6. assemble  the text, the citations (with their supporting sentences), the timings.

Before 1, a question in another language is translated (``in_english``).

The guarantees (every sentence cited, every citation a source the model was given,
unsupported sentences removed, a decline when the evidence does not answer) hold
here, whatever the model writes. The stream is a generator: the caller's loop drives
the model, and closing the stream stops it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .. import display
from ..display import paper_name
from ..embeddings import Embedder
from ..errors import LLMError
from ..llm import LLM, Message
from ..models import Answer, PaperRef, Progress, RemovedSentence
from ..prompts import render
from ..retrieve import Retriever
from ..retrieve.filters import SearchFilters
from ..settings import Settings
from . import budget
from . import evidence as ev
from .assemble import DECLINE_TEXT, AnswerStream, citations, cite, declined
from .question import (
    asked_terms,
    asks_for_paper,
    asks_quantity,
    asks_several,
    false_title,
    focus_terms,
    looks_english,
    numbers_in,
)
from .support import Judged, disagrees, judge, supporting_sentence
from .text import aspects, content_words, mentions, question_names, sentences

log = logging.getLogger(__name__)

__all__ = ["DECLINE_TEXT", "Answerer", "ChatContext", "asks_quantity", "asks_several", "cite"]

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
    r"|^the (text|paper|abstract|source) (states|says|mentions|shows) that\s+"
    r"|^the specific (method|model|result)s?((, | or )(method|model|result)s?)* (from|in) the text (is|are)\s+",
    re.I,
)

def balance_quotes(sentence: str) -> str:
    """Drop an unpaired double quote: a model quoting several abstract sentences
    opens the quote in one sentence and closes it in another."""
    if sentence.count('"') % 2:
        i = sentence.find('"') if sentence.lstrip().startswith('"') else sentence.rfind('"')
        sentence = sentence[:i] + sentence[i + 1 :]
    if sentence.count("“") != sentence.count("”"):
        sentence = sentence.replace("“", "").replace("”", "")
    return sentence.strip()


def sentences_of(pieces: Iterable[str]) -> Iterator[str]:
    """Finished sentences from a stream of text pieces, each as soon as the next one
    has begun; the unfinished tail comes last (possibly empty)."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        parts = sentences(buffer)
        if len(parts) > 1:
            yield from parts[:-1]
            buffer = buffer[buffer.rfind(parts[-1]) :]  # keep the raw tail, spaces included
    yield buffer


@dataclass
class ChatContext:
    """What a chat turn adds to a question: the standalone question to retrieve with,
    the session's numbering (doc_id -> marker, updated in place: a paper keeps its
    number all session) and the papers the conversation is already about."""

    retrieval_query: str | None = None
    numbering: dict[str, int] = field(default_factory=dict)
    papers: Sequence[str] = ()


class Verifier:
    """Stage 4: each sentence of the model is cleaned, judged against the evidence and
    either cited (numbered in the session's ``numbering``) or recorded as removed."""

    def __init__(
        self, evidence: ev.Evidence, settings: Settings, query: str, numbering: dict[str, int], removed: list[RemovedSentence]
    ) -> None:
        self.evidence = evidence
        self.by_number = evidence.by_number()
        self.threshold = settings.support_threshold
        self.query = query
        self.numbering = numbering
        self._numbering_before = dict(numbering)
        self.removed = removed
        self.kept: list[Judged] = []
        self.pieces: list[str] = []  # the cited sentences, in order
        self.quotes: dict[str, list[str]] = {}  # doc_id -> the sentences that support a kept claim

    def check(self, sentence: str) -> str | None:
        """The cited sentence, or None when it was removed (or repeats a kept one)."""
        sentence = balance_quotes(_PREAMBLE.sub("", self.without_title(sentence.strip())))
        sentence = sentence[:1].upper() + sentence[1:]
        if not sentence:
            return None
        if _DECLINE.search(sentence):
            self.removed.append(RemovedSentence(text=sentence, reason="model said the sources lack the answer"))
            return None
        if name := false_title(sentence, (src.doc.title for src in self.evidence.sources)):
            # The false frame goes; what it framed (usually a sentence of an abstract)
            # is judged as a claim of its own.
            self.removed.append(RemovedSentence(text=sentence, reason="gives text that is no source's title as a paper's title"))
            sentence = name[:1].upper() + name[1:] + ("" if name.endswith((".", "!", "?")) else ".")
        j = judge(sentence, self.evidence, self.threshold, self.query)
        if not j.sources:
            self.removed.append(RemovedSentence(text=j.text, reason=j.reason or "unsupported"))
            return None
        if any(j.text == k.text for k in self.kept):
            return None  # small models repeat themselves
        quotes = {n: supporting_sentence(j.text, self.by_number[n].sentences) for n in j.sources}
        if why := next((w for n, q in quotes.items() if (w := disagrees(j.text, q))), None):
            # Shares its words with the source but says the opposite.
            self.removed.append(RemovedSentence(text=j.text, reason=why))
            return None
        self.kept.append(j)
        for n, quote in quotes.items():
            if quote not in (taken := self.quotes.setdefault(self.doc_id(n), [])):
                taken.append(quote)
        numbers = [self.numbering.setdefault(self.doc_id(n), len(self.numbering) + 1) for n in j.sources]
        piece = cite(j.text, sorted(set(numbers)))
        self.pieces.append(piece)
        return piece

    def without_title(self, sentence: str) -> str:
        """A sentence copied as the prompt shows sources ("Title: sentence") loses
        the title: the title is not a claim."""
        for src in self.evidence.sources:
            title = src.doc.title.strip()
            if title and sentence.startswith(title + ":"):
                return sentence[len(title) + 1 :].strip()
        return sentence

    def doc_id(self, n: int) -> str:
        return self.by_number[n].doc.doc_id

    def retract(self, reason: str) -> None:
        """Remove every kept sentence and give back the numbers they took."""
        self.removed += [RemovedSentence(text=j.text, reason=reason) for j in self.kept]
        self.kept.clear()
        self.pieces.clear()
        self.quotes.clear()
        self.numbering.clear()
        self.numbering.update(self._numbering_before)

    def cited_sources(self) -> set[int]:
        """The local numbers of the sources the kept sentences cite."""
        return {n for j in self.kept for n in j.sources}

    def cited(self) -> set[int]:
        """The session's marker numbers of the papers the kept sentences cite."""
        return {self.numbering[self.doc_id(n)] for n in self.cited_sources()}


@dataclass
class Answerer:
    """Answers questions from the documents ``retriever`` finds, with ``llm``."""

    settings: Settings
    retriever: Retriever
    embedder: Embedder
    llm: LLM

    def stream(
        self, question: str, *, k: int | None = None, filters: SearchFilters | None = None, chat: ChatContext | None = None
    ) -> AnswerStream:
        """Verified sentences as they are verified (each followed by a space), then the
        :class:`Answer`, as people read them (LaTeX as plain text: ``rag.display``).
        Inputs are assumed valid (``rag.inputs`` checks them)."""
        return display.stream(self._stream(question, k=k, filters=filters, chat=chat))

    def _stream(
        self, question: str, *, k: int | None = None, filters: SearchFilters | None = None, chat: ChatContext | None = None
    ) -> AnswerStream:
        s = self.settings
        started = time.perf_counter()
        chat = chat or ChatContext()
        yield searching()  # before the translation too: it asks the model
        query = self.in_english(chat.retrieval_query or question)

        evidence = self.gather(query, k or s.evidence_docs, filters, chat.papers)  # 1
        if evidence.sources:
            yield reading(evidence, chat.numbering)
        answer = Answer(
            question=question,
            text="",
            standalone_question=query if query != question else None,
            backend=self.llm.backend,
            model=self.llm.model,
            relevance=round(evidence.relevance, 4),
        )
        answer.timings["retrieve_s"] = round(time.perf_counter() - started, 4)

        named = named_in_evidence(query, evidence)  # 2
        if not evidence.sources or (evidence.relevance < s.abstain_threshold and not named):
            weak = f"best evidence relevance {evidence.relevance:.2f} is under {s.abstain_threshold}"
            yield from declined(answer, weak, started, closest(evidence))
            return

        messages, evidence = budget.fit(evidence, lambda e: prompt(e, query), s.answer_max_tokens, self.llm.context_window)  # 3
        yield Progress(step="writing", message="Writing the answer; each sentence is checked against its source")
        completion = self.llm.complete(messages, max_tokens=s.answer_max_tokens)

        verifier = Verifier(evidence, s, query, chat.numbering, answer.removed)  # 4
        # A quantity question is only answered if some sentence states a number, which
        # is known at the end: hold its sentences back instead of streaming them.
        hold = asks_quantity(query)
        first_text: float | None = None
        try:
            for sentence in sentences_of(completion):
                piece = verifier.check(sentence)
                if piece and not hold:
                    first_text = first_text or time.perf_counter() - started
                    yield piece + " "
        finally:
            completion.close()  # a consumer that stops reading stops the model
        answer.prompt_tokens, answer.completion_tokens = completion.prompt_tokens, completion.completion_tokens
        if completion.first_token_s is not None:
            answer.timings["first_token_s"] = round(answer.timings["retrieve_s"] + completion.first_token_s, 4)
        answer.timings["llm_s"] = round(completion.total_s, 4)
        yield checking()  # the last checks and additions (stage 5); held sentences come after

        for piece in self.complete(verifier, evidence, query, answer, named):  # 5
            if not hold:
                first_text = first_text or time.perf_counter() - started
                yield piece + " "
        if why := self.unanswered(verifier, query, answer):
            yield from declined(answer, why, started, closest(evidence))
            return
        if hold:  # the number check passed: release the held sentences
            first_text = time.perf_counter() - started
            for piece in verifier.pieces:
                yield piece + " "

        answer.text = " ".join(verifier.pieces)  # 6
        answer.support = [j.support for j in verifier.kept]
        sources = {src.doc.doc_id: src for src in evidence.sources}
        answer.citations = citations(chat.numbering, sources, verifier.cited(), verifier.quotes)
        if first_text is not None:
            answer.timings["first_text_s"] = round(first_text, 4)
        answer.timings["total_s"] = round(time.perf_counter() - started, 4)
        yield answer

    def in_english(self, question: str) -> str:
        """Stage 0: a question in another language is translated by the model, so that
        retrieval, evidence selection and verification (all English) can answer it.
        English questions pass unchanged, at no cost."""
        if looks_english(question):
            return question
        request = render("translate", question=question)
        try:
            reply = self.llm.complete([{"role": "user", "content": request}], max_tokens=80).text
        except LLMError as exc:  # an optimisation: the question as asked still retrieves names and numbers
            log.warning("translation failed (%s); answering the question as asked", exc)
            return question
        english = reply.strip().splitlines()[0].strip(" \"'") if reply.strip() else ""
        echoed = english in request  # the instruction (or the question) given back
        if not english or echoed or len(english) > 3 * len(question) + 40 or not looks_english(english):
            log.info("translation %r rejected", english)
            return question
        return english

    def gather(self, query: str, k: int, filters: SearchFilters | None, papers: Sequence[str]) -> ev.Evidence:
        """Stage 1: the question-closest sentences of the best documents."""
        docs = self.retriever.documents(query, k, filters, also=papers)
        # A rare name ("What is OPTransE?") is found by its words alone, while fusion with
        # the embedding ranking, which knows nothing of the name, can bury its paper: a
        # name no retrieved paper mentions is looked up by itself.
        missing = [n for n in question_names(query) if not any(mentions(f"{d.title} {d.abstract}", n) for d in docs)]
        if missing:
            named = [h.doc_id for h in self.retriever.retrieve(" ".join(missing), 1, filters, mode="bm25")]
            found = self.retriever.documents(" ".join(missing), 1, filters, also=named)
            docs += [d for d in found if d not in docs and any(mentions(f"{d.title} {d.abstract}", n) for n in missing)]
        return ev.select(query, docs, self.embedder, self.settings.evidence_sentences)

    def complete(self, verifier: Verifier, evidence: ev.Evidence, query: str, answer: Answer, named: bool = False) -> Iterator[str]:
        """Stage 5, additions, each checked and cited like a model sentence (see the
        module docstring for the list)."""
        s = self.settings
        ranked = sorted(((w, src.n, sent) for src in evidence.sources for w, sent in src.ranked()), reverse=True)
        if not verifier.kept and (evidence.relevance >= s.extractive_threshold or named):
            # Reached by a name alone (the question is far from every sentence): quote
            # only a paper that carries the name.
            names = question_names(query)
            by_name_only = named and evidence.relevance < s.extractive_threshold
            candidates = [r for r in ranked if not by_name_only or any(mentions(verifier.by_number[r[1]].paper_text, k) for k in names)]
            # A sentence that says the name first ("TinyBERT is ...", for "What is TinyBERT?").
            candidates.sort(key=lambda r: not any(mentions(r[2], k) for k in names))
            # A quote that does not say what was asked for ("What learning rate was X
            # trained with?" answered by "We introduce X ...") does not answer.
            if (asked := asked_terms(query)) and not asks_several(query):
                candidates = [r for r in candidates if asked & content_words(r[2])]
            for _, _, sent in candidates[:3]:  # the best that passes the checks
                if piece := verifier.check(sent):
                    yield piece
                    break
            answer.extractive = bool(verifier.kept)
        if verifier.kept and asks_quantity(query) and not states_number(verifier.kept, query):
            # The model answered a quantity question without the number: the most
            # relevant sentence stating one, of a paper the answer cites, answers it.
            cited = verifier.cited_sources()
            for score, n, sent in ranked:
                if score < s.abstain_threshold:
                    break
                if n in cited and numbers_in(sent) - numbers_in(query) and (piece := verifier.check(sent)):
                    yield piece
                    break
        if verifier.kept and s.complement_answers:
            # The evidence sentence closest to each part of the question, of a paper the
            # answer already cites, competes with the model's words: it is added, quoted and
            # cited, when it covers terms of that part that the answer leaves out (a
            # two-part question needs both parts; a quantity part needs a number).
            cited = verifier.cited_sources()
            for part in aspects(query):
                said = content_words(" ".join(j.text for j in verifier.kept))
                terms = focus_terms(part)
                for score, n, sent in ranked:
                    if score < s.abstain_threshold:
                        break
                    if n in cited and (terms & content_words(sent)) - said:
                        if asks_quantity(part) and not numbers_in(sent) - numbers_in(query):
                            continue
                        if piece := verifier.check(sent):
                            yield piece
                        break
        if verifier.kept and asks_for_paper(query):
            # Name the paper the answer rests on by its title, and say what it does:
            # its contribution sentence, when the answer has not quoted it yet.
            first = verifier.by_number[verifier.kept[0].sources[0]]
            if first.title and (piece := verifier.check(f'The paper is "{first.title.rstrip(".")}".')):
                yield piece
            said = content_words(" ".join(j.text for j in verifier.kept))
            contribution = next((sent for sent in first.sentences if ev.role(sent, -1) > 0), None)
            if contribution and content_words(contribution) - said and (piece := verifier.check(contribution)):
                yield piece
        if verifier.kept and asks_several(query):
            cited_docs = {verifier.doc_id(n) for n in verifier.cited_sources()}
            floor = max(s.abstain_threshold, evidence.relevance - s.several_margin)
            for src in evidence.sources:
                if src.doc.doc_id in cited_docs or not src.scores or max(src.scores) < floor:
                    continue
                if piece := verifier.check(src.ranked()[0][1]):
                    yield piece

    @staticmethod
    def unanswered(verifier: Verifier, query: str, answer: Answer) -> str | None:
        """Stage 5, the last checks: why the answer must be a decline, or None."""
        if verifier.kept and asks_quantity(query) and not states_number(verifier.kept, query):
            verifier.retract("the question asks for a number and this gives none")
            return "the sources state no number for what was asked"
        if verifier.kept:
            return None
        if answer.removed and all(r.reason.startswith("model said") for r in answer.removed):
            return "the model said the sources lack the answer"
        return "no sentence of the model's answer was supported by the sources"


def named_in_evidence(question: str, evidence: ev.Evidence) -> bool:
    """Whether the question names something (a model, method or dataset: a name with a
    digit or an inner capital, as in DenseFormer, S4WM, GPT-4) that the best paper's
    title or abstract names too (a rare name ranks its paper high by BM25, not
    always first). Short "What is X?" questions and questions in other
    languages are far from every sentence by embedding similarity, yet answerable."""
    names = question_names(question)
    return any(mentions(src.paper_text, k) for src in evidence.sources for k in names)


def searching() -> Progress:
    return Progress(step="searching", message="Searching the papers…")


def checking() -> Progress:
    """After the model has written: the last checks and additions (stage 5)."""
    return Progress(step="checking", message="Checking each sentence against its source")


def reading(evidence: ev.Evidence, numbering: Mapping[str, int] | None = None) -> Progress:
    """The papers the model is about to be shown, for a reader to look at meanwhile, each
    with the marker it has (``numbering``: a chat's papers keep theirs; a summary numbers
    them all) when that is known before the answer is written."""
    papers = [
        PaperRef(doc_id=src.doc.doc_id, title=src.title, name=paper_name(src.title, src.doc.abstract), year=src.doc.year,
                 source=src.doc.source, authors=src.doc.authors, n=(numbering or {}).get(src.doc.doc_id))
        for src in evidence.sources
    ]
    return Progress(step="reading", message=f"Reading {len(papers)} paper{'s' if len(papers) != 1 else ''}", papers=papers)


def closest(evidence: ev.Evidence) -> list[ev.Source]:
    """The evidence papers, most relevant first (what a decline points to)."""
    return sorted(evidence.sources, key=lambda src: -max(src.scores, default=0.0))


def states_number(kept: list[Judged], question: str = "") -> bool:
    """Whether the kept sentences state a number the question did not already give."""
    return bool(numbers_in(" ".join(j.text for j in kept)) - numbers_in(question))


def prompt(evidence: ev.Evidence, question: str) -> list[Message]:
    """The answering prompt: plain sources and the question (no citation instructions;
    citations are attached by verification)."""
    return [
        {"role": "system", "content": render("answer_system")},
        {"role": "user", "content": render("answer_user", sources=evidence.render(), question=question)},
    ]
