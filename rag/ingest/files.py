"""Find input files and read them safely.

Each problem with a file becomes a :class:`~rag.models.Rejection` naming the file and
the reason; a missing path or a directory with nothing to read is an
:class:`~rag.errors.InputError`, raised before anything is written.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

SUPPORTED = {".txt": "raw", ".text": "raw", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


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


def read_text(path: Path, max_mb: float) -> str:
    """Read a file as UTF-8 text or raise InputError saying why it cannot be."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(str(path), "empty file")
    if size > max_mb * 1024 * 1024:
        raise InputError(str(path), f"file is {size / 1e6:.0f} MB, over the {max_mb:g} MB limit (RAG_MAX_FILE_MB)")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise InputError(str(path), "binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text (invalid byte at offset {exc.start}); re-save it as UTF-8") from None
    if not text.strip():
        raise InputError(str(path), "empty file (only whitespace)")
    return text
