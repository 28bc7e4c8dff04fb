from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from rag.cli import app

from .helpers import ABSTRACT_A, write

runner = CliRunner()


def rag(tmp_path, *args):
    return runner.invoke(app, ["--data-dir", str(tmp_path / "store"), *args], env={"RAG_EMBED_BACKEND": "hashing"})


def test_ingest_search_document_info_as_json(tmp_path, corpus_copy):
    result = rag(tmp_path, "ingest", str(corpus_copy), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == 307 and report["duplicates"] == 2

    result = rag(tmp_path, "search", "word sense disambiguation", "-k", "3", "--year-min", "2019", "--dated-only", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and all(h["year"] >= 2019 for h in hits)
    result = rag(tmp_path, "search", "word sense disambiguation", "-k", "5", "--year-min", "2019", "--json")
    assert any(h["year"] is None for h in json.loads(result.stdout))  # undated papers are kept unless --dated-only

    result = rag(tmp_path, "document", hits[0]["doc_id"], "--json")
    assert json.loads(result.stdout)["doc_id"] == hits[0]["doc_id"]

    info = json.loads(rag(tmp_path, "info", "--json").stdout)
    assert info["documents"] == 307 and info["embed_backend"] == "hashing"


def test_human_output(tmp_path, corpus_copy):
    rag(tmp_path, "ingest", str(corpus_copy))
    result = rag(tmp_path, "search", "GlossBERT gloss knowledge", "-k", "2")
    assert result.exit_code == 0 and "1. GlossBERT" in result.stdout


def test_errors_are_one_clean_line(tmp_path):
    result = rag(tmp_path, "ingest", str(tmp_path / "missing.txt"))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.txt'}: no such file or directory"]
    assert "Traceback" not in result.output

    (tmp_path / "bin.txt").write_bytes(b"\x00\x01")
    result = rag(tmp_path, "ingest", str(tmp_path / "bin.txt"))
    assert result.exit_code == 1 and "bin.txt: binary file" in result.stderr

    result = rag(tmp_path, "search", "x", "--year-min", "2024", "--year-max", "2000")
    assert result.exit_code == 1 and "filters: year_min" in result.stderr

    result = rag(tmp_path, "document", "nope")
    assert result.exit_code == 1 and "no such document" in result.stderr


def test_partial_input_still_ingests_and_warns(tmp_path):
    write(tmp_path / "in" / "ok.txt", ABSTRACT_A + "\n")
    (tmp_path / "in" / "bad.txt").write_bytes(b"\xff\xfe\x00")
    result = rag(tmp_path, "ingest", str(tmp_path / "in"))
    assert result.exit_code == 0
    assert "bad.txt: binary file" in result.stderr


def llm_rag(tmp_path, *args, input=None):
    env = {"RAG_EMBED_BACKEND": "hashing", "RAG_LLM_BACKEND": "fake", "RAG_ABSTAIN_THRESHOLD": "0.05"}
    return runner.invoke(app, ["--data-dir", str(tmp_path / "store"), *args], env=env, input=input)


def test_ask_chat_summarize_commands(tmp_path, corpus_copy):
    llm_rag(tmp_path, "ingest", str(corpus_copy))
    result = llm_rag(tmp_path, "ask", "What is TinyBERT?")
    assert result.exit_code == 0, result.output
    assert "TinyBERT" in result.stdout and "[1]" in result.stdout and "References" in result.stdout
    assert "fake:echo-evidence" in result.stderr  # the backend is always shown

    answer = json.loads(llm_rag(tmp_path, "ask", "What is TinyBERT?", "--json").stdout)
    assert answer["abstained"] is False and answer["citations"][0]["n"] == 1 and answer["backend"] == "fake"
    declined = json.loads(llm_rag(tmp_path, "ask", "Qwzx vbnm plokij?", "--json").stdout)
    assert declined["abstained"] is True and declined["citations"] == []

    result = llm_rag(tmp_path, "chat", "--json", input="What is TinyBERT?\n/refs\nHow much faster is it?\n/exit\n")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.exit_code == 0 and len(lines) == 2

    result = llm_rag(tmp_path, "summarize", "speculative decoding", "-k", "4")
    assert result.exit_code == 0 and "References" in result.stdout and "[1]" in result.stdout

    result = llm_rag(tmp_path, "ask", "   ")
    assert result.exit_code == 1 and "question: empty question" in result.stderr


def test_the_references_of_an_answer_or_summary_go_to_a_bib_or_ris_file(tmp_path, corpus_copy):
    import bibtexparser
    import rispy

    llm_rag(tmp_path, "ingest", str(corpus_copy))
    answer = json.loads(llm_rag(tmp_path, "ask", "What is TinyBERT?", "--json", "--refs", str(tmp_path / "a.bib")).stdout)
    entries = bibtexparser.parse_string((tmp_path / "a.bib").read_text()).entries
    assert len(entries) == len(answer["citations"]) >= 1
    again = llm_rag(tmp_path, "ask", "What is TinyBERT?", "--json", "--refs", str(tmp_path / "b.bib"))
    assert [e.key for e in bibtexparser.parse_string((tmp_path / "b.bib").read_text()).entries] == [e.key for e in entries]  # stable
    result = llm_rag(tmp_path, "summarize", "speculative decoding", "-k", "4", "--refs", str(tmp_path / "s.ris"))
    assert result.exit_code == 0 and "wrote" in result.stderr
    assert len(rispy.loads((tmp_path / "s.ris").read_text())) >= 2
    wrong = llm_rag(tmp_path, "ask", "What is TinyBERT?", "--refs", str(tmp_path / "refs.docx"))
    assert wrong.exit_code == 1 and "--refs: 'refs.docx': name the file .bib (BibTeX) or .ris (RIS)" in wrong.stderr
    assert again.exit_code == 0 and not (tmp_path / "refs.docx").exists()


def test_openai_backend_without_key_is_one_clean_error(tmp_path):
    env = {"RAG_EMBED_BACKEND": "hashing", "RAG_LLM_BACKEND": "openai"}
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "s"), "ask", "What is TinyBERT?"], env=env)
    assert result.exit_code == 1 and "OPENAI_API_KEY" in result.stderr and "Traceback" not in result.output


