"""A record's identifiers (DOI, arXiv id) and link, read from whichever field holds them.

The same paper arrives with its identifiers in different places: a BibTeX entry from
Zotero has ``eprint = {2101.00001}`` or ``journal = {arXiv preprint arXiv:2101.00001}``
or an arxiv.org URL; arXiv's own metadata has ``id``; arXiv's DataCite DOI
``10.48550/arXiv.2101.00001`` is the same paper again. They are normalised here so
duplicate detection can compare them: DOIs lower-cased (they are case-insensitive),
arXiv ids without their version. A malformed identifier is left out, never an error:
the abstract is what matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)?(10\.\d{4,9}/\S{1,200})$", re.I)
_ARXIV_ID = r"(\d{4}\.\d{4,5}|[a-z-]+(?:\.[a-z]{2})?/\d{7})(?:v\d+)?"
_ARXIV = re.compile(rf"^(?:arxiv:\s*)?{_ARXIV_ID}$", re.I)
_ARXIV_IN_TEXT = re.compile(rf"\barxiv[:\s]\s*{_ARXIV_ID}\b", re.I)  # "arXiv preprint arXiv:2101.00001"
_ARXIV_URL = re.compile(rf"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/{_ARXIV_ID}(?:\.pdf)?/?$", re.I)
_ARXIV_DOI = re.compile(rf"^10\.48550/arxiv\.{_ARXIV_ID}$", re.I)


def doi(value: object) -> str | None:
    """The bare DOI (lower case) of ``10.1/x``, ``doi:10.1/x`` or ``https://doi.org/10.1/x``."""
    if isinstance(value, str) and (m := _DOI.match(value.strip())):
        return m.group(1).lower()
    return None


def arxiv_id(value: object) -> str | None:
    """The versionless arXiv id of ``2101.00001v2``, ``arXiv:2101.00001``, ``hep-th/9901001``,
    an arxiv.org abs/pdf link or an arXiv DOI."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    for pattern in (_ARXIV, _ARXIV_URL, _ARXIV_DOI):
        if m := pattern.match(value):
            return m.group(1).lower() if "/" in m.group(1) else m.group(1)
    return None


def arxiv_in_text(value: object) -> str | None:
    """An arXiv id named inside free text such as a journal field."""
    if isinstance(value, str) and (m := _ARXIV_IN_TEXT.search(value)):
        return m.group(1)
    return None


def web_link(value: object) -> str | None:
    if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")) and len(value.strip()) <= 500:
        return value.strip()
    return None


@dataclass(frozen=True)
class Links:
    doi: str | None = None
    arxiv_id: str | None = None
    url: str | None = None

    def fields(self) -> dict[str, str]:
        return {k: v for k, v in (("doi", self.doi), ("arxiv_id", self.arxiv_id), ("url", self.url)) if v}


def links(fields: dict) -> Links:
    """DOI, arXiv id and a link from a record's (lower-cased) fields. An arXiv DOI is
    kept as the arXiv id; without a link, the arXiv abs page or the DOI's page is it."""
    found_doi = doi(fields.get("doi"))
    url = next((u for key in ("url", "link", "href") if (u := web_link(fields.get(key)))), None)
    arxiv = (
        arxiv_id(fields.get("arxiv_id") or fields.get("arxiv") or "")
        or (arxiv_id(found_doi) if found_doi else None)
        or (arxiv_id(url) if url else None)
        or arxiv_in_text(fields.get("journal"))
    )
    if found_doi and arxiv_id(found_doi):
        found_doi = None  # the DataCite DOI arXiv gives every paper: the arXiv id says it
    if url is None:
        url = f"https://arxiv.org/abs/{arxiv}" if arxiv else (f"https://doi.org/{found_doi}" if found_doi else None)
    return Links(doi=found_doi, arxiv_id=arxiv, url=url)
