"""`rag chat` in a terminal: the read-answer loop, its slash commands and line editing.

:class:`ChatRepl` holds one chat session and handles one line at a time
(:meth:`ChatRepl.handle`): a question is answered, a ``/command`` is run, and
anything else starting with ``/`` is an unknown command, never a question. It reads
nothing itself, so tests drive it line by line; :func:`run_chat` feeds it from
prompt_toolkit (line editing, history in the data directory, command completion)
when stdin and stdout are terminals, and from plain ``input()`` otherwise, so piped
questions work as they always have.

Ctrl-C while an answer streams closes the answer stream, which closes the model's
stream (the answer pipeline's ``finally``), and the session goes on without that
turn. Ctrl-C at the prompt clears the line; Ctrl-D (or /exit) leaves.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.styles import Style
from rich.console import Console

from .cli import lit
from .errors import RagError
from .models import Answer

if TYPE_CHECKING:
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output

    from .answer.assemble import AnswerStream
    from .assistant import Assistant

#: Renders a streaming answer (text as it comes, then its references) and returns it.
Render = Callable[["AnswerStream"], Answer]
#: Reads one line; raises EOFError at the end of input and KeyboardInterrupt on Ctrl-C.
Read = Callable[[], str]

PROMPT = "you> "
HISTORY_FILE = "chat_history"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    args: str = ""  # usage of the arguments, as shown in /help
    min_args: int = 0
    max_args: int = 0  # the last argument takes the rest of the line (a file name may have spaces)
    aliases: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        return f"{self.name} {self.args}".strip()


COMMANDS = (
    Command("/help", "this list"),
    Command("/refs", "the session's references, numbered as in the answers"),
    Command("/export", "the session's references as BibTeX or RIS, written to FILE or printed", "bib|ris [FILE]", 1, 2),
    Command("/copy", "the last answer with its references, as Markdown", aliases=("/md",)),
    Command("/new", "a new session: the references are cleared"),
    Command("/exit", "leave (Ctrl-D too); the session's references are printed", aliases=("/quit",)),
)
_BY_NAME = {name: c for c in COMMANDS for name in (c.name, *c.aliases)}
EXPORT_FORMATS = {"bib": "BibTeX", "ris": "RIS"}
KEYS = "Ctrl-C cancels an answer as it streams, Up/Down recall earlier lines, Tab completes a command."


class ChatRepl:
    """One chat session. ``render`` shows a streaming answer (the ``ask`` command's
    renderer, so chat answers look the same); in ``as_json`` mode each answer is one
    JSON line on ``out`` and everything else goes to ``err``."""

    def __init__(self, assistant: Assistant, *, render: Render, out: Console, err: Console, as_json: bool = False) -> None:
        self.assistant = assistant
        self.render = render
        self.out = out
        self.err = err
        self.as_json = as_json
        self.notes = err if as_json else out  # stdout carries only answers in --json mode
        self.conv = assistant.conversation()
        self.last: Answer | None = None

    # --- reading -----------------------------------------------------------------------
    def run(self, read: Read) -> None:
        """Handle lines from ``read`` until EOF or /exit, then print the bibliography."""
        while True:
            try:
                line = read()
            except EOFError:
                break
            except KeyboardInterrupt:  # Ctrl-C at an empty prompt: a reminder, not an exit
                self.note("(Ctrl-D or /exit leaves)")
                continue
            if not self.handle(line):
                break
        self.farewell()

    def handle(self, line: str) -> bool:
        """Answer a question or run a command; False when the session should end."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return self.command(text)
        self.ask(text)
        return True

    # --- questions ---------------------------------------------------------------------
    def ask(self, question: str) -> None:
        answered = len(self.conv.turns)
        try:
            stream = self.conv.ask_stream(question)
        except RagError as exc:
            self.error(exc)
            return
        try:
            if self.as_json:
                from .answer.assemble import finish

                answer = finish(stream)
                self.out.file.write(json.dumps(answer.model_dump(), ensure_ascii=False) + "\n")
                self.out.file.flush()
            else:
                answer = self.render(stream)
            self.last = answer
        except KeyboardInterrupt:
            _close(stream)  # stops the model if the stream was waiting on it
            if not self.as_json:
                self.out.print()  # off the partly written line
            if len(self.conv.turns) > answered:  # only the printing of a finished answer was cut short
                self.last = self.conv.turns[-1].answer
                self.note("Interrupted; the answer is kept in the session (/copy shows it).")
            else:
                self.note("Answer cancelled.")
        except RagError as exc:  # one bad turn does not end the session
            _close(stream)
            self.error(exc)

    # --- commands ----------------------------------------------------------------------
    def command(self, text: str) -> bool:
        word, *rest = text.split(maxsplit=1)
        cmd = _BY_NAME.get(word.lower())
        if cmd is None:
            self.note(f"Unknown command {lit(word)} (questions are not sent when they start with /).")
            self.help()
            return True
        args = rest[0].split(maxsplit=max(cmd.max_args - 1, 0)) if rest else []
        if not cmd.min_args <= len(args) <= cmd.max_args:
            self.note(f"usage: {lit(cmd.usage)}")
            return True
        if cmd.name == "/exit":
            return False
        handler: Callable[[list[str]], None] = getattr(self, "do_" + cmd.name[1:])
        handler(args)
        return True

    def do_help(self, args: list[str]) -> None:
        self.help()

    def do_refs(self, args: list[str]) -> None:
        if self.conv.bibliography:
            self.plain(self.conv.references())
        else:
            self.note("No references yet.")

    def do_export(self, args: list[str]) -> None:
        fmt = args[0].lower()
        if fmt not in EXPORT_FORMATS:
            self.note(f"usage: {lit(_BY_NAME['/export'].usage)}")
            return
        if not self.conv.bibliography:
            self.note("No references yet: nothing to export.")
            return
        if (export := self._export_module()) is None:
            return
        try:  # the stored records (authors, year, ...), in the order of the session's numbers
            docs = [d for n in sorted(self.conv.bibliography) if (d := self.assistant.document(self.conv.bibliography[n].doc_id))]
            text = export.bibtex(docs) if fmt == "bib" else export.ris(docs)
        except RagError as exc:
            self.error(exc)
            return
        if len(args) == 1:
            self.plain(text, verbatim=True)
            return
        path = Path(_unquote(args[1])).expanduser()
        try:
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            self.error(f"{path}: {exc.strerror or exc}")
            return
        self.note(f"Wrote {len(docs)} reference{'s' * (len(docs) != 1)} to {lit(path)} ({EXPORT_FORMATS[fmt]}).")

    def do_copy(self, args: list[str]) -> None:
        if self.last is None:
            self.note("No answer yet.")
            return
        if (export := self._export_module()) is not None:
            self.plain(export.markdown(self.last), verbatim=True)

    def do_new(self, args: list[str]) -> None:
        self.conv = self.assistant.conversation()
        self.last = None
        self.note("New session: references cleared.")

    def _export_module(self) -> Any:
        """rag.export (BibTeX, RIS, Markdown), or None with an error line where it is
        missing: it ships separately, and a missing exporter must not end the session."""
        try:
            return importlib.import_module(".export", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.export":
                raise
            self.error("exporting needs the rag.export module, which this installation lacks")
            return None

    # --- output ------------------------------------------------------------------------
    def banner(self) -> None:
        """What this is, what the store holds (when that is cheap to learn) and the commands."""
        try:
            info = self.assistant.info()
        except RagError:  # the first question reports what is wrong with the store
            info = None
        what = "Questions answered from paper abstracts, with numbered references"
        if info is not None:
            what += f": {info['documents']} papers, model {lit(info['llm_backend'])}:{lit(info['llm_model'])}"
        self.out.print(f"[bold]rag chat[/] · {what}.", highlight=False)
        if info is not None and not info["documents"]:
            self.out.print("[yellow]The store is empty: run `rag ingest` first.[/]", highlight=False)
        names = "  ".join(lit(c.usage) for c in COMMANDS)
        self.out.print(f"[dim]Commands: {names}  ·  Ctrl-D leaves[/]", highlight=False)

    def help(self) -> None:
        width = max(len(self._label(c)) for c in COMMANDS)
        for c in COMMANDS:
            self.notes.print(f"  [bold]{lit(self._label(c).ljust(width))}[/]  {lit(c.help)}", highlight=False)
        self.notes.print(f"  [dim]{lit(KEYS)}[/]", highlight=False)

    @staticmethod
    def _label(c: Command) -> str:
        return ", ".join((c.usage, *c.aliases))

    def farewell(self) -> None:
        if not self.as_json and self.conv.bibliography:
            self.out.print("\n[bold]Session bibliography[/]", highlight=False)
            self.plain(self.conv.references())

    def note(self, markup: str) -> None:
        """One line of feedback (``markup``: values in it already escaped with ``lit``)."""
        self.notes.print(f"[dim]{markup}[/]", highlight=False)

    def plain(self, text: str, verbatim: bool = False) -> None:
        """Text printed as it is; ``verbatim`` text (BibTeX, Markdown) is not wrapped,
        so that it copies out of the terminal unchanged."""
        self.notes.print(text, markup=False, highlight=False, emoji=False, soft_wrap=verbatim)

    def error(self, exc: object) -> None:
        self.err.print(f"[bold red]error:[/] {lit(exc)}", highlight=False)


def _close(stream: AnswerStream) -> None:
    """Close an answer stream (a generator): its ``finally`` closes the model's stream."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"" else name


# --- line input ------------------------------------------------------------------------
class CommandCompleter(Completer):
    """Completes a /command typed at the start of the line; questions get no completions."""

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        typed = document.text_before_cursor
        if not typed.startswith("/") or " " in typed:
            return
        for name, c in _BY_NAME.items():
            if name.startswith(typed.lower()):
                yield Completion(name, start_position=-len(typed), display_meta=c.help)


def prompt_reader(history: Path, *, input: Input | None = None, output: Output | None = None) -> Read:
    """Lines read with prompt_toolkit: editing, the history in ``history`` (Up/Down,
    suggestions), Tab to complete a command. Ctrl-C clears a line being typed and
    raises KeyboardInterrupt at an empty prompt; Ctrl-D at an empty prompt raises EOFError."""
    store: History
    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        history.touch(mode=0o600, exist_ok=True)  # past questions are private
        store = FileHistory(str(history)) if os.access(history, os.W_OK) else InMemoryHistory()
    except OSError:  # a read-only data directory: history for this session only
        store = InMemoryHistory()

    keys = KeyBindings()

    @keys.add("c-c")
    def _(event) -> None:
        if event.current_buffer.text:
            event.current_buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt())

    session: PromptSession[str] = PromptSession(
        history=store,
        auto_suggest=AutoSuggestFromHistory(),
        completer=CommandCompleter(),
        complete_while_typing=True,
        key_bindings=keys,
        style=Style.from_dict({"prompt": "ansicyan bold"}),
        input=input,
        output=output,
    )
    return lambda: session.prompt([("class:prompt", PROMPT)])


def plain_reader(prompt: str = "") -> Read:
    """Lines read with ``input()``: for piped input (no prompt) and other non-terminals."""
    return lambda: input(prompt)


def run_chat(repl: ChatRepl, history: Path, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """The ``chat`` command: a banner and line editing at a terminal; piped input
    read line by line as before (no banner, no prompt)."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    interactive = stdin.isatty()
    if interactive and not repl.as_json:
        repl.banner()
    if interactive and stdout.isatty():
        read = prompt_reader(history)
    else:
        read = plain_reader(PROMPT if interactive else "")
    repl.run(read)
