"""BibTeX (``.bib``: Zotero, JabRef, Mendeley exports) with bibtexparser 2.

Names are split by bibtexparser's own middlewares (``Müller, Jörg and de la Cruz, Ana``
→ ``Jörg Müller``, ``Ana de la Cruz``; ``{Google Research}`` stays one name);
LaTeX in titles, abstracts, names and venues is decoded to Unicode (:mod:`.latex`).
``year`` (or biblatex ``date``), ``doi``, ``url``, ``eprint``/``archiveprefix``
(arXiv), ``journal``/``journaltitle``/``booktitle`` and the citation key are kept.
An entry bibtexparser cannot parse, or a repeated key, is rejected with its line;
the other entries are read.
"""

from __future__ import annotations

import logging

import bibtexparser
from bibtexparser import middlewares as mw
from bibtexparser.model import DuplicateBlockKeyBlock, Entry

from ..models import Rejection
from .latex import latex_text
from .raw import ParseResult
from .structured import add_record

log = logging.getLogger(__name__)
# bibtexparser logs a warning for each entry it cannot parse; the ingest report names
# the same entries with file and line, so its own lines would only say it twice.
logging.getLogger("bibtexparser").setLevel(logging.ERROR)

_SKIPPED_TYPES = {"comment", "preamble", "string"}


def _value(entry: Entry, *names: str) -> str:
    for name in names:
        field = entry.fields_dict.get(name)
        if field is not None and isinstance(field.value, str) and field.value.strip():
            return field.value
    return ""


def _fields(entry: Entry) -> dict:
    authors = entry.fields_dict.get("author")
    names = authors.value if authors is not None and isinstance(authors.value, list) else []
    eprint = _value(entry, "eprint")
    prefix = _value(entry, "archiveprefix", "eprinttype").lower()
    return {
        "title": latex_text(_value(entry, "title")),
        "abstract": latex_text(_value(entry, "abstract")) or None,
        "authors": [n for n in (latex_text(str(name)) for name in names) if n] or None,
        "year": _value(entry, "year", "date") or None,
        "doi": _value(entry, "doi") or None,
        "url": _value(entry, "url") or None,
        "arxiv_id": eprint if eprint and (prefix == "arxiv" or not prefix) else None,
        "journal": _value(entry, "journal", "journaltitle"),  # "arXiv preprint arXiv:2101.00001"
        "venue": latex_text(_value(entry, "journal", "journaltitle", "booktitle")) or None,
        "cite_key": entry.key,
    }


def parse_bibtex(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    result = ParseResult()
    library = bibtexparser.parse_string(
        text, append_middleware=[mw.SeparateCoAuthors(), mw.SplitNameParts(), mw.MergeNameParts(style="first")]
    )
    for block in library.failed_blocks:
        where = f"{source_name}:{(block.start_line or 0) + 1}"
        if isinstance(block, DuplicateBlockKeyBlock):
            result.rejected.append(Rejection(where=where, reason=f"entry {block.key!r}: the citation key is used by an earlier entry"))
        else:
            why = getattr(block.error, "abort_reason", "") or str(block.error) or "syntax error"
            result.rejected.append(Rejection(where=where, reason=f"malformed BibTeX entry ({why.strip()[:160]})"))
    for entry in library.entries:
        if entry.entry_type.lower() in _SKIPPED_TYPES:
            continue
        add_record(_fields(entry), f"{source_name}:{(entry.start_line or 0) + 1}", max_record_chars, result, f"entry {entry.key!r}")
    result.rejected.sort(key=lambda r: int(r.where.rsplit(":", 1)[1]))
    return result
