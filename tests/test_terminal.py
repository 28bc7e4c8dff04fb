"""`rag chat`'s loop (rag.terminal) driven line by line, without a terminal: the
commands, Ctrl-C while an answer streams, and prompt_toolkit reading from a pipe."""

from __future__ import annotations

import json
import re
import sys
from functools import partial

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console
from typer.testing import CliRunner

from rag import Assistant
from rag.cli import _stream_answer, app
from rag.llm import Completion
from rag.models import Answer
from rag.terminal import COMMANDS, ChatRepl, CommandCompleter, prompt_reader, run_chat
from rag.testing import EchoLLM, FakeLLM, HashingEmbedder

from .conftest import make_settings
from .helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, write

SPECULATIVE = "How does speculative decoding speed up inference?"
ADAPTERS = "How are transformer language models compressed with low-rank adapters?"
ODD_TITLE = "Low-rank [/] adapters [bold]for compression"  # rich markup: must print literally


def ingested(tmp_path, llm) -> Assistant:
    records = [
        {"title": ODD_TITLE, "abstract": ABSTRACT_A, "year": 2021, "authors": ["Ada Lovelace"]},
        {"title": "Heterophilous graphs", "abstract": ABSTRACT_B, "year": 2022},
        {"title": "Speculative decoding", "abstract": ABSTRACT_C, "year": 2023, "authors": ["Alan Turing"]},
    ]
    write(tmp_path / "in" / "papers.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    a = Assistant(make_settings(tmp_path, abstain_threshold=0.05, llm_backend="fake"), embedder=HashingEmbedder(), llm=llm)
    a.ingest([tmp_path / "in"])
    return a


@pytest.fixture
def echo(tmp_path) -> Assistant:
    return ingested(tmp_path, EchoLLM())


def repl_for(assistant: Assistant, as_json: bool = False) -> ChatRepl:
    """A REPL printing as `rag chat` does (answers through the ask command's renderer) to
    the captured stdout/stderr."""
    render = partial(_stream_answer, as_json=False, show_removed=False)
    return ChatRepl(assistant, render=render, out=Console(width=200), err=Console(stderr=True, width=200), as_json=as_json)


def calls(a: Assistant) -> int:
    return len(a.llm.calls)


def test_help_and_unknown_commands_never_reach_the_model(echo, capsys):
    repl = repl_for(echo)
    assert repl.handle("/help") is True
    shown = capsys.readouterr().out
    for c in COMMANDS:
        assert c.name in shown
    assert "/export bib|ris [FILE]" in shown and "/md" in shown and "/quit" in shown

    assert repl.handle("/HeLp") is True  # commands are case-insensitive
    assert "/refs" in capsys.readouterr().out

    for line in ("/frobnicate the model", "/what is TinyBERT?", "/"):
        assert repl.handle(line) is True
        out = capsys.readouterr().out
        assert f"Unknown command {line.split()[0]}" in out and "/export" in out  # ... and the list
    assert repl.handle("/refs please") is True
    assert "usage: /refs" in capsys.readouterr().out
    assert calls(echo) == 0 and repl.conv.turns == []


def test_questions_refs_new_and_exit(echo, capsys):
    repl = repl_for(echo)
    assert repl.handle("/refs") is True
    assert "No references yet." in capsys.readouterr().out

    assert repl.handle(SPECULATIVE) and repl.handle(ADAPTERS)
    out = capsys.readouterr().out
    assert "[1]" in out and "[2]" in out and "References" in out

    assert repl.handle("/REFS") is True
    refs = capsys.readouterr().out
    assert refs.strip() == repl.conv.references()
    numbered = re.findall(r"^\[(\d)\] (.+?) \(", refs, re.M)
    assert numbered == [("1", "Speculative decoding"), ("2", ODD_TITLE)]  # as in the answers, markup literal

    assert repl.handle("/new") is True
    assert capsys.readouterr().out.strip() == "New session: references cleared."
    assert repl.handle("/refs") and "No references yet." in capsys.readouterr().out
    assert repl.handle("/copy") and "No answer yet." in capsys.readouterr().out

    assert repl.handle(ADAPTERS)
    assert "[1]" in capsys.readouterr().out  # numbering starts again
    assert repl.handle("/exit") is False and repl.handle("/Quit") is False


def test_run_ends_at_eof_or_exit_and_prints_the_session_bibliography(echo, capsys):
    lines = iter([SPECULATIVE, "", "/exit", "never read"])
    repl = repl_for(echo)
    repl.run(lambda: next(lines))
    out = capsys.readouterr().out
    assert out.rstrip().endswith("Session bibliography\n[1] Speculative decoding (2023) — " + repl.conv.bibliography[1].doc_id)
    assert next(lines) == "never read"

    def read():
        raise EOFError

    repl_for(echo).run(read)
    assert "Session bibliography" not in capsys.readouterr().out  # nothing cited: nothing to list


def test_export_writes_bibtex_and_ris_of_the_session(echo, tmp_path, capsys):
    import bibtexparser
    import rispy


    repl = repl_for(echo)
    assert repl.handle("/export bib") and "No references yet" in capsys.readouterr().out
    repl.handle(SPECULATIVE)
    repl.handle(ADAPTERS)
    capsys.readouterr()

    bib = tmp_path / "out dir" / "session refs.bib"
    bib.parent.mkdir()
    assert repl.handle(f"/export BIB {bib}") is True  # a file name may contain spaces
    assert capsys.readouterr().out.strip() == f"Wrote 2 references to {bib} (BibTeX)."
    entries = bibtexparser.parse_string(bib.read_text(encoding="utf-8")).entries
    assert len(entries) == 2 and "Speculative decoding" in entries[0]["title"]  # in the answers' order

    ris = tmp_path / "refs.ris"
    assert repl.handle(f'/export ris "{ris}"') is True
    records = rispy.loads(ris.read_text(encoding="utf-8"))
    assert [r.get("title") or r.get("primary_title") for r in records] == ["Speculative decoding", ODD_TITLE]

    assert repl.handle("/export bib") is True  # no file: printed, unwrapped
    printed = capsys.readouterr().out
    assert len(bibtexparser.parse_string(printed).entries) == 2

    for bad in ("/export", "/export xml", "/export xml x.xml"):
        assert repl.handle(bad) is True
        assert "usage: /export bib|ris [FILE]" in capsys.readouterr().out
    assert repl.handle(f"/export bib {tmp_path / 'missing' / 'x.bib'}") is True
    assert "No such file or directory" in capsys.readouterr().err


def test_copy_prints_the_last_answer_as_markdown(echo, capsys):
    from rag.export import markdown

    repl = repl_for(echo)
    repl.handle(SPECULATIVE)
    repl.handle(ADAPTERS)
    capsys.readouterr()
    for line in ("/copy", "/md"):
        assert repl.handle(line) is True
        out = capsys.readouterr().out
        assert out == markdown(repl.conv.turns[-1].answer) + "\n"
        assert ODD_TITLE in out


def test_json_mode_keeps_stdout_to_one_answer_per_line(echo, capsys):
    repl = repl_for(echo, as_json=True)
    lines = iter([SPECULATIVE, "/refs", "/nope", "/new", ADAPTERS])

    def read():
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    repl.run(read)
    captured = capsys.readouterr()
    answers = [json.loads(line) for line in captured.out.splitlines()]
    assert [a["citations"][0]["n"] for a in answers] == [1, 1]
    assert "[1] Speculative decoding" in captured.err and "Unknown command /nope" in captured.err
    assert "New session: references cleared." in captured.err


# --- Ctrl-C ----------------------------------------------------------------------------
def test_ctrl_c_raised_in_the_stream_cancels_the_answer_and_the_session_goes_on(echo, capsys):
    repl = repl_for(echo)
    closed = []

    def interrupted(question):
        try:
            yield "The first sentence streams. "
            raise KeyboardInterrupt  # Ctrl-C while the model works
        finally:
            closed.append(question)

    real = repl.conv.ask_stream
    repl.conv.ask_stream = interrupted
    assert repl.handle(SPECULATIVE) is True
    out = capsys.readouterr().out
    assert "The first sentence streams. \nAnswer cancelled.\n" in out
    assert closed == [SPECULATIVE] and repl.conv.turns == [] and repl.last is None

    repl.conv.ask_stream = real
    assert repl.handle(SPECULATIVE) is True
    assert "[1] Speculative decoding" in capsys.readouterr().out


class StreamingLLM(FakeLLM):
    """Streams its one reply word by word and counts the streams closed before their end
    (the model stopped)."""

    def __init__(self, reply: str) -> None:
        super().__init__([reply])
        self.stopped = 0

    def complete(self, messages, *, max_tokens: int = 256, stop=None):
        words = re.findall(r"\S+\s*", super().complete(messages, max_tokens=max_tokens).text)

        def chunks():
            ended = False
            try:
                yield from words
                ended = True
            finally:
                self.stopped += not ended

        return Completion(chunks())


def test_ctrl_c_while_an_answer_prints_closes_the_stream_and_the_model(tmp_path, capsys):
    llm = StreamingLLM(ABSTRACT_C)  # two sentences: the first is shown while the model still writes
    a = ingested(tmp_path, llm)
    pieces: list[str] = []

    def impatient(stream):
        for item in stream:
            if isinstance(item, str):
                pieces.append(item)
                raise KeyboardInterrupt  # Ctrl-C as the first sentence is printed
        raise AssertionError("no text streamed")

    repl = ChatRepl(a, render=impatient, out=Console(width=200), err=Console(stderr=True))
    assert repl.handle(SPECULATIVE) is True
    assert len(pieces) == 1 and llm.stopped == 1
    assert "Answer cancelled." in capsys.readouterr().out
    assert repl.conv.turns == [] and repl.conv.bibliography == {}

    repl.render = partial(_stream_answer, as_json=False, show_removed=False)
    assert repl.handle(SPECULATIVE) is True  # the next question is answered in full
    assert llm.stopped == 1 and "[1] Speculative decoding" in capsys.readouterr().out


def test_ctrl_c_after_the_answer_arrived_keeps_it(echo, capsys):
    def render(stream):
        for item in stream:
            if isinstance(item, Answer):
                raise KeyboardInterrupt  # Ctrl-C while the references print
        raise AssertionError("no answer")

    repl = ChatRepl(echo, render=render, out=Console(width=200), err=Console(stderr=True))
    repl.handle(SPECULATIVE)
    assert "the answer is kept" in capsys.readouterr().out
    assert repl.last is repl.conv.turns[-1].answer and 1 in repl.conv.bibliography


# --- line editing ----------------------------------------------------------------------
def test_prompt_toolkit_history_in_the_data_dir_and_ctrl_keys(echo, tmp_path, capsys):
    history = echo.settings.data_dir / "chat_history"
    with create_pipe_input() as keys:
        read = prompt_reader(history, input=keys, output=DummyOutput())
        keys.send_text(SPECULATIVE + "\r")
        assert read() == SPECULATIVE
        keys.send_text("\x1b[A\r")  # Up arrow, Enter: the previous question again
        assert read() == SPECULATIVE
        keys.send_text("half a question\x03/refs\r")  # Ctrl-C clears the line being typed
        assert read() == "/refs"
        keys.send_text("\x03")  # Ctrl-C at an empty prompt
        with pytest.raises(KeyboardInterrupt):
            read()
        keys.send_text("\x04")  # Ctrl-D
        with pytest.raises(EOFError):
            read()
    assert SPECULATIVE in history.read_text(encoding="utf-8")
    assert history.stat().st_mode & 0o077 == 0  # past questions are private

    with create_pipe_input() as keys:  # a later session: the history is still there
        read = prompt_reader(history, input=keys, output=DummyOutput())
        repl = repl_for(echo)
        keys.send_text("\x1b[A\x1b[A\r\x03/new\r\x04")
        repl.run(read)
    out = capsys.readouterr().out
    assert "[1] Speculative decoding" in out and "(Ctrl-D or /exit leaves)" in out and "references cleared" in out


def test_commands_complete_only_at_the_start_of_a_line():
    def complete(text):
        return [c.text for c in CommandCompleter().get_completions(Document(text), CompleteEvent(completion_requested=True))]

    assert complete("/ex") == ["/export", "/exit"]
    assert complete("/Q") == ["/quit"]
    assert complete("What is /ex") == [] and complete("/export b") == [] and complete("") == []


def test_banner_names_the_store_the_model_and_the_commands(echo, tmp_path, capsys):
    repl_for(echo).banner()
    out = capsys.readouterr().out
    assert "3 papers" in out and "fake:echo-evidence" in out and "/export bib|ris [FILE]" in out

    empty = Assistant(make_settings(tmp_path / "empty"), embedder=HashingEmbedder(), llm=EchoLLM())
    repl_for(empty).banner()
    assert "The store is empty: run `rag ingest` first." in capsys.readouterr().out


class Tty:
    def __init__(self, stream, tty: bool) -> None:
        self.stream, self.tty = stream, tty

    def isatty(self) -> bool:
        return self.tty

    def __getattr__(self, name):
        return getattr(self.stream, name)


def test_run_chat_uses_plain_input_when_piped_and_shows_the_banner_at_a_terminal(echo, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(SPECULATIVE + "\n/help\n"))
    run_chat(repl_for(echo), echo.settings.data_dir / "chat_history")
    out = capsys.readouterr().out
    assert not out.startswith("rag chat") and "[1] Speculative decoding" in out and "/export" in out
    assert not (echo.settings.data_dir / "chat_history").exists()  # piped lines are not history

    # stdin a terminal, stdout a file: banner and prompt, but plain input()
    monkeypatch.setattr("sys.stdin", Tty(io.StringIO("/exit\n"), tty=True))
    run_chat(repl_for(echo), echo.settings.data_dir / "chat_history", stdout=Tty(io.StringIO(), tty=False))
    out = capsys.readouterr().out
    assert out.startswith("rag chat · ") and "you> " in out


def test_cli_chat_piped(tmp_path, corpus_copy):
    runner = CliRunner()
    env = {"RAG_EMBED_BACKEND": "hashing", "RAG_LLM_BACKEND": "fake", "RAG_ABSTAIN_THRESHOLD": "0.05"}
    assert runner.invoke(app, ["--data-dir", str(tmp_path / "s"), "ingest", str(corpus_copy), "--json"], env=env).exit_code == 0
    result = runner.invoke(
        app, ["--data-dir", str(tmp_path / "s"), "chat"], env=env, input="What is TinyBERT?\n/help\n/new\n/bogus\nWhat is TinyBERT?\n"
    )
    assert result.exit_code == 0, result.output
    assert "rag chat" not in result.stdout  # no banner for piped input
    assert result.stdout.count("References") == 2 and "New session: references cleared." in result.stdout
    assert "Unknown command /bogus" in result.stdout and "Session bibliography" in result.stdout


def test_a_missing_exporter_is_an_error_line_not_the_end_of_the_session(echo, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rag.export", None)  # as if rag/export.py were not installed
    repl = repl_for(echo)
    repl.handle(SPECULATIVE)
    for line in ("/copy", "/export ris"):
        assert repl.handle(line) is True
        assert "error: exporting needs the rag.export module" in capsys.readouterr().err
    assert repl.handle("/refs") and "[1] Speculative decoding" in capsys.readouterr().out
