"""BibTeX and RIS exports parse back (with the libraries that wrote them) to the papers."""

from __future__ import annotations

import bibtexparser
import pytest
import rispy

from rag.errors import InputError
from rag.export import bibtex, cite_key, markdown, plain_text, reference_line, ris
from rag.models import Answer, Citation, Document

DOCS = [
    Document(doc_id="a1", title="Analytical {Engines} for $\\alpha$ decay", abstract="We propose X. It is 2.4$\\times$ faster.",
             authors=["Ada Lovelace", "Alan Turing"], year=2021, source="papers.jsonl:1"),
    Document(doc_id="b2", title="", abstract="An untitled abstract with } a stray brace.", source="page.txt:7"),
    Document(doc_id="c3", title="Analytical methods", abstract="Same key.", authors=["Lovelace, Ada"], year=2021, source="x.csv:2"),
]


def test_bibtex_parses_back_to_the_papers():
    library = bibtexparser.parse_string(bibtex(DOCS))
    assert not library.failed_blocks
    entries = library.entries
    assert [e.key for e in entries] == ["lovelace2021analytical", "docb2", "lovelace2021analyticala"]
    first = entries[0].fields_dict
    assert first["author"].value == "Ada Lovelace and Alan Turing" and first["year"].value == "2021"
    assert "Engines" in first["title"].value and "papers.jsonl:1" in first["note"].value


def test_ris_parses_back_to_the_papers():
    records = rispy.loads(ris(DOCS))
    assert [r["type_of_reference"] for r in records] == ["JOUR"] * 3
    assert records[0]["authors"] == ["Ada Lovelace", "Alan Turing"] and records[0]["year"] == "2021"
    assert records[1]["abstract"] == DOCS[1].abstract and "year" not in records[1]


def test_cite_keys_fall_back_to_the_doc_id():
    assert cite_key(DOCS[1]) == "docb2"


def test_markdown_lists_the_references_after_the_answer():
    answer = Answer(question="q", text="X is fast [1].", citations=[Citation(n=1, doc_id="a1", title="T", name="T", year=2021, source="s:1")])
    assert markdown(answer) == "X is fast [1].\n\n**References**\n\n- [1] T (2021). s:1 · a1\n"


def test_a_reference_line_is_name_year_authors_link():
    authors = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]
    doi = Citation(n=2, doc_id="a1", title="T", name="T", year=2021, authors=authors[:2], doi="10.1234/x", url="https://x.org/p")
    assert reference_line(doi) == "[2] T (2021). Ada Lovelace, Alan Turing. https://doi.org/10.1234/x"
    many = Citation(n=3, doc_id="b2", name="We propose X…", authors=authors, url="https://arxiv.org/abs/2401.01234")
    assert reference_line(many) == "[3] We propose X… (year unknown). Ada Lovelace, Alan Turing, Grace Hopper et al. https://arxiv.org/abs/2401.01234"
    answer = Answer(question="q", text="X [2]. Y [3].", citations=[doi, many])
    assert plain_text(answer).splitlines()[-2:] == [reference_line(doi), reference_line(many)]


def test_assistant_export_names_an_unknown_id(assistant, corpus_copy):
    assistant.ingest([corpus_copy])
    doc_id = assistant.search("language models", k=1)[0].doc_id
    assert assistant.export([doc_id], "ris").startswith("TY  - JOUR")
    with pytest.raises(InputError) as caught:
        assistant.export([doc_id, "nope"], "bibtex")
    assert str(caught.value) == "doc_ids: no stored document 'nope'"
    with pytest.raises(InputError):
        assistant.export([doc_id], "endnote")


def test_a_records_doi_and_link_are_kept_and_exported(assistant, tmp_path):
    import json

    rows = [
        {"title": "Paper With DOI", "abstract": "We propose a method with a digital object identifier.", "doi": "https://doi.org/10.1234/abc.5"},
        {"title": "Paper On arXiv", "abstract": "We propose a method posted as a preprint on arXiv.", "arxiv_id": "2401.01234v2"},
        {"title": "Paper With Junk", "abstract": "We propose a method whose record has a broken link.", "url": "javascript:alert(1)", "doi": "nope"},
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assistant.ingest([path])
    docs = {d.title: d for d in (assistant.document(h.doc_id) for h in assistant.search("We propose a method", k=10)) if d}
    assert (docs["Paper With DOI"].doi, docs["Paper With DOI"].url) == ("10.1234/abc.5", "https://doi.org/10.1234/abc.5")
    assert (docs["Paper On arXiv"].arxiv_id, docs["Paper On arXiv"].url) == ("2401.01234", "https://arxiv.org/abs/2401.01234")
    assert docs["Paper With Junk"].doi is None and docs["Paper With Junk"].url is None
    text = assistant.export([docs["Paper With DOI"].doc_id], "bibtex")
    assert bibtexparser.parse_string(text).entries[0].fields_dict["doi"].value == "10.1234/abc.5"
