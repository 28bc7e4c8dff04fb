"""References to take away: BibTeX (bibtexparser), RIS (rispy) and Markdown answers.

Every interface exports through these functions (the page via ``POST /export``,
``rag export``, ``rag chat``'s ``/export`` and ``/copy``), so a reference reads the
same everywhere. Papers scraped from web pages often lack authors or a year: the
entry then carries what is known, and its key falls back to the document id.
"""

from __future__ import annotations

import re
import unicodedata

import bibtexparser
import rispy
from bibtexparser import model

from .models import Answer, Citation, Document

_WORD = re.compile(r"[A-Za-z0-9]+")
_STOP = {"a", "an", "the", "on", "of", "for", "in", "to", "and", "with", "towards", "toward", "via", "is", "are"}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _surname(author: str) -> str:
    author = author.strip()
    if "," in author:  # "Lovelace, Ada"
        return author.split(",", 1)[0]
    return author.split()[-1] if author.split() else ""


def cite_key(doc: Document) -> str:
    """``lovelace2021analytical``: first author's surname, year, first significant title
    word; ``doc<doc_id>`` when neither author nor year is known."""
    surname = _WORD.findall(_ascii(_surname(doc.authors[0])).lower()) if doc.authors else []
    words = [w for w in _WORD.findall(_ascii(doc.title).lower()) if w not in _STOP]
    if not surname and not doc.year:
        return f"doc{doc.doc_id}"
    return "".join(surname[:1]) + str(doc.year or "") + (words[0] if words else doc.doc_id[:6])


def _unique_keys(docs: list[Document]) -> list[str]:
    keys: list[str] = []
    seen: dict[str, int] = {}
    for doc in docs:
        key = doc.cite_key or cite_key(doc)  # the key the paper came with, so existing \cite{} keep working
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}{chr(ord('a') + seen[key] - 2)}")
    return keys


def _braced(text: str) -> str:
    """A BibTeX value keeps its braces balanced, or the file does not parse."""
    depth, out = 0, []
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                continue
            depth -= 1
        out.append(ch)
    return "".join(out) + "}" * depth


def bibtex(docs: list[Document]) -> str:
    library = bibtexparser.Library()
    for doc, key in zip(docs, _unique_keys(docs)):
        fields = [model.Field("title", _braced(doc.title or doc.abstract[:80]))]
        if doc.authors:
            fields.append(model.Field("author", " and ".join(_braced(a) for a in doc.authors)))
        if doc.year:
            fields.append(model.Field("year", str(doc.year)))
        fields.append(model.Field("abstract", _braced(doc.abstract)))
        if doc.venue:
            fields.append(model.Field("journal", _braced(doc.venue)))
        for name in ("doi", "url"):
            if value := getattr(doc, name, None):
                fields.append(model.Field(name, _braced(value)))
        if doc.arxiv_id:
            fields += [model.Field("eprint", doc.arxiv_id), model.Field("archiveprefix", "arXiv")]
        fields.append(model.Field("note", _braced(f"source: {doc.source}; doc_id {doc.doc_id}")))
        library.add(model.Entry("article", key, fields))
    return bibtexparser.write_string(library)


class _RisWriter(rispy.RisWriter):
    """rispy's writer without its "1." line before each record (not part of RIS; some
    reference managers read it as a stray line)."""

    def set_header(self, count: int) -> str:
        return ""


def ris(docs: list[Document]) -> str:
    records = []
    for doc, key in zip(docs, _unique_keys(docs)):
        record: dict = {"type_of_reference": "JOUR", "id": key, "title": doc.title or doc.abstract[:80], "abstract": doc.abstract}
        if doc.venue:
            record["journal_name"] = doc.venue
        if doc.authors:
            record["authors"] = list(doc.authors)
        if doc.year:
            record["year"] = str(doc.year)
        if doi := getattr(doc, "doi", None):
            record["doi"] = doi
        if url := getattr(doc, "url", None):
            record["urls"] = [url]
        record["notes"] = [f"source: {doc.source}; doc_id {doc.doc_id}"]
        records.append(record)
    return rispy.dumps(records, implementation=_RisWriter)


#: Authors a reference line names before "et al.".
AUTHORS_SHOWN = 3


def reference_line(c: Citation) -> str:
    """``[n] Name (year). Authors. link``: the link is the DOI's page, the arXiv page or the record's URL;
    a paper with neither is found by where it was ingested from and its doc_id."""
    line = f"[{c.n}] {c.name or c.title or '(untitled)'} ({c.year or 'year unknown'})."
    if c.authors:
        names = ", ".join(c.authors[:AUTHORS_SHOWN]) + (" et al." if len(c.authors) > AUTHORS_SHOWN else "")
        line += f" {names.rstrip('.')}."
    return f"{line} {c.link or f'{c.source} · {c.doc_id}'}"


def _reference_lines(answer: Answer) -> list[str]:
    return [reference_line(c) for c in answer.citations]


def markdown(answer: Answer) -> str:
    """The answer, then its numbered references (Markdown)."""
    if not answer.citations:
        return answer.text + "\n"
    refs = "\n".join(f"- {line}" for line in _reference_lines(answer))
    return f"{answer.text}\n\n**References**\n\n{refs}\n"


def plain_text(answer: Answer) -> str:
    """The answer, then its numbered references (plain text)."""
    if not answer.citations:
        return answer.text + "\n"
    return answer.text + "\n\nReferences\n" + "\n".join(_reference_lines(answer)) + "\n"
