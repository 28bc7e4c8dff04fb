"""Turning parsed fields into :class:`~rag.models.Document` records with stable ids.

Every format ends here: a parser maps its own field names onto ``abstract``, ``title``,
``authors``, ``year``, ``doi``, ``url``/``link``, ``arxiv_id``, ``cite_key`` and
``venue`` and calls :func:`from_fields`, so a rule (what a year is, how authors are
split, what is too long) is the same for every format.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..models import Document
from .identifiers import links

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_YEAR = re.compile(r"(?:19|20)\d{2}")


class NoAbstract(ValueError):
    """A record that is well formed but has no abstract: counted and named in the report."""


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
    arxiv_id: str | None = None,
    cite_key: str | None = None,
    venue: str | None = None,
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
        arxiv_id=arxiv_id,
        cite_key=clean(cite_key)[:200] if cite_key and clean(cite_key) else None,
        venue=clean(venue)[:300] if venue and clean(venue) else None,
        source=source,
    )


def authors_of(value: object) -> list[str] | None:
    if value in (None, ""):
        return None
    if isinstance(value, list):
        return [str(a) for a in value if str(a).strip()]
    return [a.strip() for a in re.split(r"\s*[;,]\s*|\s+and\s+", str(value)) if a.strip()]


def year_of(value: object) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(f"field 'year' must be a year, got {value!r}")
    if isinstance(value, int):
        year = value
    else:
        m = _YEAR.search(str(value))
        if not m:
            raise ValueError(f"field 'year' must be a year, got {str(value)[:40]!r}")
        year = int(m.group(0))
    if not 1000 <= year <= 2999:
        raise ValueError(f"field 'year' out of range: {year}")
    return year


def _text(fields: dict, name: str) -> str:
    value = fields.get(name) or ""
    if not isinstance(value, str):
        raise ValueError(f"field '{name}' must be text")
    return value


def from_fields(fields: dict, source: str, max_chars: int) -> Document:
    """The document a record's (lower-cased) fields describe, or ValueError saying why
    not (:class:`NoAbstract` when it simply has none)."""
    abstract = fields.get("abstract")
    if abstract is not None and not isinstance(abstract, str):
        raise ValueError("field 'abstract' must be text")
    if not abstract or not abstract.strip():
        raise NoAbstract("no abstract (the 'abstract' field is missing or empty)")
    if len(abstract) > max_chars:
        raise ValueError(f"abstract is {len(abstract):,} characters, over the {max_chars:,} limit")
    return make_document(
        abstract=abstract,
        title=_text(fields, "title"),
        authors=authors_of(fields.get("authors")),
        year=year_of(fields.get("year")),
        source=source,
        cite_key=_text(fields, "cite_key") or None,
        venue=_text(fields, "venue") or None,
        **links(fields).fields(),
    )