def test_eval_runs_and_compares(tmp_path, corpus_copy):
    assert rag(tmp_path, "ingest", str(corpus_copy), "--json").exit_code == 0
    for name in ("a", "b"):
        result = rag(tmp_path, "eval", "--backend", "fake", "--limit", "3", "--out", str(tmp_path / name), "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["questions"] == 3 and summary["backend"] == "fake" and summary["folder"] == str(tmp_path / name)
    result = rag(tmp_path, "eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert "A: " in result.stdout and re.search(r"paired correctness difference \(n=\d+\): \+0\.000", result.stdout)
    human = rag(tmp_path, "eval", "--backend", "fake", "--limit", "2", "--out", str(tmp_path / "c"))
    assert human.exit_code == 0 and "run folder:" in human.stdout


def test_eval_errors_are_clean(tmp_path):
    result = rag(tmp_path, "eval", "--backend", "gpt")
    assert result.exit_code == 1 and "unknown backend 'gpt'" in result.stderr
    result = rag(tmp_path, "eval", "--backend", "fake")  # empty store
    assert result.exit_code == 1 and "ingest the bundled corpus first" in result.stderr
    assert "Traceback" not in result.output


def test_serve_reports_a_bad_backend_before_listening(tmp_path):
    env = {"RAG_EMBED_BACKEND": "hashing", "RAG_LLM_BACKEND": "openai"}
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "s"), "serve", "--port", "9"], env=env)
    assert result.exit_code == 1 and "OPENAI_API_KEY" in result.stderr and "Traceback" not in result.output


WEIRD = "weird[/]name[bold].jsonl"  # rich markup: "[/]" alone crashes, "[bold]" would vanish


