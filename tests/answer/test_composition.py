"""Answer composition: the model's words compete with verbatim evidence, names and
numbers never travel between papers, quotes are the supporting sentences."""

from __future__ import annotations

import json

from rag.answer.answerer import looks_english
from rag.answer.evidence import Evidence, Source
from rag.answer.support import judge
from rag.models import Document
from rag.testing import FakeLLM

from ..helpers import write
from .conftest import TINYBERT, assert_well_cited

QUESTION = "How much smaller and faster than BERT is TinyBERT at inference?"


def test_a_citation_quotes_the_sentence_that_supports_the_claim(build):
    ans = build(FakeLLM(["TinyBERT is 7.5x smaller and 9.4x faster on inference than BERT."])).ask(QUESTION)
    (c,) = ans.citations
    assert c.quotes == [TINYBERT] and c.quote == TINYBERT  # not every sentence the model was shown


def test_a_name_or_number_never_travels_between_two_papers():
    def src(n: int, title: str, text: str) -> Source:
        return Source(n=n, doc=Document(doc_id=f"d{n}", title=title, abstract=text, source="x:1"), sentences=[text], scores=[0.9])

    a = src(1, "KNN-LM", "The KNN-LM interpolates a language model with nearest neighbours over a datastore.")
    b = src(2, "FlexiBERT", "FlexiBERT-Mini achieves an 8.9% higher GLUE score than the baseline model.")
    wrong = judge("The KNN-LM achieves an 8.9% higher GLUE score than the baseline model.", Evidence([a, b], 0.9), 0.5)
    assert wrong.sources == []
    both = judge("Both use a language model and a baseline model.", Evidence([a, b], 0.9), 0.5)
    assert both.sources  # a sentence without names or numbers may still join two papers


def test_a_quantity_answer_without_the_number_gets_the_sentence_that_states_it(build):
    llm = FakeLLM(["TinyBERT achieves comparable results with BERT in GLUE datasets while being smaller and faster."])
    *pieces, ans = build(llm).ask_stream(QUESTION.replace("How much smaller", "By how much is it smaller"))
    assert not ans.abstained and "7.5x" in ans.text and "9.4x" in ans.text
    assert "".join(p for p in pieces if isinstance(p, str)).strip() == ans.text  # held back until the number was found, then released
    assert_well_cited(ans)


def test_a_quantity_question_declines_when_no_evidence_states_a_number(build, tmp_path):
    a = build(FakeLLM(["Zyxquor networks keep accuracy close to dense models on every benchmark."]))
    text = "Zyxquor networks route tokens through learned prisms. They keep accuracy close to dense models on every benchmark."
    a.ingest([write(tmp_path / "z.jsonl", json.dumps({"title": "Zyxquor Networks", "abstract": text}) + "\n")])
    ans = a.ask("How many prisms do zyxquor networks route tokens through?")
    assert ans.abstained and "no number" in ans.abstain_reason


def test_a_named_thing_is_answered_even_far_from_every_sentence(build):
    def reply(messages):
        return "NOT IN SOURCES"

    a = build(FakeLLM(reply=reply), abstain_threshold=0.99, extractive_threshold=0.99)
    named = a.ask("What is TinyBERT?")  # short: far from every sentence by similarity, but the paper names it
    assert not named.abstained and named.extractive and "TinyBERT" in named.text
    assert a.ask("What is the boiling point of water on Mars?").abstained


def test_a_which_paper_question_names_the_paper(build):
    llm = FakeLLM(["Recent studies have shown the effectiveness of incorporating gloss (sense definition) into neural networks for WSD."])
    ans = build(llm).ask("Which paper puts dictionary definitions into BERT to work out the meaning of ambiguous words?")
    first = ans.citations[0]
    assert not ans.abstained and first.title and f'The paper is "{first.title}" [{first.n}].' in ans.text
    assert_well_cited(ans)


def test_a_question_in_another_language_is_translated_then_answered(build):
    def reply(messages):
        prompt = messages[-1]["content"]
        if prompt.startswith("Translate this question into English"):
            return QUESTION
        return "TinyBERT is 7.5x smaller and 9.4x faster on inference than BERT."

    llm = FakeLLM(reply=reply)
    ans = build(llm).ask("¿Cuánto más pequeño y rápido que BERT es TinyBERT en inferencia?")
    assert not ans.abstained and "7.5x" in ans.text and ans.standalone_question == QUESTION
    assert looks_english(QUESTION) and not looks_english("TinyBERT 的推理速度提升了多少？")


def test_a_source_title_copied_in_front_of_a_sentence_is_dropped(build):
    title = "GlossBERT: BERT for Word Sense Disambiguation with Gloss Knowledge"
    said = "Recent studies have shown the effectiveness of incorporating gloss (sense definition) into neural networks for WSD."
    ans = build(FakeLLM([f"{title}: {said}"])).ask("How do recent studies use glosses for word sense disambiguation?")
    assert ans.text.startswith(said[:-1]) and ans.citations[0].title == title


def test_a_decline_names_the_closest_papers(build):
    ans = build(FakeLLM(["NOT IN SOURCES"])).ask("How much smaller and faster than its teacher is the distilled student model at inference?")
    assert ans.abstained and ans.citations == [] and 1 <= len(ans.closest) <= 3
    assert all(p.doc_id for p in ans.closest)
    far = build(FakeLLM(["x"]), abstain_threshold=0.99).ask("What is the boiling point of water on Mars?")
    assert far.abstained and far.closest  # declined before generation: still where to look


def test_question_parts_and_what_each_asks_for():
    from rag.answer.answerer import asked_terms, aspects

    two = "How big is the biographies dataset, and by how much does their model beat the Kneser-Ney baseline?"
    assert aspects(two) == ["How big is the biographies dataset", "by how much does their model beat the Kneser-Ney baseline?"]
    assert aspects("What is OPTransE?") == ["What is OPTransE?"]
    assert asked_terms("What learning rate and batch size were used to train TinyBERT?") == {"learn", "rate", "batch", "size"}
    assert asked_terms("Under what license is the Dolma corpus released?") == {"licens"}
    assert asked_terms("How much did it cost, and how many crowd workers took part?") == {"crowd", "worker"}
    # "which" inside a clause is not what the question asks for
    assert asked_terms("Is there a tool that works out which language a person is speaking?") == set()
