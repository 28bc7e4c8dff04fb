"""RIS (``.ris``: the Mendeley, EndNote and Zotero export) with rispy.

The file is cut into records at their ``TY  -`` / ``ER  -`` lines so that a broken
record is reported with its line and the others are still read (rispy reads a whole
text and gives no line numbers); rispy parses each record's tags. Text outside any
record, and a record that never ends (a cut-off export), are reported.
"""

from __future__ import annotations

import re

import rispy

from ..models import Rejection
from .raw import ParseResult
from .structured import add_record

_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")


def _first(record: dict, *names: str) -> str:
    for name in names:
        value = record.get(name)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str) and v.strip()), "")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _person(name: str) -> str:
    """``Müller, Jörg`` → ``Jörg Müller`` (RIS names are "Last, First[, Suffix]")."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) >= 2 and parts[1]:
        return " ".join([parts[1], parts[0], *parts[2:]]).strip()
    return name.strip()


def _fields(record: dict) -> dict:
    names = record.get("authors") or record.get("first_authors") or []
    urls = [u for u in record.get("urls") or [] if isinstance(u, str)]
    journal = _first(record, "journal_name", "alternate_title3", "secondary_title", "alternate_title2")
    return {
        "title": _first(record, "title", "primary_title"),
        "abstract": _first(record, "abstract", "notes_abstract") or None,
        "authors": [_person(n) for n in names if isinstance(n, str) and n.strip()] or None,
        "year": _first(record, "year", "publication_year", "date") or None,
        "doi": _first(record, "doi") or None,
        "url": next((u for u in urls if u.lower().startswith(("http://", "https://"))), None),
        "arxiv_id": next((u for u in urls if "arxiv.org/" in u.lower()), None),
        "journal": journal,
        "venue": journal or None,
        "cite_key": _first(record, "id") or None,
    }


def _records(text: str, source_name: str, result: ParseResult) -> list[tuple[int, str]]:
    """``(first line, text)`` of each complete record; problems go to ``result``."""
    out: list[tuple[int, str]] = []

    def reject(line: int, reason: str) -> None:
        result.rejected.append(Rejection(where=f"{source_name}:{line}", reason=reason))

    start: int | None = None
    lines: list[str] = []
    stray: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        tag = _TAG.match(line.lstrip("\ufeff"))
        name = tag.group(1) if tag else None
        if name == "TY":
            if start is not None:
                reject(start, "RIS record has no 'ER  -' line before the next 'TY  -'")
            start, lines = number, []
        if start is None:
            if line.strip() and stray is None:
                stray = number
            continue
        lines.append(line)
        if name == "ER":
            out.append((start, "\n".join(lines)))
            start = None
    if start is not None:
        reject(start, "RIS record has no 'ER  -' line (the file looks cut off)")
    if stray is not None:
        reject(stray, "text outside a RIS record (no 'TY  -' line before it); ignored")
    return out


def parse_ris(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    result = ParseResult()
    for line, record_text in _records(text, source_name, result):
        where = f"{source_name}:{line}"
        try:
            (record,) = rispy.loads(record_text)
        except Exception as exc:  # rispy raises plain exceptions on what it cannot read
            result.rejected.append(Rejection(where=where, reason=f"malformed RIS record ({str(exc)[:120]})"))
            continue
        fields = _fields(record)
        label = f"record {fields['cite_key']!r}" if fields["cite_key"] else ""
        add_record(fields, where, max_record_chars, result, label)
    result.rejected.sort(key=lambda r: int(r.where.rsplit(":", 1)[1]))
    return result
