"""Typed errors. The CLI turns each into one clean line; the API lets them propagate.

Every error that concerns user input names the file (or field) and the reason, so a
user can fix the input without reading a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from typing import Any


class RagError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigError(RagError):
    """A setting is missing, contradictory or points at something unusable."""


class InputError(RagError):
    """User input (a path, a file, a record) cannot be used."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class StoreError(RagError):
    """The vector store cannot be opened or written."""


class EmbeddingError(RagError):
    """The embedding backend failed or returned something unusable."""


class LLMError(RagError):
    """The language model backend failed (not reachable, bad reply, overflow)."""


def first_problem(errors: Sequence[Mapping[str, Any]], *, env_prefix: str | None = None) -> tuple[str, str]:
    """The first problem of a pydantic validation as ``(where, reason)``: ``where`` is the
    dotted field path (request bodies drop their ``body`` root), or the environment
    variable when ``env_prefix`` is given (``RAG_CHUNK_SIZE``); ``reason`` is pydantic's
    message without its "Value error, " prefix. Every interface reports invalid input
    through this one function, so the same mistake reads the same everywhere."""
    if not errors:
        return ("input", "invalid input")
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if env_prefix is not None:
        where = env_prefix + loc[0].upper() if loc else "settings"
    else:
        where = ".".join(loc) or "body"
    return where, str(first.get("msg", "invalid")).removeprefix("Value error, ")


def one_line(errors: Sequence[Mapping[str, Any]], *, env_prefix: str | None = None) -> str:
    """``first_problem`` as the one line users see: ``where: reason``."""
    where, reason = first_problem(errors, env_prefix=env_prefix)
    return f"{where}: {reason}"


def brief(exc: BaseException) -> str:
    """An exception as one short line (Chroma's and tantivy's messages can span many)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def remedy(exc: BaseException, *, writing: bool = False) -> str:
    """The way out of a store failure whose cause we can name ("; ..."), or "": one rule
    for the vector store and the lexical index."""
    text = str(exc).lower()
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "disk is full" in text or "no space left" in text:
        if writing:
            return "; the disk is full: free space and run the ingest again (it finishes what was cut off)"
        return "; the disk is full: free space and retry (nothing stored was changed)"
    return ""
