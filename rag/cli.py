"""Command line: ingest, search, ask, chat, summarize, document, info, eval, serve, mcp.

Every command takes ``--json`` for agents (one JSON document on stdout) and turns
our typed errors into one line on stderr with exit code 1. Each command imports
what it needs when it runs, so ``rag --help`` or ``rag eval --compare`` never pay
for the vector store, the embedding model or the LLM.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import logs
from .errors import InputError, RagError
from .inputs import filter_values
from .models import Answer
from .models import Progress as Step

if TYPE_CHECKING:
    from .assistant import Assistant

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Question answering over paper abstracts.")
out = Console()
err = Console(stderr=True, soft_wrap=True)  # one error, one line


def lit(value: object) -> str:
    """A value printed literally inside rich markup: titles, paths, ids and error
    messages may contain ``[/]`` or ``[bold]``, which rich would parse as tags."""
    return escape(str(value))


class State:
    data_dir: Path | None = None


state = State()


@app.callback()
def main(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v for info, -vv for debug logs."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Store location (default: RAG_DATA_DIR)."),
) -> None:
    logs.setup(_configured_log_level(), verbose)
    state.data_dir = data_dir


def _configured_log_level() -> str:
    """RAG_LOG_LEVEL, or WARNING while the settings are invalid (the command then
    reports the invalid setting itself)."""
    from .assistant import load_settings

    try:
        return load_settings().log_level
    except RagError:
        return "WARNING"


def _assistant(**overrides: Any) -> Assistant:
    from .assistant import Assistant

    if state.data_dir:
        overrides["data_dir"] = state.data_dir
    return Assistant(**overrides)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {lit(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


class RateColumn(ProgressColumn):
    """Papers per second so far (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f} papers/s" if task.speed else "", style="progress.data.speed")


