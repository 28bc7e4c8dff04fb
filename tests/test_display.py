"""LaTeX shown as plain text, untitled papers named: on output only, the store unchanged."""

from __future__ import annotations

import json

import pytest

from rag.display import paper_name, plain


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("2.4$\\times$ faster", "2.4× faster"),
        ("only 1.64\\% of the size", "only 1.64% of the size"),
        ("$\\alpha$-decay", "α-decay"),
        ("F1 of 90.1 \\pm 0.2", "F1 of 90.1 ± 0.2"),
        ("a \\textbf{bold} move", "a bold move"),
        ("cost is $5 and $10", "cost is $5 and $10"),  # money, not math
        ("path C:\\Users\\x", "path C:\\Users\\x"),  # an unknown command stays
        ("no latex at all", "no latex at all"),
    ],
)
def test_plain(raw, shown):
    assert plain(raw) == shown


def test_an_untitled_paper_is_named_by_its_first_words():
    assert paper_name("", "However, since draft models are often unavailable in the modern open-source LLM families") == (
        "Since draft models are often unavailable in the…"
    )
    assert paper_name("A $\\beta$ title", "x") == "A β title"
    assert paper_name("", "") == "Untitled paper"


def test_answers_and_documents_read_plain_while_the_store_keeps_the_latex(assistant, tmp_path):
    abstract = (
        "We present Drafter, a draft model for speculative decoding of chat models. "
        "Drafter is only 1.64\\% of the target model's size and speeds decoding up 2.4$\\times$ on chat benchmarks."
    )
    path = tmp_path / "papers.jsonl"
    path.write_text(json.dumps({"title": "", "abstract": abstract}) + "\n")
    assistant.ingest([path])
    hit = assistant.search("Drafter draft model speculative decoding", k=1)[0]
    assert "1.64%" in hit.text and "\\%" not in hit.text and hit.name.startswith("We present Drafter")
    doc = assistant.document(hit.doc_id)
    assert doc is not None and "2.4×" in doc.abstract and doc.name.startswith("We present Drafter")
    assert "\\%" in assistant.store.get_document(hit.doc_id).abstract  # stored as ingested
    answer = assistant.ask("How much faster is Drafter, and how big is it?")
    assert "\\" not in answer.text and "$" not in answer.text
    for c in answer.citations:
        assert c.name and all(q in doc.abstract for q in c.quotes if c.doc_id == doc.doc_id)  # the page highlights them


def test_a_cleaned_quote_is_found_in_the_cleaned_abstract():
    """The page highlights a citation's quotes inside the abstract from /documents/{id}:
    both are cleaned by ``plain``, sentence by sentence or whole, and still match."""
    from rag.answer.text import sentences

    abstract = (
        "We study drafting with $\\alpha$-decay schedules. Our drafter is only 1.64\\% of the target's size. "
        "It speeds decoding up 2.4$\\times$ and costs $5 per run, see \\url{https://example.org/code}."
    )
    shown = plain(abstract)
    assert "\\" not in shown and "α-decay" in shown and "2.4×" in shown and "$5" in shown
    for sentence in sentences(abstract):
        assert plain(sentence) in shown, sentence
