from __future__ import annotations

import re

from rag.ingest.dedup import deduplicate
from rag.ingest.raw import parse_raw

from ..conftest import CORPUS
from ..helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C

BOILERPLATE = re.compile(r"Subscribe|Get trending|Daily Papers|byAK|authors$|اقرأ|mircosoft", re.I)


def parse(text: str):
    return parse_raw(text, "page.txt", 100_000)


def test_one_abstract_per_line_has_no_titles():
    result = parse(f"{ABSTRACT_A}\n{ABSTRACT_B}\n\n{ABSTRACT_C}\n")
    assert [d.abstract for d in result.documents] == [ABSTRACT_A, ABSTRACT_B, ABSTRACT_C]
    assert all(d.title == "" for d in result.documents)
    assert [d.source for d in result.documents] == ["page.txt:1", "page.txt:2", "page.txt:4"]


def test_listing_page_titles_years_and_boilerplate():
    page = (
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        "byAK and the research community\n\nDec 11\n\n"
        f"Low-Rank Compression of Transformers\n\n{ABSTRACT_A}\n\n  • 4 authors\n·\nMay 30, 2017\n\n"
        f"Heterophily-Aware Message Passing\n\n{ABSTRACT_B}\n\n  • 21 authors\n·\nDec 11, 2024 1\n"
    )
    docs = parse(page).documents
    assert [(d.title, d.year) for d in docs] == [
        ("Low-Rank Compression of Transformers", 2017),
        ("Heterophily-Aware Message Passing", 2024),
    ]
    assert docs[0].authors is None  # only a count is stated, no names


def test_alternating_titles_with_glued_boilerplate():
    page = (
        "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\n"
        f"SubscribeLow-Rank Compression of Transformers\n{ABSTRACT_A}\n"
        f"Heterophily-Aware Message Passing\n{ABSTRACT_B}\n"
    )
    docs = parse(page).documents
    assert [d.title for d in docs] == ["Low-Rank Compression of Transformers", "Heterophily-Aware Message Passing"]
    assert docs[0].source == "page.txt:4"  # the line the abstract is on


def test_academic_page_in_arabic_ui():
    page = (
        "ترغب بنشر مسار تعليمي؟ اضغط هنا\n\nLow-Rank Compression of Transformers\n\n167   0   0.0 ( 0 )\n"
        " نشر من قبل Klaudia Balazy\n تاريخ النشر 2021\n  مجال البحث الهندسة المعلوماتية\nوالبحث باللغة English\n\n\n"
        f"اسأل ChatGPT حول البحث\n\n{ABSTRACT_A}\n\nقيم البحث\n\nاقرأ أيضاً\n\n{ABSTRACT_B}\n"
        f"97 - Zewen Chi , Li Dong , Bo Zheng 2021\n{ABSTRACT_C}\nالتعليقات\nmircosoft-partner\n"
    )
    result = parse(page)
    main, related, ranked = result.documents
    assert (main.title, main.authors, main.year) == ("Low-Rank Compression of Transformers", ["Klaudia Balazy"], 2021)
    assert (related.title, related.authors, related.year) == ("", None, None)
    assert (ranked.authors, ranked.year) == (["Zewen Chi", "Li Dong", "Bo Zheng"], 2021)


def test_short_abstract_line_is_not_taken_for_a_title():
    short = "We show that attention heads can be pruned. Accuracy stays within one point on GLUE."
    docs = parse(f"{ABSTRACT_A}\n{short}\n").documents
    assert [d.abstract for d in docs] == [ABSTRACT_A, short]


def test_a_line_too_long_is_rejected_with_its_number_and_the_rest_kept():
    result = parse_raw(f"{ABSTRACT_A}\n{'x' * 5000}\n{ABSTRACT_B}\n", "big.txt", 1000)
    assert [d.abstract for d in result.documents] == [ABSTRACT_A, ABSTRACT_B]
    assert result.rejected[0].where == "big.txt:2" and "over the 1,000 limit" in result.rejected[0].reason


def test_doc_id_is_a_stable_content_hash():
    one = parse(ABSTRACT_A).documents[0]
    spaced = parse("  " + ABSTRACT_A.replace("method", "me thod").upper()).documents[0]
    assert one.doc_id == spaced.doc_id and len(one.doc_id) == 16
    assert one.doc_id != parse(ABSTRACT_B).documents[0].doc_id


def bundled_docs():
    docs = []
    for path in sorted(CORPUS.glob("*.txt")):
        result = parse_raw(path.read_text(encoding="utf-8"), path.name, 100_000)
        assert not result.rejected and not result.unused, path
        docs.extend(result.documents)
    return docs


def test_bundled_corpus_yields_every_abstract():
    docs = bundled_docs()
    long_lines = [
        line.strip()
        for path in sorted(CORPUS.glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line.strip()) > 250
    ]
    assert sorted(d.abstract for d in docs) == sorted(" ".join(line.split()) for line in long_lines)
    assert len(docs) == 309
    unique, duplicates = deduplicate(docs, 0.8)
    assert (len(unique), duplicates) == (307, 2)
    merged = [d for d in unique if d.also_in]
    assert sorted(d.title for d in merged) == sorted(
        [d.title for d in unique if d.title.startswith(("Large Concept Models", "Vector representations"))]
    )


def test_bundled_corpus_fields_are_clean():
    docs = bundled_docs()
    by_file: dict[str, list] = {}
    for d in docs:
        by_file.setdefault(d.source_file[:3], []).append(d)
    assert all(d.title == "" for d in by_file["000"] + by_file["001"])
    assert all(d.title and d.year for d in by_file["002"])
    assert all(d.title for d in by_file["003"])
    assert by_file["003"][0].title == "Incorporating Word Sense Disambiguation in Neural Language Models"
    assert by_file["004"][0].title.startswith("Direction is what you need")
    for d in docs:
        assert not BOILERPLATE.search(d.title), d.title
        assert not BOILERPLATE.search(d.abstract[:40]), d.abstract[:40]
        assert not re.search(r"[\u0600-\u06FF]", d.title + d.abstract)