@app.command()
def ingest(
    paths: list[Path] | None = typer.Argument(None, help="Files or directories (default: the bundled corpus)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Parse, deduplicate, embed and store abstracts. Safe to re-run; only changes are written."""
    try:
        a = _assistant()
        if as_json or not sys.stderr.isatty():
            report = a.ingest(paths or None)
        else:
            with Progress(
                TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn(),
                console=err, transient=True,
            ) as bar:
                task = bar.add_task("ingest", total=None)
                report = a.ingest(paths or None, progress=lambda done, total: bar.update(task, completed=done, total=total))
    except RagError as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit_json(report.model_dump())
    else:
        table = Table(title=f"ingest report ({report.seconds:.1f}s)", show_header=False)
        for key in ("files", "records", "added", "updated", "unchanged", "removed", "duplicates", "chunks_written"):
            table.add_row(key, str(getattr(report, key)))
        table.add_row("rejected", str(len(report.rejected)))
        if report.no_abstract:
            table.add_row("  of which without an abstract", str(report.no_abstract))
        out.print(table)
        if report.kept:
            err.print(
                f"kept {report.kept} stored papers that files with rejected records no longer yield; "
                "fix the records below and ingest again to update or remove them",
                highlight=False, markup=False,
            )
        for r in report.rejected:
            err.print(f"[yellow]rejected[/] {lit(r.where)}: {lit(r.reason)}", highlight=False)
    # Nothing usable came out of the input: that is a failure, not a warning.
    if report.rejected and report.records == 0:
        raise typer.Exit(1)


@app.command()
def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int | None = typer.Option(None, "--k", "-k", help="Number of results (default RAG_TOP_K)."),
    year_min: int | None = typer.Option(None, help="Only papers from this year on."),
    year_max: int | None = typer.Option(None, help="Only papers up to this year."),
    dated_only: bool = typer.Option(False, "--dated-only", help="With a year filter, leave out papers without a year (kept by default)."),
    source: str | None = typer.Option(None, help="Only papers from this source file (name)."),
    mode: str = typer.Option("hybrid", help="hybrid, bm25 or dense."),
    as_json: bool = typer.Option(False, "--json", help="Print hits as JSON."),
) -> None:
    """Hybrid BM25 + dense search over the stored abstracts."""
    try:
        filters = filter_values(year_min=year_min, year_max=year_max, source=source, include_undated=False if dated_only else None)
        hits = _assistant().search(query, k=k, filters=filters, mode=mode)
    except RagError as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit_json([h.model_dump() for h in hits])
        return
    if not hits:
        out.print("no results (is the store empty? run `rag ingest`)", highlight=False, markup=False)
        return
    for rank, h in enumerate(hits, start=1):
        year = f" ({h.year})" if h.year else ""
        out.print(
            f"[bold]{rank}. {lit(h.title or '(untitled)')}[/]{year}  [dim]{lit(h.doc_id)} · {lit(h.source)} · {h.score:.4f}[/]",
            highlight=False,
        )
        snippet = h.text if len(h.text) <= 300 else h.text[:297] + "..."
        out.print(f"   {snippet}", highlight=False, markup=False)


def _print_answer_tail(answer: Answer, show_removed: bool) -> None:
    if answer.citations:
        out.print("\n[bold]References[/]", highlight=False)
        out.print(answer.references(), highlight=False, markup=False)
    if answer.closest:
        out.print("\n[bold]Closest papers[/] (they do not answer it; `rag document ID` to read one)", highlight=False)
        for p in answer.closest:
            out.print(f"- {p.title or '(untitled)'}{f' ({p.year})' if p.year else ''} — {p.doc_id}", highlight=False, markup=False)
    if show_removed and answer.removed:
        for r in answer.removed:
            err.print(f"[dim]removed: {lit(r.text)} ({lit(r.reason)})[/]", highlight=False)
    t = answer.timings
    err.print(
        f"[dim]{lit(answer.backend)}:{lit(answer.model)} · {t.get('total_s', 0):.1f}s"
        + (f" · first token {t['first_token_s']:.1f}s" if "first_token_s" in t else "")
        + f" · {answer.prompt_tokens}+{answer.completion_tokens} tokens[/]",
        highlight=False,
    )


def _stream_answer(chunks: Iterable[str | Answer | Step], as_json: bool, show_removed: bool) -> Answer:
    answer = None
    # What the wait is for, as a transient dim line on an interactive stderr, until the
    # first sentence: drawn after it, the status would share the sentence's line and wipe it.
    status = err.status("", spinner="dots") if not as_json and err.is_terminal else None
    try:
        for chunk in chunks:
            if isinstance(chunk, Step):
                if status is not None:
                    status.update(f"[dim]{lit(chunk.message)}[/]")
                    status.start()
                continue
            if status is not None:
                status.stop()
                status = None  # from here on the terminal is the answer's
            if isinstance(chunk, Answer):
                answer = chunk
            elif not as_json:
                sys.stdout.write(chunk)
                sys.stdout.flush()
    finally:
        if status is not None:
            status.stop()
    if answer is None:
        raise RagError("the answer stream ended without an answer")
    if as_json:
        _emit_json(answer.model_dump())
    else:
        sys.stdout.write("\n")
        _print_answer_tail(answer, show_removed)
    return answer


@app.command()
def ask(
    question: str = typer.Argument(..., help="Your question."),
    k: int | None = typer.Option(None, "--k", "-k", help="Documents to draw evidence from (default RAG_EVIDENCE_DOCS)."),
    year_min: int | None = typer.Option(None, help="Only papers from this year on."),
    year_max: int | None = typer.Option(None, help="Only papers up to this year."),
    dated_only: bool = typer.Option(False, "--dated-only", help="With a year filter, leave out papers without a year (kept by default)."),
    source: str | None = typer.Option(None, help="Only papers from this source file (name)."),
    show_removed: bool = typer.Option(False, "--show-removed", help="Also print sentences removed as unsupported."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured answer as JSON."),
    refs: Path | None = typer.Option(None, "--refs", help="Also write the cited papers to this file: BibTeX (.bib) or RIS (.ris)."),
) -> None:
    """A cited answer from the abstracts, streamed as each sentence is verified."""
    try:
        fmt = _refs_format(refs)
        a = _assistant()
        filters = filter_values(year_min=year_min, year_max=year_max, source=source, include_undated=False if dated_only else None)
        answer = _stream_answer(a.ask_stream(question, k=k, filters=filters), as_json, show_removed)
        _write_refs(a, answer, refs, fmt)
    except RagError as exc:
        _fail(str(exc))


@app.command()
def summarize(
    topic: str = typer.Argument(..., help="The topic to summarize the literature on."),
    k: int | None = typer.Option(None, "--k", "-k", help="Papers to cover (default RAG_SUMMARY_DOCS)."),
    year_min: int | None = typer.Option(None, help="Only papers from this year on."),
    year_max: int | None = typer.Option(None, help="Only papers up to this year."),
    dated_only: bool = typer.Option(False, "--dated-only", help="With a year filter, leave out papers without a year (kept by default)."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured summary as JSON."),
    refs: Path | None = typer.Option(None, "--refs", help="Also write the cited papers to this file: BibTeX (.bib) or RIS (.ris)."),
) -> None:
    """A cited literature summary, papers grouped by approach, with a reference list."""
    try:
        fmt = _refs_format(refs)
        a = _assistant()
        filters = filter_values(year_min=year_min, year_max=year_max, include_undated=False if dated_only else None)
        summary = _stream_answer(a.summarize_stream(topic, k=k, filters=filters), as_json, False)
        _write_refs(a, summary, refs, fmt)
    except RagError as exc:
        _fail(str(exc))


REFS_FORMATS = {".bib": "bibtex", ".bibtex": "bibtex", ".ris": "ris"}


def _refs_format(path: Path | None) -> str:
    """The export format a --refs file's name asks for (checked before any work)."""
    if path is None:
        return ""
    if path.suffix.lower() not in REFS_FORMATS:
        raise InputError("--refs", f"{path.name!r}: name the file .bib (BibTeX) or .ris (RIS)")
    return REFS_FORMATS[path.suffix.lower()]


def _write_refs(a: Assistant, answer: Answer, path: Path | None, fmt: str) -> None:
    if path is None:
        return
    if not answer.cited_ids:
        err.print(f"no references to write: nothing was cited; {lit(str(path))} not written", highlight=False)
        return
    _write_file(path, a.export(answer.cited_ids, fmt))
    err.print(f"wrote {len(answer.cited_ids)} references to {lit(str(path))}", highlight=False)


@app.command()
def chat(
    as_json: bool = typer.Option(False, "--json", help="One JSON answer per line instead of text."),
) -> None:
    """Multi-turn chat. Follow-ups may refer to earlier turns; a paper keeps its number
    all session. /help lists the commands (/refs, /export, /copy, /new, /exit)."""
    from .terminal import HISTORY_FILE, ChatRepl, run_chat

    try:
        a = _assistant()
        repl = ChatRepl(a, render=lambda chunks: _stream_answer(chunks, False, False), out=out, err=err, as_json=as_json)
        run_chat(repl, history=a.settings.data_dir / HISTORY_FILE)
    except RagError as exc:
        _fail(str(exc))


@app.command()
def export(
    doc_ids: list[str] = typer.Argument(..., help="Stored papers (doc_id from search hits or citations)."),
    fmt: str = typer.Option("bibtex", "--format", "-f", help="bibtex or ris."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of printing."),
) -> None:
    """Papers as BibTeX or RIS references."""
    try:
        text = _assistant().export(doc_ids, fmt)
    except RagError as exc:
        _fail(str(exc))
        return
    if output is None:
        sys.stdout.write(text)
        return
    try:
        _write_file(output, text)
    except RagError as exc:
        _fail(str(exc))
    err.print(f"wrote {len(doc_ids)} references to {output}", highlight=False, markup=False)


def _write_file(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), f"cannot write ({exc.strerror or exc})") from None


@app.command()
def document(doc_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one stored document in full."""
    try:
        doc = _assistant().document(doc_id)
    except RagError as exc:
        _fail(str(exc))
        return
    if doc is None:
        _fail(f"doc_id {doc_id}: no such document")
        return
    if as_json:
        _emit_json(doc.model_dump())
        return
    out.print(f"[bold]{lit(doc.title or '(untitled)')}[/] ({lit(doc.year or 'year unknown')})", highlight=False)
    if doc.authors:
        out.print(", ".join(doc.authors), highlight=False, markup=False)
    out.print(f"[dim]{lit(doc.doc_id)} · {lit(doc.source)}[/]", highlight=False)
    out.print(doc.abstract, highlight=False, markup=False)


@app.command()
def info(as_json: bool = typer.Option(False, "--json")) -> None:
    """Where the store is, what is in it, and which models are configured."""
    try:
        data = _assistant().info()
    except RagError as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit_json(data)
        return
    table = Table(show_header=False)
    for key, value in data.items():
        table.add_row(lit(key), lit(value))
    out.print(table)


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the store and its derived lexical (BM25) index; exit 1 when something needs mending."""
    try:
        checks = _assistant().doctor()
    except RagError as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit_json([{"check": what, "ok": ok, "detail": detail} for what, ok, detail in checks])
    else:
        for what, ok, detail in checks:
            mark = "[green]ok[/]" if ok else "[bold red]problem[/]"
            out.print(f"{mark}  {lit(what)}: {lit(detail)}", highlight=False)
    if not all(ok for _, ok, _ in checks):
        raise typer.Exit(1)


@app.command()
def reindex(as_json: bool = typer.Option(False, "--json")) -> None:
    """Rebuild the derived lexical (BM25) index from the Chroma store (after `rag doctor` says so)."""
    try:
        chunks = _assistant().reindex()
    except RagError as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit_json({"bm25_chunks": chunks})
        return
    out.print(f"Lexical (BM25) index rebuilt from the store: {chunks} chunks", highlight=False, markup=False)


@app.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default RAG_SERVE_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port (default RAG_SERVE_PORT, 8080)."),
) -> None:
    """HTTP API and web chat page (OpenAPI spec at /openapi.json)."""
    import uvicorn

    from .server import create_app

    try:
        # The chosen address is also a name the server answers to (its Host check).
        a = _assistant(**({"serve_host": host} if host else {}))
        s = a.settings
        host, port = s.serve_host, port or s.serve_port
        if host not in ("127.0.0.1", "localhost", "::1") and not s.api_key:
            err.print(
                f"[yellow]warning:[/] serving on {lit(host)} without RAG_API_KEY: anyone who can reach it can use it", highlight=False
            )
        _ = a.llm  # load the model now: a bad model setting fails here, and the first answer is not slow
        application = create_app(a)
    except RagError as exc:
        _fail(str(exc))
        return
    err.print(f"serving on http://{host}:{port}/ (chat page), API spec at /openapi.json", highlight=False, markup=False)
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def mcp() -> None:
    """MCP server over stdio for agents (tools: search, ask, summarize, get_document)."""
    from .mcp_server import serve_stdio

    serve_stdio(_assistant)


@app.command("eval")
def eval_(
    split: str = typer.Option("dev", "--split", help="dev (for tuning), test (report only) or all."),
    backend: str | None = typer.Option(None, "--backend", help="embedded, openai or fake (default: RAG_LLM_BACKEND)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N questions of the split."),
    out_dir: Path | None = typer.Option(None, "--out", help="Run folder (default: <data dir>/eval-runs/<run id>)."),
    questions_file: Path | None = typer.Option(None, "--questions", help="Another question set (same JSONL format)."),
    compare_runs: tuple[Path, Path] | None = typer.Option(None, "--compare", help="Compare two run folders instead (B - A)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary (or the comparison) as JSON."),
) -> None:
    """Score retrieval, answers, citations and abstention on the held-out questions."""
    from . import evals

    try:
        if compare_runs:
            diff = evals.compare(*compare_runs)
            _emit_json(diff) if as_json else _print_compare(diff)
            return
        if backend is not None and backend not in ("embedded", "openai", "fake"):
            raise RagError(f"--backend: unknown backend {backend!r} (embedded, openai, fake)")
        a = _assistant(**({"llm_backend": backend} if backend else {}))
        kwargs: dict[str, Any] = dict(split=split, limit=limit, out_dir=out_dir, assistant=a, questions_path=questions_file)
        if as_json or not sys.stderr.isatty():
            result = evals.run(**kwargs)
        else:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=err, transient=True,
            ) as bar:
                task = bar.add_task(f"eval {lit(split)}", total=None)

                def progress(done: int, total: int, qid: str) -> None:
                    bar.update(task, completed=done, total=total, description=f"eval {lit(split)} {lit(qid)}")

                result = evals.run(**kwargs, progress=progress)
    except RagError as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit_json({"folder": str(result.folder), **result.summary})
        return
    _print_summary(result.summary)
    out.print(f"run folder: {result.folder} (report.md, summary.json, questions.jsonl, charts)", highlight=False, markup=False)


def _print_summary(summary: dict) -> None:
    from .evals.report import HEADLINE, fmt

    m = summary["metrics"]
    table = Table(
        title=f"{lit(summary['split'])} · {lit(summary['questions'])} questions · {lit(summary['backend'])}/{lit(summary['model'])}"
    )
    for col in ("metric", "value [95% CI]", "n", "target"):
        table.add_column(col)
    targets = summary.get("targets", {})
    for key, label in HEADLINE:
        t = targets.get(key)
        table.add_row(lit(label), lit(fmt(m[key])), lit(m[key]["n"]), "" if not t else f"{lit(t['target'])} {'✓' if t['met'] else '✗'}")
    table.add_row("Invalid citations", lit(m["invalid_citations"]["value"]), lit(m["invalid_citations"]["n"]), "<= 0")
    for mode, stats in m.get("retrieval", {}).items():
        t = targets.get(f"retrieval.{mode}.recall@5")
        table.add_row(f"{lit(mode)} recall@5 / nDCG@10", lit(f"{fmt(stats['recall@5'])} / {fmt(stats['ndcg@10'])}"),
                      lit(stats["recall@5"]["n"]), "" if not t else f"{lit(t['target'])} {'✓' if t['met'] else '✗'}")
    out.print(table)


def _print_compare(diff: dict) -> None:
    from .evals.report import fmt

    a, b = diff["a"], diff["b"]
    out.print(f"A: {a['run_id']} ({a['backend']}/{a['model']}, {a['git_commit']})", highlight=False, markup=False)
    out.print(f"B: {b['run_id']} ({b['backend']}/{b['model']}, {b['git_commit']})", highlight=False, markup=False)
    for w in diff["warnings"]:
        err.print(f"[yellow]warning:[/] {lit(w)}", highlight=False)
    # Plain aligned lines rather than a table: they survive narrow terminals and
    # paste cleanly into a review.
    typer.echo(f"{'metric':<36} {'A [95% CI]':<20} {'B [95% CI]':<20} {'B - A':>7}  CIs overlap")
    for row in diff["metrics"]:
        if row["a"]["value"] == row["b"]["value"]:
            continue
        overlap = "" if row["cis_overlap"] is None else ("yes" if row["cis_overlap"] else "NO")
        typer.echo(f"{row['metric']:<36} {fmt(row['a']):<20} {fmt(row['b']):<20} {row['delta']:>+7.3f}  {overlap}")
    p = diff["paired_correctness_delta"]
    out.print(
        f"paired correctness difference (n={p['n']}): {p['value']:+.3f} [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]",
        highlight=False,
        markup=False,
    )
    for c in diff["changed"]:
        ca, cb = c["correctness"]
        fa = "abstained" if c["abstained"][0] else ("–" if ca is None else f"{ca:.2f}")
        fb = "abstained" if c["abstained"][1] else ("–" if cb is None else f"{cb:.2f}")
        out.print(f"  {c['id']} ({c['kind']}): {fa} -> {fb}", highlight=False, markup=False)
    if diff["only_in_a"] or diff["only_in_b"]:
        out.print(f"only in A: {len(diff['only_in_a'])} questions, only in B: {len(diff['only_in_b'])}", highlight=False, markup=False)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
