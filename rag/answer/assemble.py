"""The last stage of answers and summaries: markers, citations, and the decline.

Written once here so an answer, a chat turn and a literature summary place their
markers, build their reference lists and decline in exactly the same way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence

from ..display import paper_name
from ..models import Answer, Citation, PaperRef, Progress
from .evidence import Source

log = logging.getLogger(__name__)

DECLINE_TEXT = "The abstracts don't answer this question."
#: Papers a decline names as the closest to the question.
CLOSEST = 3

#: What answering streams: text pieces (verified sentences), then the final Answer.
AnswerStream = Iterator[str | Answer | Progress]

_END = re.compile(r"\s*([.!?]*)([\"”’')\]]*)\s*$")


def cite(sentence: str, numbers: list[int]) -> str:
    """Markers go inside the sentence, before its final punctuation and any closing
    quote (``... systems [1]."``), so no splitter can separate them from it."""
    markers = "".join(f"[{n}]" for n in numbers)
    m = _END.search(sentence)
    assert m is not None  # the pattern matches the empty tail of any string
    body, stop, closing = sentence[: m.start()], m.group(1) or ".", m.group(2)
    return f"{body} {markers}{stop}{closing}"


def citations(
    numbering: Mapping[str, int], sources: Mapping[str, Source], cited: set[int], quotes: Mapping[str, list[str]] | None = None
) -> list[Citation]:
    """The reference list, in marker order (``numbering``: doc_id -> marker number).
    Each paper's quote is the sentences that support the claims citing it
    (``quotes``, doc_id -> sentences, in the order the paper has them), or else
    every sentence the model was shown of it."""
    out = []
    for doc_id, n in sorted(numbering.items(), key=lambda kv: kv[1]):
        if n in cited and doc_id in sources:
            src = sources[doc_id]
            chosen = [s for s in src.sentences if s in (quotes or {}).get(doc_id, [])] or list(src.sentences)
            out.append(
                Citation(
                    n=n, doc_id=doc_id, title=src.title, name=paper_name(src.title, src.doc.abstract), year=src.doc.year,
                    authors=src.doc.authors, source=src.doc.source, doi=src.doc.doi, url=src.doc.url,
                    arxiv_id=src.doc.arxiv_id, venue=src.doc.venue,
                    quote=" ".join(chosen), quotes=chosen,
                )
            )
    return out


def decline(answer: Answer, why: str, started: float) -> Answer:
    """Turn ``answer`` into the plain decline: no citations, the reason recorded."""
    answer.text = DECLINE_TEXT
    answer.abstained = True
    answer.abstain_reason = why
    answer.citations = []
    answer.timings["total_s"] = round(time.perf_counter() - started, 4)
    log.info("abstained: %s", why)
    return answer


def declined(answer: Answer, why: str, started: float, closest: Sequence[Source] = ()) -> AnswerStream:
    """The decline as a stream: its one sentence, then the Answer, which names the
    papers closest to the question (``closest``, best first) so a reader knows where
    to look next."""
    decline(answer, why, started)
    answer.closest = [
        PaperRef(doc_id=s.doc.doc_id, title=s.title, name=paper_name(s.title, s.doc.abstract), year=s.doc.year, source=s.doc.source)
        for s in closest[:CLOSEST]
    ]
    yield DECLINE_TEXT
    yield answer


def finish(stream: AnswerStream) -> Answer:
    """Run an answer stream to its end; its last item is the Answer."""
    answer = None
    for item in stream:
        if isinstance(item, Answer):
            answer = item
    if answer is None:
        raise RuntimeError("the answer stream ended without an answer")
    return answer
