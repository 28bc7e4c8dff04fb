"""Merge records that are the same paper.

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


def deduplicate(docs: list[Document], threshold: float) -> tuple[list[Document], int]:
    """Return the unique documents (first occurrence wins, longest text kept) and the duplicate count."""
    kept: dict[str, Document] = {}
    duplicates = 0
    for doc in docs:
        if doc.doc_id in kept:
            first = kept[doc.doc_id]
            first.also_in.append(doc.source)
            first.doi, first.url = first.doi or doc.doi, first.url or doc.url  # a link one copy gives is kept
            duplicates += 1
        else:
            kept[doc.doc_id] = doc
    unique = list(kept.values())

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
        keep, drop = unique[i], unique[j]
        if len(drop.abstract) > len(keep.abstract):  # keep the fuller text, first source
            keep.abstract, keep.doc_id = drop.abstract, drop.doc_id
        keep.title = keep.title or drop.title
        keep.authors = keep.authors or drop.authors
        keep.year = keep.year or drop.year
        keep.doi = keep.doi or drop.doi
        keep.url = keep.url or drop.url
        keep.also_in.extend([drop.source, *drop.also_in])
        duplicates += 1
    return [d for k, d in enumerate(unique) if k not in merged_into], duplicates
