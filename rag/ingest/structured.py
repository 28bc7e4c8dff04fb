"""JSONL, JSON and CSV input: generic ``title``/``abstract``/``authors``/``year`` records,
or arXiv, OpenAlex and Semantic Scholar records in JSON (see :mod:`.scholarly`).

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
from .records import NoAbstract, from_fields
from .scholarly import fields_of, records_in

_NUMBER = re.compile(r"[\d\s.,:/+-]*\d[\d\s.,:/+-]*")  # "2020", "12.5", "2019-05-01"


def add_record(fields: dict, where: str, max_chars: int, result: ParseResult, label: str = "") -> None:
    """Append the document ``fields`` describe to ``result``, or its rejection.
    ``label`` names the record in the reason (a citation key, an id)."""
    try:
        result.documents.append(from_fields(fields, where, max_chars))
    except NoAbstract as exc:
        result.no_abstract += 1
        result.rejected.append(Rejection(where=where, reason=f"{label}: {exc}" if label else str(exc)))
    except ValueError as exc:
        result.rejected.append(Rejection(where=where, reason=f"{label}: {exc}" if label else str(exc)))


def _record(record: object, where: str, max_chars: int, result: ParseResult) -> None:
    """One JSON record of any recognised service (arXiv, OpenAlex, Semantic Scholar) or generic."""
    if not isinstance(record, dict):
        result.rejected.append(Rejection(where=where, reason=f"expected an object with 'abstract', got {type(record).__name__}"))
        return
    try:
        fields = fields_of(record)
    except ValueError as exc:
        result.rejected.append(Rejection(where=where, reason=str(exc)))
        return
    ident = record.get("id") or record.get("paperId")
    label = f"record {str(ident)[:60]!r}" if isinstance(ident, str) and ident.strip() else ""
    add_record(fields, where, max_chars, result, label)


def jsonl_line(number: int, line: str, source_name: str, max_record_chars: int, result: ParseResult) -> None:
    """Parse line ``number`` of a JSON Lines file into ``result``."""
    if not line.strip():
        return
    where = f"{source_name}:{number}"
    if len(line) > max_record_chars * 2:
        result.rejected.append(Rejection(where=where, reason=f"line is {len(line):,} characters, over the limit"))
        return
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as exc:
        result.rejected.append(Rejection(where=where, reason=_malformed(exc)))
        return
    except RecursionError:  # e.g. 50,000 nested brackets: the line goes, the file's other lines stay
        result.rejected.append(Rejection(where=where, reason="JSON nested too deeply to read"))
        return
    _record(fields, where, max_record_chars, result)


def parse_jsonl(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    result = ParseResult()
    for number, line in enumerate(text.splitlines(), start=1):
        jsonl_line(number, line, source_name, max_record_chars, result)
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
            add_record({k: v for k, v in zip(header, row)}, where, max_record_chars, result)
    return result


def parse_json(text: str, source_name: str, max_record_chars: int) -> ParseResult:
    """A JSON document: a list of records, an API response wrapping one, or one record.
    Each record is named by the line it starts on. A syntax error stops the reading
    there (JSON cannot be resynchronised); the records before it are kept."""
    result = ParseResult()
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if text.startswith("[", pos):  # read the array element by element to know each one's line
        pos = _skip(text, pos + 1)
        counted, line = 0, 1  # newlines counted up to ``counted``: each element costs its own length
        while pos < len(text) and text[pos] != "]":
            line, counted = line + text.count("\n", counted, pos), pos
            where = f"{source_name}:{line}"
            try:
                record, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                why = f"{_malformed(exc)}; the rest of the file is not read"
                result.rejected.append(Rejection(where=f"{source_name}:{exc.lineno}", reason=why))
                return result
            except RecursionError:
                result.rejected.append(Rejection(where=where, reason="JSON nested too deeply to read; the rest of the file is not read"))
                return result
            _record(record, where, max_record_chars, result)
            pos = _skip(text, pos)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
            elif not text.startswith("]", pos):
                line += text.count("\n", counted, pos)
                why = "malformed JSON (expected ',' or ']'); the rest of the file is not read"
                result.rejected.append(Rejection(where=f"{source_name}:{line}", reason=why))
                return result
        return result
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        result.rejected.append(Rejection(where=f"{source_name}:{exc.lineno}", reason=_malformed(exc)))
        return result
    except RecursionError:
        result.rejected.append(Rejection(where=source_name, reason="JSON nested too deeply to read"))
        return result
    records = records_in(data)
    if records is None:
        result.rejected.append(Rejection(where=source_name, reason=f"expected a list of records or an object, got {type(data).__name__}"))
        return result
    lines = _Lines(text)
    for i, record in enumerate(records):
        _record(record, f"{source_name}:{lines.of(record, i)}", max_record_chars, result)
    return result


_ID_MEMBER = re.compile(r'"(id|paperId)"\s*:\s*"((?:[^"\\]|\\.)*)"')


class _Lines:
    """Where each record of a wrapped list starts, found by its id member (records come
    in file order, so the search goes on from the last one found: linear in the file;
    an ``"id"`` of a nested object or a mention in another record is passed over)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1
        self.lost = False  # an id not found once: the rest are numbered (no rescans of the file)

    def of(self, record: object, index: int) -> str:
        if not isinstance(record, dict) or self.lost:
            return f"record {index + 1}"
        ids = [(key, value) for key in ("id", "paperId") if isinstance(value := record.get(key), str) and value]
        wanted = {(key, json.dumps(value, ensure_ascii=ascii)[1:-1]) for key, value in ids for ascii in (True, False)}
        if wanted:
            at = self.pos
            while found := _ID_MEMBER.search(self.text, at):
                if (found.group(1), found.group(2)) in wanted:
                    self.line += self.text.count("\n", self.pos, found.start())
                    self.pos = found.start()
                    return str(self.line)
                at = found.end()
            self.lost = True
        return f"record {index + 1}"


def _malformed(exc: json.JSONDecodeError) -> str:
    """``malformed JSON (Expecting value, column 5)``; ``(Unterminated string starting at column 31)``."""
    where = f" column {exc.colno}" if exc.msg.endswith(" at") else f", column {exc.colno}"
    return f"malformed JSON ({exc.msg}{where})"


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
