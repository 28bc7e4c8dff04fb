"""The report writer and the comparison of two runs."""

from __future__ import annotations

import json
import re

import pytest

from rag import InputError
from rag.evals import compare, report, run


@pytest.fixture
def two_runs(fake_assistant, one_of_each_kind, tmp_path):
    a = run(assistant=fake_assistant, questions_path=one_of_each_kind, out_dir=tmp_path / "a", retrieval=False)
    # B: the same run with one answer made worse by hand, as a regression would.
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    records = [dict(r) for r in a.records]
    target = next(r for r in records if r["scores"]["correctness"])
    target["scores"] = {**target["scores"], "correctness": 0.0}
    from rag.evals import scoring

    summary = json.loads(json.dumps(a.summary))
    summary["run_id"] = "b"
    summary["metrics"] = scoring.aggregate(records)
    summary["by_kind"] = scoring.by_kind(records)
    report.write_run(b_dir, records, summary)
    return a.folder, b_dir, target["id"]


def test_compare_reports_deltas_and_changed_questions(two_runs):
    a, b, changed_id = two_runs
    diff = compare(a, b)
    assert diff["warnings"] == []
    row = next(r for r in diff["metrics"] if r["metric"] == "correctness")
    assert row["delta"] < 0
    assert [c["id"] for c in diff["changed"]] == [changed_id]
    answerable = sum(1 for line in (a / "questions.jsonl").read_text().splitlines() if json.loads(line)["kind"] != "unanswerable")
    assert diff["paired_correctness_delta"]["value"] < 0 and diff["paired_correctness_delta"]["n"] == answerable


def test_compare_warns_about_different_data(two_runs):
    a, b, _ = two_runs
    summary = json.loads((b / "summary.json").read_text())
    summary["corpus"]["sha256"] = "0" * 64
    (b / "summary.json").write_text(json.dumps(summary))
    assert compare(a, b)["warnings"] == ["the runs used different corpora"]


def test_compare_rejects_a_folder_that_is_not_a_run(tmp_path, two_runs):
    with pytest.raises(InputError, match="not an eval run folder"):
        compare(tmp_path / "nothing", two_runs[0])


def test_markdown_has_headline_kind_and_question_tables(two_runs):
    text = (two_runs[0] / "report.md").read_text()
    for heading in ("## Headline", "## By kind", "## Questions"):
        assert heading in text
    assert "Answer correctness (answerable)" in text and "Invalid citations (never allowed) | 0 |" in text
    assert not re.search(r"\bnan\b", text, re.I)


def test_fmt_shows_ci_and_empty_metrics():
    assert report.fmt({"value": 0.5, "ci": [0.25, 0.75], "n": 4}) == "0.50 [0.25, 0.75]"
    assert report.fmt({"value": 0.0, "ci": [0.0, 0.0], "n": 0}) == "– (n=0)"
