"""Turning parsed fields into :class:`~rag.models.Document` records with stable ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..models import Document

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Case-, space- and punctuation-insensitive form used for ids and duplicate checks.

    Spaces are dropped entirely because scraped pages split words at fixed widths
    ("the source d omain"); the same abstract must hash the same either way.
    """
    return _NON_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def doc_id_for(abstract: str) -> str:
    return hashlib.sha256(normalize(abstract).encode("utf-8")).hexdigest()[:16]


def clean(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def make_document(
    abstract: str,
    source: str,
    title: str = "",
    authors: list[str] | None = None,
    year: int | None = None,
    doi: str | None = None,
    url: str | None = None,
) -> Document:
    abstract = clean(abstract)
    authors = [clean(a) for a in authors if clean(a)] if authors else None
    return Document(
        doc_id=doc_id_for(abstract),
        title=clean(title),
        abstract=abstract,
        authors=authors or None,
        year=year,
        doi=doi,
        url=url,
        source=source,
    )
