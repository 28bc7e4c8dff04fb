"""Text as people read it: LaTeX in abstracts shown as plain Unicode, and a readable
name for a paper without a title. Applied where answers, hits and documents leave
the pipeline (``Answerer.stream``, ``Summarizer.stream``, ``Assistant.search`` and
``Assistant.document``); the store keeps the text as it was ingested, and
verification reads it as stored.

pylatexenc does the conversion, but only on what is clearly LaTeX: a ``$…$`` span
holding a command, ``^`` or ``_``; an escaped special (``1.64\\%``); a known command
(``\\times``, ``\\pm``, ``\\textbf{…}``). Whole-text conversion would also eat prices
("$5 and $10"), Windows paths and spacing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from pylatexenc.latex2text import LatexNodes2Text

from .models import Answer, Citation, Document, Hit, PaperRef, Progress

_MATH = re.compile(r"\$([^$\n]{1,120}?)\$")
_ESCAPED = re.compile(r"\\([%&#_$])")
_COMMAND = re.compile(r"\\([A-Za-z]+)(\{[^{}\n]{0,200}\})?")
NAME_WORDS = 8
_CONNECTIVE = re.compile(r"^(?:however|moreover|furthermore|in this (?:paper|work|study)|here|recently|thus|therefore)\s*,?\s+", re.I)


@functools.cache
def _converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


def _convert(latex: str) -> str | None:
    try:
        text = _converter().latex_to_text(latex)
    except Exception:  # pylatexenc parses loosely, but never let display text fail an answer
        return None
    return text if text.strip() else None


def _math(m: re.Match[str]) -> str:
    inner = m.group(1)
    if not re.search(r"[\\^_]", inner):
        return m.group(0)  # "$5 and $" is money, not math
    return _convert(m.group(0)) or m.group(0)


def _command(m: re.Match[str]) -> str:
    return _convert(m.group(0)) or m.group(0)  # an unknown command (a path's "\Users") stays


def plain(text: str) -> str:
    """``text`` with its LaTeX as plain Unicode (``2.4$\\times$`` → ``2.4×``); text
    without ``$`` or ``\\`` is returned unchanged."""
    if not text or ("$" not in text and "\\" not in text):
        return text
    text = _MATH.sub(_math, text)
    text = _ESCAPED.sub(r"\1", text)
    return _COMMAND.sub(_command, text)


def paper_name(title: str, abstract: str) -> str:
    """The title, or for an untitled paper the first words of its abstract."""
    if title.strip():
        return plain(title.strip())
    words = _CONNECTIVE.sub("", plain(abstract).strip()).split()
    if not words:
        return "Untitled paper"
    name = " ".join(words[:NAME_WORDS]).rstrip(".,;:")
    name = name[:1].upper() + name[1:]
    return name + ("…" if len(words) > NAME_WORDS else "")


# --- applied to what leaves the pipeline ---------------------------------------------------


def citation(c: Citation, abstract: str = "") -> Citation:
    return c.model_copy(
        update={
            "title": plain(c.title),
            "name": c.name or paper_name(c.title, abstract or c.quote),
            "quote": plain(c.quote),
            "quotes": [plain(q) for q in c.quotes],
        }
    )


def paper(p: PaperRef) -> PaperRef:
    return p.model_copy(update={"title": plain(p.title), "name": plain(p.name) if p.name else paper_name(p.title, "")})


def answer(a: Answer) -> Answer:
    a.text = plain(a.text)
    a.citations = [citation(c) for c in a.citations]
    a.closest = [paper(p) for p in a.closest]
    return a


def stream(items: Iterator) -> Iterator:
    """An answer stream with its sentences, the papers of its progress steps and its final
    Answer as people read them. Closing it closes ``items`` (the model stops)."""
    try:
        for item in items:
            if isinstance(item, str):
                yield plain(item)
            elif isinstance(item, Answer):
                yield answer(item)
            elif isinstance(item, Progress) and item.papers:
                yield item.model_copy(update={"papers": [paper(p) for p in item.papers]})
            else:
                yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def hit(h: Hit) -> Hit:
    return h.model_copy(update={"title": plain(h.title), "text": plain(h.text), "name": paper_name(h.title, h.text)})


def document(d: Document) -> Document:
    return d.model_copy(update={"title": plain(d.title), "abstract": plain(d.abstract), "name": paper_name(d.title, d.abstract)})
