from __future__ import annotations

from rag.answer.chat import is_followup
from rag.testing import FakeLLM

from .conftest import assert_well_cited


def scripted(messages):
    prompt = messages[-1]["content"]
    if "Standalone question:" in prompt:
        return "How much faster is TinyBERT than BERT at inference?"
    if "Speculative" in prompt and "speculative decoding" in prompt.lower() and "Drafter" in prompt:
        return "Llama 2 Chat Drafter 115M with speculative decoding achieves up to 2.4$\\times$ speed-up relative to autoregressive decoding."
    return "TinyBERT is 7.5x smaller and 9.4x faster on inference."


def test_followup_is_rewritten_and_numbers_stay_stable(build):
    llm = FakeLLM(reply=scripted)
    conv = build(llm).conversation()
    first = conv.ask("What is TinyBERT?")
    second = conv.ask("How much faster is it?")
    assert second.standalone_question == "How much faster is TinyBERT than BERT at inference?"
    assert first.citations[0].doc_id == second.citations[0].doc_id
    assert first.citations[0].n == second.citations[0].n == 1
    assert_well_cited(second)
    third = conv.ask("Which draft model speeds up Llama 2 Chat with speculative decoding?")
    assert not third.abstained and third.citations[0].n == 2  # a new paper gets the next number
    assert [n for n in conv.bibliography] == [1, 2]
    assert conv.references().splitlines()[0].startswith("[1] ")
    assert conv.cited_ids == [conv.bibliography[1].doc_id, conv.bibliography[2].doc_id]
    assert third.cited_ids == [c.doc_id for c in third.citations]


def test_unusable_rewrite_falls_back_to_the_previous_question(build):
    def reply(messages):
        if "Standalone question:" in messages[-1]["content"]:
            return "[1]"
        return "TinyBERT is 7.5x smaller and 9.4x faster on inference."

    conv = build(FakeLLM(reply=reply)).conversation()
    conv.ask("What is TinyBERT?")
    ans = conv.ask("How much faster is it?")
    assert ans.standalone_question == "How much faster is it? (What is TinyBERT?)"
    assert not ans.abstained


def test_rewrite_that_echoes_the_prompt_is_rejected(build):
    def reply(messages):
        prompt = messages[-1]["content"]
        if "Standalone question:" in prompt:
            return prompt.splitlines()[0]  # the instruction itself, which shares words with the chat
        return "TinyBERT is 7.5x smaller and 9.4x faster on inference."

    conv = build(FakeLLM(reply=reply)).conversation()
    conv.ask("What is TinyBERT?")
    ans = conv.ask("How much faster is it?")
    assert ans.standalone_question == "How much faster is it? (What is TinyBERT?)"


def test_followup_detection():
    assert is_followup("and how much faster is it?")
    assert is_followup("What about its memory use?")
    assert not is_followup("Which papers study word sense disambiguation with BERT glosses?")


def test_a_turn_says_it_is_searching_before_the_rewrite_and_shows_the_numbers_papers_keep(build):
    from rag.models import Progress

    llm = FakeLLM(reply=scripted)
    conv = build(llm).conversation()
    first = conv.ask("What is TinyBERT?")
    calls = len(llm.calls)
    stream = conv.ask_stream("How much faster is it?")
    searching = next(stream)
    assert isinstance(searching, Progress) and searching.step == "searching"
    assert len(llm.calls) == calls  # said before the rewrite asks the model
    chunks = list(stream)
    steps = [c for c in chunks if isinstance(c, Progress)]
    assert [s.step for s in steps][:2] == ["reading", "writing"]  # searching is not said twice
    reading = steps[0]
    assert any(p.doc_id == first.citations[0].doc_id and p.n == 1 for p in reading.papers)  # it keeps its [1]
