from __future__ import annotations

import json

from rag.ingest.structured import parse_csv, parse_jsonl

from ..helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C


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


def _csv(*rows: str) -> str:
    return "\n".join(["title,abstract,year", *rows]) + "\n"


def _reasons(result) -> dict[str, str]:
    return {r.where: r.reason for r in result.rejected}


def test_csv_unclosed_quote_closed_by_a_later_row_rejects_only_its_own_row():
    # The reported bug: the quote swallowed the next row and left an "abstract" of "2021".
    text = _csv(f'"Broken,{ABSTRACT_A},2020', f'Good,"{ABSTRACT_B}",2021', f'C,"{ABSTRACT_C}",2022')
    result = parse_csv(text, "p.csv", 100_000)
    assert [(d.title, d.year, d.source) for d in result.documents] == [("Good", 2021, "p.csv:3"), ("C", 2022, "p.csv:4")]
    assert _reasons(result) == {"p.csv:2": "unclosed quote (the field runs on into line 3)"}


def test_csv_unclosed_quote_running_to_end_of_file_keeps_the_rows_after_it():
    text = _csv(f"A,{ABSTRACT_A},2020", f'"Broken,{ABSTRACT_B},2021', f"C,{ABSTRACT_A} Also.,2022", f"D,{ABSTRACT_B} Again.,2023")
    result = parse_csv(text, "p.csv", 100_000)
    assert [(d.title, d.source) for d in result.documents] == [("A", "p.csv:2"), ("C", "p.csv:4"), ("D", "p.csv:5")]
    assert _reasons(result) == {"p.csv:3": "unclosed quote (the field runs to the end of the file)"}


def test_csv_unclosed_quote_on_the_last_row_and_in_the_header():
    result = parse_csv(_csv(f"A,{ABSTRACT_A},2020", f'B,"{ABSTRACT_B},2021'), "p.csv", 100_000)
    assert [d.title for d in result.documents] == ["A"]
    assert _reasons(result) == {"p.csv:3": "unclosed quote (the field runs to the end of the file)"}

    result = parse_csv(f'"title,abstract\nA,{ABSTRACT_A}\n', "h.csv", 100_000)
    assert not result.documents
    assert _reasons(result) == {"h.csv:1": "CSV header: unclosed quote (the field runs to the end of the file)"}


def test_csv_multiline_quoted_field_and_stray_quote_are_still_read():
    text = _csv(f'A,"{ABSTRACT_A}\nsecond line",2020', f'"B" (draft),{ABSTRACT_B},2021', f"C,{ABSTRACT_A} More.,2022")
    result = parse_csv(text, "p.csv", 100_000)
    assert [(d.title, d.source) for d in result.documents] == [("A", "p.csv:2"), ("B (draft)", "p.csv:4"), ("C", "p.csv:5")]
    assert result.documents[0].abstract.endswith("second line")
    assert not result.rejected


def test_csv_old_mac_line_endings():
    result = parse_csv(f"title,abstract\rA,{ABSTRACT_A}\rB,{ABSTRACT_B}\r", "p.csv", 100_000)
    assert [(d.title, d.source) for d in result.documents] == [("A", "p.csv:2"), ("B", "p.csv:3")]


def test_csv_row_with_more_fields_than_the_header_is_rejected():
    text = _csv(f"A,{ABSTRACT_A},2020,extra", f"B,{ABSTRACT_B},2021,,", f"C,{ABSTRACT_A} More.,2022")
    result = parse_csv(text, "p.csv", 100_000)
    assert [d.title for d in result.documents] == ["B", "C"]  # trailing empty fields are harmless
    assert _reasons(result) == {"p.csv:2": "4 fields, header has 3"}


def test_csv_row_with_fewer_fields_is_rejected_only_without_an_abstract():
    text = _csv("Title only", f"B,{ABSTRACT_B}", "C,,2022")
    result = parse_csv(text, "p.csv", 100_000)
    assert [(d.title, d.year) for d in result.documents] == [("B", None)]
    assert _reasons(result) == {
        "p.csv:2": "missing field 'abstract' (the row has 1 of the header's 3 fields)",
        "p.csv:4": "no abstract (the 'abstract' field is missing or empty)",
    }


def test_csv_abstract_that_is_only_a_number_is_rejected_as_shifted():
    text = _csv("A,2020", "B, 2019-05-01 ,2019", f"C,{ABSTRACT_C[:40]} 2021,2021")
    result = parse_csv(text, "p.csv", 100_000)
    assert [d.title for d in result.documents] == ["C"]
    assert _reasons(result) == {
        "p.csv:2": "abstract is only a number, '2020' (columns shifted?)",
        "p.csv:3": "abstract is only a number, '2019-05-01' (columns shifted?)",
    }


def test_csv_header_without_abstract_column_names_the_columns_found():
    result = parse_csv(f"Title,Summary,{'x' * 60}\nA,{ABSTRACT_A},1\n", "p.csv", 100_000)
    assert not result.documents
    assert [(r.where, r.reason) for r in result.rejected] == [
        ("p.csv", f"CSV header has no 'abstract' column (found: title, summary, {'x' * 37}...)")
    ]


def test_csv_nul_byte_and_oversized_field_are_rejected_by_row():
    z = "z" * 70_000
    text = _csv(f"A,{ABSTRACT_A}\x00,2020", f"B,{'y' * 140_000},2021", f'"C,{z}', z, f"D,{ABSTRACT_B},2022")
    result = parse_csv(text, "p.csv", 1000)  # field limit: max(2 * 1000, 131072)
    assert [(d.title, d.source) for d in result.documents] == [("D", "p.csv:6")]
    assert _reasons(result) == {
        "p.csv:2": "contains a NUL byte",
        "p.csv:3": "field over the 131,072-character limit",
        "p.csv:4": "field over the 131,072-character limit (unclosed quote?)",
        "p.csv:5": "missing field 'abstract' (the row has 1 of the header's 3 fields)",
    }
