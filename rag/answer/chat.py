"""Multi-turn chat with one bibliography per session.

A follow-up ("and how much faster is it?") is rewritten into a standalone
question for retrieval; if the model's rewrite is unusable, the previous
standalone question is appended instead, which retrieval handles well. The papers
cited in the previous turn stay in the evidence pool, and a paper keeps the number
it first got for the whole session.

A :class:`Conversation` wraps the answer pipeline it is given (as llama-index's
``CondenseQuestionChatEngine`` wraps a query engine): it rewrites, passes the
session's context in, and keeps the turns; answering itself is the pipeline's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from ..inputs import ChatInput
from ..llm import LLM
from ..models import Answer, Citation, Progress
from ..prompts import render
from .answerer import Answerer, ChatContext, searching
from .assemble import AnswerStream, finish
from .text import content_words

log = logging.getLogger(__name__)

_FOLLOWUP = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|she|his|her"
    r"|the (model|method|approach|paper|system|work|technique|framework|authors?))\b"
    r"|^\s*(and|also|but|so|then|what about|how about)\b",
    re.I,
)


def is_followup(question: str) -> bool:
    return bool(_FOLLOWUP.search(question)) or len(question.split()) <= 4


@dataclass
class Turn:
    question: str
    standalone: str
    answer: Answer


@dataclass
class Conversation:
    answerer: Answerer
    llm: LLM  # writes the standalone questions
    turns: list[Turn] = field(default_factory=list)
    numbering: dict[str, int] = field(default_factory=dict)  # doc_id -> [n], fixed for the session
    bibliography: dict[int, Citation] = field(default_factory=dict)

    def rewrite(self, question: str) -> str:
        if not self.turns or not is_followup(question):
            return question
        last = self.turns[-1]
        history = "\n".join(
            f"User: {t.standalone}\nAssistant: {t.answer.text if not t.answer.abstained else '(no answer)'}"
            for t in self.turns[-2:]
        )
        fallback = f"{question} ({last.standalone})"
        prompt = render("rewrite", history=history, question=question)
        try:
            reply = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=48).text
        except Exception as exc:  # a rewrite is an optimisation; retrieval still works with the fallback
            log.warning("follow-up rewrite failed (%s); using the previous question as context", exc)
            return fallback
        candidate = reply.strip().splitlines()[0] if reply.strip() else ""
        candidate = re.sub(r"^(standalone question|question)\s*:\s*", "", candidate, flags=re.I).strip(" \"'")
        context = content_words(last.standalone + " " + last.answer.text)
        words = candidate.split()
        copied = candidate in prompt  # the instruction, a history line or the question itself echoed back
        if not (3 <= len(words) <= 40) or not (content_words(candidate) & context) or copied:
            log.info("rewrite %r rejected; using fallback", candidate)
            return fallback
        return candidate

    def ask(self, question: str) -> Answer:
        return finish(self.ask_stream(question))

    def ask_stream(self, question: str) -> AnswerStream:
        """Verified sentences as they are verified, then the turn's :class:`Answer`."""
        question = ChatInput.parse(question=question).question
        return self._turn(question)

    def _turn(self, question: str) -> AnswerStream:
        yield searching()  # said before the rewrite of a follow-up, which asks the model
        standalone = self.rewrite(question)
        previous = [c.doc_id for c in self.turns[-1].answer.citations] if self.turns else []
        context = ChatContext(retrieval_query=standalone, numbering=self.numbering, papers=previous)
        for item in self.answerer.stream(question, chat=context):
            if isinstance(item, Progress) and item.step == "searching":
                continue  # said already
            if isinstance(item, Answer):
                for c in item.citations:
                    self.bibliography.setdefault(c.n, c)
                self.turns.append(Turn(question, standalone, item))
            yield item

    @property
    def cited_ids(self) -> list[str]:
        """The session's cited papers in number order (for ``Assistant.export``)."""
        return [self.bibliography[n].doc_id for n in sorted(self.bibliography)]

    def references(self) -> str:
        return Answer(question="", text="", citations=[self.bibliography[n] for n in sorted(self.bibliography)]).references()
