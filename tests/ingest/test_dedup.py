from __future__ import annotations

from rag.ingest.dedup import deduplicate
from rag.ingest.records import make_document

from ..helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C


def doc(text: str, source: str, title: str = ""):
    return make_document(abstract=text, source=source, title=title)


def test_exact_duplicates_merge_and_remember_where_else_they_were():
    docs = [doc(ABSTRACT_A, "a.txt:1", "T"), doc(ABSTRACT_B, "a.txt:2"), doc(ABSTRACT_A.lower(), "b.txt:9")]
    unique, dups = deduplicate(docs, 0.8)
    assert dups == 1 and len(unique) == 2
    assert unique[0].also_in == ["b.txt:9"] and unique[0].title == "T"


def test_near_duplicate_with_an_edited_word_merges():
    edited = ABSTRACT_A.replace("release our code", "publish our code")
    unique, dups = deduplicate([doc(ABSTRACT_A, "a:1"), doc(edited, "b:1")], 0.8)
    assert dups == 1 and len(unique) == 1


def test_truncated_copy_merges_into_the_full_text():
    truncated = ABSTRACT_C[: len(ABSTRACT_C) * 2 // 3] + "..."
    unique, dups = deduplicate([doc(truncated, "list:1", "Drafts"), doc(ABSTRACT_C, "page:4")], 0.8)
    assert dups == 1 and len(unique) == 1
    assert unique[0].abstract == ABSTRACT_C  # the fuller text wins
    assert unique[0].title == "Drafts" and unique[0].source == "list:1" and unique[0].also_in == ["page:4"]


def test_different_papers_are_kept_apart():
    unique, dups = deduplicate([doc(ABSTRACT_A, "a"), doc(ABSTRACT_B, "b"), doc(ABSTRACT_C, "c")], 0.8)
    assert dups == 0 and len(unique) == 3


def test_a_link_only_one_copy_gives_is_kept():
    plain = doc(ABSTRACT_A, "a:1")
    linked = make_document(abstract=ABSTRACT_A.lower(), source="b:1", doi="10.1234/x", url="https://x.org/a")
    truncated = make_document(abstract=ABSTRACT_C[: len(ABSTRACT_C) * 2 // 3], source="c:1", url="https://arxiv.org/abs/2401.00001")
    unique, _ = deduplicate([plain, linked, doc(ABSTRACT_C, "d:1"), truncated], 0.8)
    assert [(d.doi, d.url) for d in unique] == [("10.1234/x", "https://x.org/a"), (None, "https://arxiv.org/abs/2401.00001")]
