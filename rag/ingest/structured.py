"""JSONL and CSV input with ``title``/``abstract``/``authors``/``year`` fields.

A bad record is rejected with its line number; the good records of the same file
are still ingested.
"""

from __future__ import annotations

import csv
import io
import json
import re

from ..models import Rejection
from .raw import ParseResult
from .records import make_document

_YEAR = re.compile(r"(?:19|20)\d{2}")


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


def parse_csv(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    result = ParseResult()
    csv.field_size_limit(max(max_record_chars * 2, 131072))
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "abstract" not in header:
        result.rejected.append(
            Rejection(where=source_name, reason=f"CSV header has no 'abstract' column (found: {', '.join(header) or 'nothing'})")
        )
        return result
    try:
        for row in reader:
            # DictReader's line_num is the physical line where the row ended.
            _record(row, f"{source_name}:{reader.line_num}", max_record_chars, result)
    except csv.Error as exc:
        result.rejected.append(Rejection(where=f"{source_name}:{reader.line_num}", reason=f"malformed CSV ({exc})"))
    return result
