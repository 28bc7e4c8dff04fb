"""The eval runner end to end on the fake pipeline: run folder, records, no NaN."""

from __future__ import annotations

import json

import pytest

from rag import Assistant, InputError, Settings
from rag.errors import LLMError
from rag.evals import run
from rag.testing import FakeLLM, HashingEmbedder


def test_run_writes_a_complete_folder(fake_assistant, one_of_each_kind, tmp_path):
    seen = []
    result = run(assistant=fake_assistant, questions_path=one_of_each_kind, out_dir=tmp_path / "run",
                 progress=lambda done, total, qid: seen.append((done, total)))
    folder = tmp_path / "run"
    n = len(one_of_each_kind.read_text().splitlines())  # two of every kind
    assert result.folder == folder and seen[-1] == (n, n) and n >= 10
    assert {p.name for p in folder.iterdir()} == {"questions.jsonl", "summary.json", "report.md", "metrics.png", "latency.png"}
    assert (folder / "metrics.png").read_bytes()[:4] == b"\x89PNG"

    summary = json.loads((folder / "summary.json").read_text())  # strict JSON: no NaN
    json.dumps(summary, allow_nan=False)
    assert summary["backend"] == "fake" and summary["model"] == "echo-evidence"
    assert summary["corpus"]["documents"] == 307 and len(summary["corpus"]["sha256"]) == 64
    assert summary["settings"]["llm_backend"] == "fake" and "git_commit" in summary
    assert set(summary["by_kind"]) == {json.loads(line)["kind"] for line in one_of_each_kind.read_text().splitlines()}
    assert summary["metrics"]["invalid_citations"]["value"] == 0

    records = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    assert len(records) == n
    chat = next(r for r in records if r["kind"] == "chat")
    assert chat["earlier_turns"] and chat["question"] != chat["followup"]
    for r in records:
        assert r["timings"]["seconds"] > 0
        if r["gold"]:
            assert set(r["retrieval"]) == {"bm25", "dense", "hybrid"}
        if not r["abstained"]:
            assert r["scores"]["cited_sentence_share"] == 1.0

    report = (folder / "report.md").read_text()
    assert "## By kind" in report and "| unanswerable |" in report and "![metrics.png](metrics.png)" in report


def test_same_answers_same_report(fake_assistant, one_of_each_kind, tmp_path):
    a = run(assistant=fake_assistant, questions_path=one_of_each_kind, out_dir=tmp_path / "a", retrieval=False)
    b = run(assistant=fake_assistant, questions_path=one_of_each_kind, out_dir=tmp_path / "b", retrieval=False)
    strip = lambda m: {k: v for k, v in m.items() if "latency" not in k and "first_" not in k}  # noqa: E731
    assert strip(a.summary["metrics"]) == strip(b.summary["metrics"])


def test_a_failing_model_is_scored_not_dropped(fake_assistant, one_of_each_kind, tmp_path):
    def broken(messages):
        raise LLMError("model server went away")

    bot = fake_assistant.with_llm(FakeLLM(reply=broken))
    result = run(assistant=bot, questions_path=one_of_each_kind, out_dir=tmp_path / "run", retrieval=False)
    errored = [r for r in result.records if r["error"]]
    assert errored and all(r["scores"]["correctness"] in (0.0, None) for r in errored)
    assert result.summary["metrics"]["errored"]["value"] > 0


def test_an_empty_store_is_a_clear_error(tmp_path):
    a = Assistant(Settings(_env_file=None, data_dir=tmp_path / "empty", embed_backend="hashing", llm_backend="fake"),
                  embedder=HashingEmbedder())
    with pytest.raises(InputError, match="gold documents of the question set are not in the store"):
        run(assistant=a, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_arguments_and_question_files(fake_assistant, tmp_path):
    with pytest.raises(InputError, match="split"):
        run(split="train", assistant=fake_assistant)
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "a", "split": "dev", "kind": "fact", "question": "x"}\n{not json\n')
    with pytest.raises(InputError, match=r"q.jsonl:2: invalid JSON"):
        run(assistant=fake_assistant, questions_path=bad)
    bad.write_text('{"id": "a", "split": "dev", "question": "x"}\n')
    with pytest.raises(InputError, match=r"q.jsonl:1: field kind"):
        run(assistant=fake_assistant, questions_path=bad)
