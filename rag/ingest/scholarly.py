"""Records from scholarly metadata services, mapped onto the common fields.

Each record is recognised by its own keys, so one file may mix them:

* arXiv metadata snapshot (one JSON object per line): ``id``, ``title``, ``abstract``,
  ``authors``/``authors_parsed``, ``versions``, ``update_date``, ``categories``;
  title and abstract are LaTeX source.
* OpenAlex works: ``abstract_inverted_index`` (word -> positions) rebuilt into text,
  ``display_name``/``title``, ``publication_year``, ``authorships``, ``doi``, ``ids``,
  ``primary_location``.
* Semantic Scholar papers: ``paperId``, ``title``, ``abstract``, ``authors`` (objects
  with ``name``), ``year``, ``externalIds`` (``DOI``, ``ArXiv``), ``venue``.

Anything else is taken as the generic ``title``/``abstract``/``authors``/``year``
record (keys case-insensitive). API responses that wrap a list (OpenAlex
``{"results": [...]}``, Semantic Scholar ``{"data": [...]}``) are unwrapped by the
JSON reader (:func:`records_in`).
"""

from __future__ import annotations

import re
from typing import Any

from .latex import latex_text

_ARXIV_ID = re.compile(r"^(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?$", re.I)
_RFC2822_YEAR = re.compile(r"\b((?:19|20)\d{2})\b")
MAX_INVERTED_WORDS = 20_000  # positions in an OpenAlex abstract; far past any real abstract


def kind_of(record: dict) -> str:
    if "abstract_inverted_index" in record or str(record.get("id", "")).startswith("https://openalex.org/"):
        return "openalex"
    if "paperId" in record or "externalIds" in record:
        return "semantic_scholar"
    if isinstance(record.get("id"), str) and _ARXIV_ID.match(record["id"]) and (
        "authors_parsed" in record or "versions" in record or "update_date" in record or "categories" in record
    ):
        return "arxiv"
    return "generic"


def fields_of(record: dict) -> dict[str, Any]:
    """The common lower-cased fields of one record, whatever service it came from."""
    kind = kind_of(record)
    if kind == "openalex":
        return _openalex(record)
    if kind == "semantic_scholar":
        return _semantic_scholar(record)
    if kind == "arxiv":
        return _arxiv(record)
    return {str(k).strip().lower(): v for k, v in record.items()}


def records_in(data: Any) -> list[Any] | None:
    """The records of a parsed JSON document: a list, an API response wrapping one, or a
    single record; None when it holds none of these."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("results", "data", "works", "papers", "records"):
            if isinstance(data.get(key), list) and "abstract" not in data:
                return data[key]
        return [data]
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _arxiv(record: dict) -> dict[str, Any]:
    authors: list[str] = []
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list):
        for parts in parsed:
            if isinstance(parts, list) and parts:
                last, first, suffix = (list(map(_text, parts)) + ["", ""])[:3]
                authors.append(latex_text(" ".join(p for p in (first, last, suffix) if p)))
    elif isinstance(record.get("authors"), str):
        authors = [latex_text(a) for a in re.split(r",\s*|\s+and\s+", record["authors"]) if a.strip()]
    year = None
    versions = record.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):  # first submission
        m = _RFC2822_YEAR.search(_text(versions[0].get("created")))
        year = m.group(1) if m else None
    year = year or _text(record.get("update_date"))[:4] or None
    return {
        "title": latex_text(_text(record.get("title"))),
        "abstract": latex_text(_text(record.get("abstract"))) if record.get("abstract") else record.get("abstract"),
        "authors": authors or None,
        "year": year,
        "doi": record.get("doi"),
        "arxiv_id": record.get("id"),
        "venue": _text(record.get("journal-ref")) or None,
    }


def inverted_abstract(index: object) -> str | None:
    """OpenAlex's ``abstract_inverted_index`` ({word: [positions]}) as text."""
    if not isinstance(index, dict) or not index:
        return None
    placed: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(positions, list):
            raise ValueError("field 'abstract_inverted_index' must map words to position lists")
        for pos in positions:
            if not isinstance(pos, int) or not 0 <= pos < MAX_INVERTED_WORDS:
                raise ValueError(f"field 'abstract_inverted_index': bad position {str(pos)[:20]!r} for {str(word)[:40]!r}")
            placed[pos] = str(word)
    return " ".join(placed[p] for p in sorted(placed))


def _openalex(record: dict) -> dict[str, Any]:
    authors = []
    for authorship in record.get("authorships") or []:
        if isinstance(authorship, dict):
            name = _dict(authorship.get("author")).get("display_name")
            name = name or authorship.get("raw_author_name")
            if isinstance(name, str) and name.strip():
                authors.append(name)
    ids = _dict(record.get("ids"))
    location = _dict(record.get("primary_location"))
    source = _dict(location.get("source"))
    abstract = record.get("abstract")
    if not (isinstance(abstract, str) and abstract.strip()):
        abstract = inverted_abstract(record.get("abstract_inverted_index"))
    return {
        "title": _text(record.get("display_name")) or _text(record.get("title")),
        "abstract": abstract,
        "authors": authors or None,
        "year": record.get("publication_year") or _text(record.get("publication_date"))[:4] or None,
        "doi": record.get("doi") or ids.get("doi"),
        "arxiv_id": ids.get("arxiv"),
        "url": location.get("landing_page_url"),
        "venue": _text(source.get("display_name")) or None,
    }


def _semantic_scholar(record: dict) -> dict[str, Any]:
    external = _dict(record.get("externalIds"))
    authors = [a.get("name") for a in record.get("authors") or [] if isinstance(a, dict) and isinstance(a.get("name"), str)]
    venue = record.get("venue")
    if not venue:
        venue = _dict(record.get("journal")).get("name")
    return {
        "title": record.get("title"),
        "abstract": record.get("abstract"),
        "authors": authors or None,
        "year": record.get("year"),
        "doi": external.get("DOI"),
        "arxiv_id": external.get("ArXiv"),
        "url": record.get("url"),
        "venue": venue if isinstance(venue, str) else None,
    }