def test_paths_with_markup_are_printed_literally(tmp_path):
    good = json.dumps({"title": "Compressing transformers", "abstract": ABSTRACT_A})
    write(tmp_path / "in" / WEIRD, good + "\n{not json\n")
    result = rag(tmp_path, "ingest", str(tmp_path / "in"))
    assert result.exit_code == 0, result.output
    assert "MarkupError" not in result.output and "Traceback" not in result.output
    assert f"rejected {WEIRD}" in result.stderr.replace("in/", "").replace("in\\", "")

    missing = tmp_path / "gone[/]dir[bold]" / WEIRD
    result = rag(tmp_path, "ingest", str(missing))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [f"error: {missing}: no such file or directory"]

    result = rag(tmp_path, "document", "[/]nope[bold]")
    assert result.exit_code == 1 and "doc_id [/]nope[bold]: no such document" in result.stderr


def test_titles_and_sources_with_markup_are_printed_literally(tmp_path):
    title = "Odd [/] title [red]x[/red] [bold]y"
    record = {"title": title, "abstract": ABSTRACT_A, "authors": ["[i]Ada[/i] Lovelace"], "year": 2020}
    write(tmp_path / "in" / WEIRD, json.dumps(record) + "\n")
    assert rag(tmp_path, "ingest", str(tmp_path / "in")).exit_code == 0

    result = rag(tmp_path, "search", "compressing transformer language models", "-k", "1")
    assert result.exit_code == 0, result.output
    assert f"1. {title}" in result.stdout and WEIRD in result.stdout.replace("\n", "")

    doc_id = json.loads(rag(tmp_path, "search", "compressing transformer", "-k", "1", "--json").stdout)[0]["doc_id"]
    result = rag(tmp_path, "document", doc_id)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{title} (2020)" and lines[1] == "[i]Ada[/i] Lovelace"
    assert WEIRD in result.stdout.replace("\n", "")


def test_doctor_names_a_damaged_lexical_index_and_reindex_mends_it(tmp_path):
    write(tmp_path / "in" / "a.jsonl", json.dumps({"title": "A", "abstract": ABSTRACT_A}) + "\n")
    assert rag(tmp_path, "ingest", str(tmp_path / "in")).exit_code == 0
    result = rag(tmp_path, "doctor", "--json")
    assert result.exit_code == 0, result.output
    assert all(c["ok"] for c in json.loads(result.stdout))
    meta = next((tmp_path / "store" / "lexical").glob("*/index/meta.json"))
    meta.write_text("{not json")
    result = rag(tmp_path, "doctor")
    assert result.exit_code == 1 and "lexical index:" in result.stdout and "damaged" in result.stdout
    assert "reindex" in result.stdout
    assert "rebuilt from the store: 1 chunks" in rag(tmp_path, "reindex").stdout
    assert rag(tmp_path, "doctor").exit_code == 0


def test_progress_is_a_transient_status_line_until_the_first_sentence(monkeypatch, capsys):
    import io

    from rich.console import Console

    from rag import cli
    from rag.models import Answer, Progress

    terminal = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=terminal, force_terminal=True, width=80))
    stream = [
        Progress(step="searching", message="Searching the papers…"),
        Progress(step="reading", message="Reading 2 papers"),
        "TinyBERT is small [1]. ",
        Progress(step="checking", message="Checking each sentence against its source"),
        Answer(question="q", text="TinyBERT is small [1]."),
    ]
    cli._stream_answer(iter(stream), False, False)
    assert capsys.readouterr().out.startswith("TinyBERT is small [1]. \n")  # progress never reaches stdout
    shown = terminal.getvalue()
    assert "Reading 2 papers" in shown and "Checking" not in shown  # nothing is drawn over the answer's line
    monkeypatch.setattr(cli, "err", Console(file=io.StringIO(), force_terminal=True, width=80))
    cli._stream_answer(iter(stream), True, False)
    assert json.loads(capsys.readouterr().out)["text"] == "TinyBERT is small [1]."  # --json: the answer only
