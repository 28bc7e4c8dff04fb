"""BibTeX and RIS exports parse back (with the libraries that wrote them) to the papers."""

from __future__ import annotations

import bibtexparser
import pytest
import rispy

from rag.errors import InputError
from rag.export import bibtex, cite_key, markdown, ris
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
    answer = Answer(question="q", text="X is fast [1].", citations=[Citation(n=1, doc_id="a1", title="T", year=2021, source="s:1")])
    assert markdown(answer) == "X is fast [1].\n\n**References**\n\n- [1] T (2021). s:1 · a1\n"


def test_assistant_export_names_an_unknown_id(assistant, corpus_copy):
    assistant.ingest([corpus_copy])
    doc_id = assistant.search("language models", k=1)[0].doc_id
    assert assistant.export([doc_id], "ris").startswith("TY  - JOUR")
    with pytest.raises(InputError) as caught:
        assistant.export([doc_id, "nope"], "bibtex")
    assert str(caught.value) == "doc_ids: no stored document 'nope'"
    with pytest.raises(InputError):
        assistant.export([doc_id], "endnote")
