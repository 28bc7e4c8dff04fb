"""Parse raw text scraped from paper-listing pages into records.

Rather than guessing one layout per file, each line is classified on its own
(abstract, title candidate, page boilerplate, or metadata that belongs to the
record before or after it) and records are assembled in one pass. That covers
the shapes seen in the wild with one code path:

* one abstract per line, no titles;
* listing pages: title, abstract, "• N authors", "·", "May 30, 2017";
* alternating title/abstract lines with boilerplate glued to the first title
  ("SubscribeIncorporating ...");
* academic pages with non-English UI text, the paper's title, author and year
  between title and abstract, then "related" abstracts, some preceded by
  "97 - Author , Author 2021" lines.

Lines that are neither boilerplate nor used by a record are counted in
``ParseResult.unused`` so that nothing disappears silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..models import Document, Rejection
from .records import make_document

# Whole lines that are page furniture, compared case-insensitively after trimming.
BOILERPLATE_LINES = {
    "new",
    "subscribe",
    "daily papers",
    "byak and the research community",
    "get trending papers in your email inbox!",
    "get trending papers in your email inbox once a day!",
    "mircosoft-partner",
    "microsoft-partner",
}
# Furniture that scrapers glue onto the next line ("SubscribeIncorporating ...").
_GLUED = re.compile(
    r"^(?:Get trending papers in your email inbox(?: once a day)?!|Subscribe|Daily Papers|new)(?=[A-Z0-9\"'(])"
)
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# Metadata describing the record *before* it (listing pages).
_AUTHOR_COUNT = re.compile(r"^[•·*\-]?\s*(\d+)\s+authors?$", re.I)
_DATE_WITH_YEAR = re.compile(rf"^{_MONTH}\s+\d{{1,2}},\s*((?:19|20)\d{{2}})(?:\s+\d+)?$", re.I)
# Page-level dates without a year ("Dec 11") and lone separators.
_DATE_NO_YEAR = re.compile(rf"^{_MONTH}\s+\d{{1,2}}$", re.I)
_SEPARATOR = re.compile(r"^[\s·•|\-–—*]+$")
_NUMBERS_ONLY = re.compile(r"^[\d\s.,()%+\-]+$")
# Metadata describing the record *after* it.
_RANK_AUTHORS_YEAR = re.compile(r"^\d+\s*-\s*(.+?)\s+((?:19|20)\d{2})$")
_PUBLISHED_BY = re.compile(r"^نشر من قبل\s+(.+)$")
_PUBLISHED_YEAR = re.compile(r"^تاريخ النشر\s+((?:19|20)\d{2})")
_SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z]")
_LATIN = re.compile(r"[A-Za-z]")
_NON_LATIN_LETTER = re.compile(r"[^\W\dA-Za-z_]", re.UNICODE)

MIN_ABSTRACT_CHARS = 300  # a line this long is an abstract whatever it looks like
MIN_SHORT_ABSTRACT_CHARS = 80  # shorter lines are abstracts only if they read as sentences


@dataclass
class ParseResult:
    documents: list[Document] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # "line N: text" of dropped lines
    no_abstract: int = 0  # well-formed records without an abstract (also in ``rejected``)


def _mostly_non_latin(line: str) -> bool:
    latin = len(_LATIN.findall(line))
    other = len(_NON_LATIN_LETTER.findall(line))
    return other > latin


def _split_authors(text: str) -> list[str]:
    return [a.strip() for a in re.split(r"\s*,\s*|\s+and\s+", text) if a.strip()]


def classify(line: str) -> tuple[str, Any]:
    """Return (kind, value) for one stripped line.

    kinds: blank, boilerplate, abstract, title, meta_prev (value: dict), meta_next (dict).
    """
    if not line:
        return "blank", None
    if line.casefold() in BOILERPLATE_LINES or _DATE_NO_YEAR.match(line) or _SEPARATOR.match(line):
        return "boilerplate", None
    if m := _AUTHOR_COUNT.match(line):
        return "meta_prev", {"n_authors": int(m.group(1))}
    if m := _DATE_WITH_YEAR.match(line):
        return "meta_prev", {"year": int(m.group(1))}
    if m := _RANK_AUTHORS_YEAR.match(line):
        return "meta_next", {"authors": _split_authors(m.group(1)), "year": int(m.group(2))}
    if m := _PUBLISHED_BY.match(line):
        return "meta_next", {"authors": _split_authors(m.group(1))}
    if m := _PUBLISHED_YEAR.match(line):
        return "meta_next", {"year": int(m.group(1))}
    if _NUMBERS_ONLY.match(line):
        return "boilerplate", None
    if len(line) < MIN_ABSTRACT_CHARS and _mostly_non_latin(line):
        return "boilerplate", None  # UI text of a page in another language
    if len(line) >= MIN_ABSTRACT_CHARS or (
        len(line) >= MIN_SHORT_ABSTRACT_CHARS
        and line.endswith(".")
        and _SENTENCE_BREAK.search(line)
    ):
        return "abstract", None
    return "title", None


def parse_raw(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    result = ParseResult()
    title: tuple[int, str] | None = None  # (line number, text) waiting for its abstract
    meta_next: dict = {}
    last: dict | None = None  # fields of the last record, open for meta_prev lines

    def flush_title() -> None:
        nonlocal title
        if title is not None:
            result.unused.append(f"line {title[0]}: {title[1][:80]}")
            title = None

    records: list[dict] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if len(line) > max_record_chars:
            result.rejected.append(
                Rejection(
                    where=f"{source_name}:{number}",
                    reason=f"line is {len(line):,} characters, over the {max_record_chars:,} limit "
                    "(RAG_MAX_RECORD_CHARS); not an abstract",
                )
            )
            title, meta_next, last = None, {}, None
            continue
        glued = _GLUED.match(line)
        if glued:
            line = line[glued.end():].strip()
        kind, value = classify(line)
        if kind in ("blank", "boilerplate"):
            continue
        if kind == "meta_prev":
            if last is not None and title is None:
                for key, val in value.items():
                    last.setdefault(key, val)
            continue
        if kind == "meta_next":
            meta_next.update(value)
            continue
        if kind == "title":
            flush_title()
            title = (number, line)
            last = None
            continue
        # An abstract: it takes the pending title and forward metadata.
        record = {
            "abstract": line,
            "line": number,
            "title": title[1] if title else "",
            **meta_next,
        }
        title, meta_next = None, {}
        records.append(record)
        last = record
    flush_title()

    for rec in records:
        result.documents.append(
            make_document(
                abstract=rec["abstract"],
                title=rec["title"],
                authors=rec.get("authors"),
                year=rec.get("year"),
                source=f"{source_name}:{rec['line']}",
            )
        )
    return result
