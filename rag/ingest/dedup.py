"""Merge records that are the same paper.

Records naming the same DOI or arXiv id are one paper (the same paper from a BibTeX
export and from arXiv's metadata, whose abstracts differ in LaTeX and revisions),
unless both have titles and the titles share too few words: a proceedings volume's
DOI pasted into every entry of a .bib file must not merge different papers.

Exact duplicates share a ``doc_id`` (the hash of the case/space/punctuation
normalised abstract). Near duplicates (a re-scraped abstract with a changed word,
or one page truncating what another shows in full) are found by word-shingle
overlap: Jaccard at or above the threshold, or one abstract contained in the other.

Written here rather than with a MinHash library because we want exact, repeatable
decisions (MinHash is approximate), and an inverted index over shingles already
keeps the candidate pairs linear in practice.
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..models import Document

_WORD = re.compile(r"\w+", re.UNICODE)
SHINGLE = 5
COMMON_SHINGLE_DOCS = 50  # shingles shared by this many papers are stock phrases
CONTAINMENT = 0.85


def shingles(text: str) -> set[int]:
    words = _WORD.findall(text.casefold())
    if len(words) < SHINGLE:
        return {hash(tuple(words))}
    return {hash(tuple(words[i : i + SHINGLE])) for i in range(len(words) - SHINGLE + 1)}


TITLE_OVERLAP = 0.5  # share of title words two records with one identifier must have in common


def identifiers(doc: Document) -> list[str]:
    """The keys under which two records are the same paper."""
    keys = [f"doi:{doc.doi.lower()}"] if doc.doi else []
    return keys + [f"arxiv:{doc.arxiv_id.lower()}"] if doc.arxiv_id else keys


def same_title(a: str, b: str) -> bool:
    """Whether two titles can be the same paper's (an empty one can)."""
    wa, wb = set(_WORD.findall(a.casefold())), set(_WORD.findall(b.casefold()))
    if not wa or not wb:
        return True
    return len(wa & wb) / min(len(wa), len(wb)) >= TITLE_OVERLAP


def merge(keep: Document, drop: Document, *, text: bool = True) -> None:
    """Fold ``drop`` into ``keep``: the fuller abstract (when ``text``), and every field
    only one of them has."""
    if text and len(drop.abstract) > len(keep.abstract):
        keep.abstract, keep.doc_id = drop.abstract, drop.doc_id
    for name in ("title", "authors", "year", "doi", "url", "arxiv_id", "cite_key", "venue"):
        if not getattr(keep, name):
            setattr(keep, name, getattr(drop, name))
    keep.also_in.extend([drop.source, *drop.also_in])


def deduplicate(docs: list[Document], threshold: float) -> tuple[list[Document], int]:
    """Return the unique documents (first occurrence wins, longest text kept) and the duplicate count."""
    kept: dict[str, Document] = {}
    duplicates = 0
    for doc in docs:
        if doc.doc_id in kept:
            merge(kept[doc.doc_id], doc, text=False)
            duplicates += 1
        else:
            kept[doc.doc_id] = doc
    by_identifier: dict[str, Document] = {}
    unique = []
    for doc in kept.values():
        first = next((f for key in identifiers(doc) if (f := by_identifier.get(key)) and same_title(f.title, doc.title)), None)
        if first is not None:
            merge(first, doc)
            duplicates += 1
            continue
        for key in identifiers(doc):
            by_identifier.setdefault(key, doc)
        unique.append(doc)

    sets = [shingles(d.abstract) for d in unique]
    postings: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for h in s:
            postings[h].append(i)
    merged_into: dict[int, int] = {}
    for i, s in enumerate(sets):
        if i in merged_into:
            continue
        overlap: dict[int, int] = defaultdict(int)
        for h in s:
            docs_with = postings[h]
            if len(docs_with) > COMMON_SHINGLE_DOCS:
                continue
            for j in docs_with:
                if j > i and j not in merged_into:
                    overlap[j] += 1
        for j, shared in overlap.items():
            union = len(s) + len(sets[j]) - shared
            smaller = min(len(s), len(sets[j]))
            if shared / union >= threshold or shared / smaller >= CONTAINMENT:
                merged_into[j] = i
    for j, i in merged_into.items():
        merge(unique[i], unique[j])  # the fuller text, the first source
        duplicates += 1
    return [d for k, d in enumerate(unique) if k not in merged_into], duplicates
