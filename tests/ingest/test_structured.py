from __future__ import annotations

import json

from rag.ingest.structured import parse_csv, parse_jsonl

from ..helpers import ABSTRACT_A, ABSTRACT_B


def test_jsonl_fields_and_bad_lines_reported_by_number():
    lines = [
        json.dumps({"title": "A", "abstract": ABSTRACT_A, "authors": ["Ada Lovelace", "Alan Turing"], "year": 2021}),
        "{not json",
        json.dumps({"title": "no abstract"}),
        "",
        json.dumps({"Title": "B", "Abstract": ABSTRACT_B, "authors": "Grace Hopper; Edsger Dijkstra", "year": "2019-05-01"}),
        json.dumps({"abstract": ABSTRACT_B, "year": "unknown"}),
        json.dumps(["a", "list"]),
    ]
    result = parse_jsonl("\n".join(lines), "x.jsonl", 100_000)
    a, b = result.documents
    assert (a.title, a.authors, a.year, a.source) == ("A", ["Ada Lovelace", "Alan Turing"], 2021, "x.jsonl:1")
    assert (b.title, b.authors, b.year, b.source) == ("B", ["Grace Hopper", "Edsger Dijkstra"], 2019, "x.jsonl:5")
    reasons = {r.where: r.reason for r in result.rejected}
    assert reasons["x.jsonl:2"].startswith("malformed JSON")
    assert "abstract" in reasons["x.jsonl:3"]
    assert "year" in reasons["x.jsonl:6"]
    assert "object" in reasons["x.jsonl:7"]


def test_csv_with_header_and_quoted_commas():
    text = 'title,abstract,authors,year\n"A, with comma","' + ABSTRACT_A + '","Ada Lovelace, Alan Turing",2020\nB,,x,2020\n'
    result = parse_csv(text, "p.csv", 100_000)
    (doc,) = result.documents
    assert (doc.title, doc.authors, doc.year) == ("A, with comma", ["Ada Lovelace", "Alan Turing"], 2020)
    assert result.rejected[0].where == "p.csv:3"


def test_csv_without_abstract_column_is_rejected_whole():
    result = parse_csv("name,text\na,b\n", "p.csv", 100_000)
    assert not result.documents
    assert result.rejected[0].where == "p.csv" and "'abstract' column" in result.rejected[0].reason


def test_a_pathologically_nested_line_is_rejected_by_itself():
    good = json.dumps({"title": "Good", "abstract": ABSTRACT_A})
    text = "\n".join(["[" * 50_000 + "]" * 50_000, good, '{"abstract": ' + "[" * 50_000])
    result = parse_jsonl(text, "deep.jsonl", 100_000)
    assert [d.title for d in result.documents] == ["Good"]
    reasons = {r.where: r.reason for r in result.rejected}
    assert reasons["deep.jsonl:1"] == "JSON nested too deeply to read"
    assert set(reasons) == {"deep.jsonl:1", "deep.jsonl:3"}
