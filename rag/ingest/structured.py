"""JSONL and CSV input with ``title``/``abstract``/``authors``/``year`` fields.

A bad record is rejected as ``file:line: reason``, where ``line`` is the physical
line the record starts on; the good records of the same file are still ingested.
For CSV that includes rows the csv module would read without complaint but that
are broken: an unclosed quote (which would swallow the rest of the file into one
field), more fields than the header, no abstract, an abstract that is only a
number because the columns shifted, a NUL byte, or a field over the size limit.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

from ..models import Rejection
from .raw import ParseResult
from .records import make_document

_YEAR = re.compile(r"(?:19|20)\d{2}")
_NUMBER = re.compile(r"[\d\s.,:/+-]*\d[\d\s.,:/+-]*")  # "2020", "12.5", "2019-05-01"


def _authors(value: object) -> list[str] | None:
    if value in (None, ""):
        return None
    if isinstance(value, list):
        return [str(a) for a in value if str(a).strip()]
    return [a.strip() for a in re.split(r"\s*[;,]\s*|\s+and\s+", str(value)) if a.strip()]


def _year(value: object) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(f"field 'year' must be a year, got {value!r}")
    if isinstance(value, int):
        year = value
    else:
        m = _YEAR.search(str(value))
        if not m:
            raise ValueError(f"field 'year' must be a year, got {value!r}")
        year = int(m.group(0))
    if not 1000 <= year <= 2999:
        raise ValueError(f"field 'year' out of range: {year}")
    return year


_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)?(10\.\d{4,9}/\S{1,200})$", re.I)
_ARXIV = re.compile(r"^(?:arxiv:\s*)?(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)$", re.I)


def _links(fields: dict) -> dict[str, str]:
    """The record's DOI and link, when well formed (a malformed one is left out, not
    rejected: the abstract is what matters). An arXiv id becomes its abs page."""
    out: dict[str, str] = {}
    doi = fields.get("doi")
    if isinstance(doi, str) and (m := _DOI.match(doi.strip())):
        out["doi"] = m.group(1)
    for key in ("url", "link", "href"):
        url = fields.get(key)
        if isinstance(url, str) and url.strip().lower().startswith(("http://", "https://")) and len(url.strip()) <= 500:
            out["url"] = url.strip()
            break
    arxiv = fields.get("arxiv_id") or fields.get("arxiv")
    if "url" not in out and isinstance(arxiv, str) and (m := _ARXIV.match(arxiv.strip())):
        out["url"] = f"https://arxiv.org/abs/{m.group(1)}"
    if "url" not in out and "doi" in out:
        out["url"] = f"https://doi.org/{out['doi']}"
    return out


def _record(fields: dict, source: str, max_chars: int, result: ParseResult) -> None:
    try:
        if not isinstance(fields, dict):
            raise ValueError(f"expected an object with 'abstract', got {type(fields).__name__}")
        lowered = {str(k).strip().lower(): v for k, v in fields.items()}
        abstract = lowered.get("abstract")
        if not isinstance(abstract, str) or not abstract.strip():
            raise ValueError("missing or empty field 'abstract'")
        if len(abstract) > max_chars:
            raise ValueError(f"abstract is {len(abstract):,} characters, over the {max_chars:,} limit")
        title = lowered.get("title") or ""
        if not isinstance(title, str):
            raise ValueError("field 'title' must be text")
        result.documents.append(
            make_document(
                abstract=abstract,
                title=title,
                authors=_authors(lowered.get("authors")),
                year=_year(lowered.get("year")),
                source=source,
                **_links(lowered),
            )
        )
    except ValueError as exc:
        result.rejected.append(Rejection(where=source, reason=str(exc)))


def parse_jsonl(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    result = ParseResult()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source_name}:{number}"
        if len(line) > max_record_chars * 2:
            result.rejected.append(Rejection(where=where, reason=f"line is {len(line):,} characters, over the limit"))
            continue
        try:
            fields = json.loads(line)
        except json.JSONDecodeError as exc:
            result.rejected.append(Rejection(where=where, reason=f"malformed JSON ({exc.msg} at column {exc.colno})"))
            continue
        except RecursionError:  # e.g. 50,000 nested brackets: the line goes, the file's other lines stay
            result.rejected.append(Rejection(where=where, reason="JSON nested too deeply to read"))
            continue
        _record(fields, where, max_record_chars, result)
    return result


def _csv_rows(text: str, limit: int) -> Iterator[tuple[int, list[str], str]]:
    """Yield ``(line, fields, "")`` for each non-blank row, or ``(line, [], reason)`` for an unreadable one.

    The reader is strict, so an unclosed quote is an error (at the end of the file, or
    where a later row's quote closes it and text follows) instead of silently
    swallowing the following rows into one field. Only the first line of that row is
    rejected: a fresh reader restarts on the next line, so the rows the quote swallowed
    are read again and kept if valid. That needs no guess at where the broken row
    "should" end; a line re-read out of context is checked like any other row and,
    if broken, rejected with its own line number rather than merged into another.
    """
    lines = io.StringIO(text, newline="").readlines()  # split on \n, \r\n or \r, as csv expects
    start = 0  # index of the line the current reader starts on
    while start < len(lines):
        reader = csv.reader((lines[i] for i in range(start, len(lines))), strict=True)
        while True:
            line = start + reader.line_num + 1  # the physical line the next row starts on
            try:
                row = next(reader, None)
            except csv.Error as exc:
                yield line, *_unreadable(exc, lines[line - 1], line, start + reader.line_num, limit)
                start = line
                break
            if row is None:
                return
            if row:
                yield line, row, ""


def _unreadable(exc: csv.Error, first_line: str, start: int, end: int, limit: int) -> tuple[list[str], str]:
    """Fields or a reason for a row on lines ``start``-``end`` that the strict reader refused."""
    message = str(exc)
    if "field larger" in message:
        return [], f"field over the {limit:,}-character limit" + (" (unclosed quote?)" if end > start else "")
    if "unexpected end of data" in message:
        return [], "unclosed quote (the field runs to the end of the file)"
    if end > start:
        return [], f"unclosed quote (the field runs on into line {end})"
    if "expected after" in message:  # '"a" b' within one line: tolerated, read leniently as 'a b'
        try:
            return next(csv.reader([first_line])), ""
        except csv.Error:
            pass
    return [], f"malformed CSV ({message})"


def _row_problem(row: list[str], header: list[str]) -> str:
    """Why a CSV row the reader accepted is still broken, or ``""``."""
    if any("\x00" in field for field in row):
        return "contains a NUL byte"
    if any(field.strip() for field in row[len(header) :]):  # empty extras are just trailing commas
        return f"{len(row)} fields, header has {len(header)}"
    abstract = dict(zip(header, row)).get("abstract")
    if abstract is None:
        return f"missing field 'abstract' (the row has {len(row)} of the header's {len(header)} fields)"
    if _NUMBER.fullmatch(abstract.strip()):
        return f"abstract is only a number, {abstract.strip()!r} (columns shifted?)"
    return ""


def parse_csv(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    result = ParseResult()
    limit = max(max_record_chars * 2, 131072)
    csv.field_size_limit(limit)
    rows = _csv_rows(text, limit)
    line, header, reason = next(rows, (1, [], ""))
    if reason:
        result.rejected.append(Rejection(where=f"{source_name}:{line}", reason=f"CSV header: {reason}"))
        return result
    header = [h.strip().lower() for h in header]
    if "abstract" not in header:
        found = ", ".join(h if len(h) <= 40 else h[:37] + "..." for h in header) or "nothing"
        result.rejected.append(Rejection(where=source_name, reason=f"CSV header has no 'abstract' column (found: {found})"))
        return result
    for line, row, reason in rows:
        where = f"{source_name}:{line}"
        reason = reason or _row_problem(row, header)
        if reason:
            result.rejected.append(Rejection(where=where, reason=reason))
        else:
            _record(dict(zip(header, row)), where, max_record_chars, result)
    return result
