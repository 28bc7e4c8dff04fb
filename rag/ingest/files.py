"""Find input files and read them safely.

Each problem with a file becomes a :class:`~rag.models.Rejection` naming the file and
the reason; a missing path or a directory with nothing to read is an
:class:`~rag.errors.InputError`, raised before anything is written.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

SUPPORTED = {
    ".txt": "raw",
    ".text": "raw",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".ris": "ris",
}
_BIBTEX_START = re.compile(r"^\s*(?:%[^\n]*\n\s*)*@[A-Za-z]+\s*[{(]")
_RIS_START = re.compile(r"^\s*TY  - ", re.M)


def detect(path: Path, text: str) -> str:
    """The parser for a file: by its extension, corrected by its content where the two
    disagree in a way that is certain (a ``.txt`` that is a BibTeX or RIS export, a
    ``.jsonl`` holding one JSON array, a ``.json`` holding one object per line)."""
    kind = SUPPORTED[path.suffix.lower()]
    head = text[:4096]
    if kind == "raw":
        if _BIBTEX_START.match(head):
            return "bibtex"
        if _RIS_START.match(head) and re.search(r"^ER  -", text, re.M):
            return "ris"
    if kind == "jsonl" and head.lstrip().startswith("["):
        return "json"
    if kind == "json" and head.lstrip().startswith("{"):
        first, _, rest = text.lstrip().partition("\n")
        try:
            one = json.loads(first)
        except (json.JSONDecodeError, RecursionError):
            return kind
        if isinstance(one, dict) and rest.strip():
            return "jsonl"
    return kind


def discover(paths: list[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand paths into supported files (sorted) and the files skipped in directories."""
    if not paths:
        raise InputError("ingest", "no path given")
    files: list[Path] = []
    skipped: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(str(path), "no such file or directory")
        if path.is_dir():
            found: list[Path] = []
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                (found if child.suffix.lower() in SUPPORTED else skipped).append(child)
            if not found:
                kinds = ", ".join(sorted(SUPPORTED))
                raise InputError(str(path), f"directory holds no supported files ({kinds})")
            files.extend(found)
        elif path.suffix.lower() not in SUPPORTED:
            kinds = ", ".join(sorted(SUPPORTED))
            raise InputError(str(path), f"unsupported file type '{path.suffix or '(none)'}' (supported: {kinds})")
        else:
            files.append(path)
    # The same file named twice (or via a directory and directly) is read once.
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return unique, [str(p) for p in skipped]


STREAMED = {".jsonl", ".ndjson"}  # read line by line, whatever their size
HEAD_BYTES = 8192


def _check_head(path: Path, head: bytes) -> None:
    """The checks every file gets before it is parsed: not empty, not binary."""
    if not head:
        raise InputError(str(path), "empty file")
    if b"\x00" in head[:HEAD_BYTES]:
        raise InputError(str(path), "binary file (contains NUL bytes), not text")


def streamable(path: Path) -> bool:
    """Whether ``path`` is JSON Lines read line by line (not a ``.jsonl`` holding one JSON array)."""
    if path.suffix.lower() not in STREAMED:
        return False
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    _check_head(path, head)
    return not head.decode("utf-8-sig", errors="replace").lstrip().startswith("[")


def read_lines(path: Path, max_chars: int) -> Iterator[tuple[int, str, str, int]]:
    """Yield ``(line number, text, problem, bytes read)`` for each line of ``path`` without
    reading the file whole: memory stays at one line (at most ``max_chars`` characters)
    however large the file. ``problem`` says why a line has no text (not UTF-8, too long)."""
    with path.open("rb") as f:
        number = 0
        while raw := f.readline(max_chars * 4 + 2):  # UTF-8 is at most 4 bytes a character
            number += 1
            if not raw.endswith(b"\n") and len(raw) > max_chars * 4:
                while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass  # the rest of an over-long line is skipped, not held
                yield number, "", f"line is longer than {max_chars:,} characters, over the limit", f.tell()
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                where = f.tell() - len(raw) + exc.start
                yield number, "", f"not UTF-8 text (invalid byte at offset {where}); re-save the file as UTF-8", f.tell()
                continue
            yield number, text.rstrip("\r\n"), "", f.tell()


def read_text(path: Path, max_mb: float) -> str:
    """Read a file as UTF-8 text or raise InputError saying why it cannot be."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(str(path), "empty file")
    if size > max_mb * 1024 * 1024:
        raise InputError(str(path), f"file is {size / 1e6:.0f} MB, over the {max_mb:g} MB limit (RAG_MAX_FILE_MB)")
    data = path.read_bytes()
    _check_head(path, data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8") from None
    if not text.strip():
        raise InputError(str(path), "empty file (only whitespace)")
    return text
