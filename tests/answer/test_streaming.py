"""Streaming is one generator: the caller's loop drives the model, and a reader that
stops early stops the model."""

from __future__ import annotations

from rag.llm import Completion, Usage
from rag.models import Answer, Progress
from rag.testing import FakeLLM

QUESTION = "Is TinyBERT smaller and faster than BERT on inference?"  # not a quantity question: nothing is held back
REPLY = "TinyBERT is 7.5x smaller and 9.4x faster on inference. TinyBERT achieves comparable results with BERT in GLUE datasets."


class SpyLLM(FakeLLM):
    """Streams its reply word by word from a generator and records how far it got and
    whether it was closed (what closing the HTTP stream does to a real backend)."""

    def __init__(self, reply: str) -> None:
        super().__init__([reply])
        self.produced = 0
        self.closed = False

    def complete(self, messages, *, max_tokens: int = 256, stop=None):
        self.calls.append([dict(m) for m in messages])
        words = [w + " " for w in self.replies[0].split()]

        def chunks():
            try:
                for word in words:
                    self.produced += 1
                    yield word
                yield Usage(10, len(words))
            except GeneratorExit:
                self.closed = True
                raise

        return Completion(chunks())


def test_a_completion_streams_then_holds_the_whole_reply():
    c = Completion(["Tiny", "BERT", "", Usage(7, 2)])
    assert list(c) == ["Tiny", "BERT"]
    assert (c.text, c.prompt_tokens, c.completion_tokens) == ("TinyBERT", 7, 2)
    assert c.first_token_s is not None and c.total_s >= c.first_token_s
    assert list(c) == ["Tiny", "BERT"]  # read again: the recorded pieces
    lazy = Completion(iter(["a", "b"]))
    assert lazy.text == "ab"  # reading the text runs the stream


def test_the_answer_stream_is_driven_by_its_reader(build):
    llm = SpyLLM(REPLY)
    stream = build(llm).ask_stream(QUESTION)
    assert llm.produced == 0  # nothing runs before the first read
    first = next(stream)
    while isinstance(first, Progress):  # the steps before the text: searching, reading, writing
        assert llm.produced == 0
        first = next(stream)
    assert isinstance(first, str) and first.startswith("TinyBERT is 7.5x smaller")
    assert 0 < llm.produced < len(REPLY.split())
    stream.close()  # the reader goes away
    assert llm.closed and llm.produced < len(REPLY.split())


def test_reading_to_the_end_gives_the_same_answer_as_ask(build):
    a = build(SpyLLM(REPLY))
    *pieces, final = [p for p in a.ask_stream(QUESTION) if not isinstance(p, Progress)]
    assert isinstance(final, Answer) and "".join(pieces).strip() == final.text
    assert final == a.ask(QUESTION).model_copy(update={"timings": final.timings})
    assert "first_text_s" in final.timings and final.completion_tokens == len(REPLY.split())


def test_one_store_read_gathers_every_document_of_an_answer(build, monkeypatch):
    a = build(FakeLLM([REPLY]))
    reads = []
    real = a.store.get_documents
    monkeypatch.setattr(a.store, "get_documents", lambda ids: reads.append(list(ids)) or real(ids))
    monkeypatch.setattr(a.store, "get_document", lambda doc_id: (_ for _ in ()).throw(AssertionError("read per hit")))
    conv = a.conversation()
    conv.ask("What is TinyBERT?")
    conv.ask("How much faster is it?")  # with the first turn's papers added to the pool
    assert len(reads) == 2 and all(len(ids) >= 1 for ids in reads)
    first_cited = conv.turns[0].answer.citations[0].doc_id
    assert first_cited in reads[1]


def test_a_summary_streams_its_lines_then_the_answer(build):
    chunks = list(build(FakeLLM(["Speculative decoding has been proposed as a solution for LLM inference acceleration."])).summarize_stream(
        "speculative decoding", k=4
    ))
    steps = [c for c in chunks if isinstance(c, Progress)]
    *pieces, final = [c for c in chunks if not isinstance(c, Progress)]
    assert [s.step for s in steps] == ["searching", "reading", "writing", "checking"]
    assert chunks.index(steps[-1]) < chunks.index(pieces[0])  # the papers, and what the wait is for, first
    reading = steps[1]
    assert reading.papers and [p.n for p in reading.papers] == [c.n for c in final.citations]  # numbered before the text
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip() == final.text
