"""BibTeX, RIS, arXiv metadata, OpenAlex and Semantic Scholar imports, from the sample
files in ``samples/`` (written for these tests in each service's real shape)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bibtexparser
import pytest
import rispy

from rag.ingest.bibtex import parse_bibtex
from rag.ingest.dedup import deduplicate
from rag.ingest.files import detect
from rag.ingest.identifiers import arxiv_id, doi, links
from rag.ingest.latex import latex_text
from rag.ingest.ris import parse_ris
from rag.ingest.scholarly import inverted_abstract
from rag.ingest.structured import parse_json, parse_jsonl

SAMPLES = Path(__file__).parent / "samples"
LIMIT = 20_000


def read(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def reasons(result) -> dict[str, str]:
    return {r.where: r.reason for r in result.rejected}


def test_bibtex_fields_latex_names_identifiers_and_bad_entries():
    result = parse_bibtex(read("zotero.bib"), "zotero.bib", LIMIT)
    sparse, graph, protein = result.documents
    assert sparse.title == "Sparse Attention for Long Documents: A Study of Müller's Routing"
    assert sparse.authors == ["Jörg Müller", "Ana de la Cruz", "Open Models Collective"]
    assert (sparse.year, sparse.doi, sparse.cite_key, sparse.source) == (2021, "10.1162/tacl_a_00999", "muller2021sparse", "zotero.bib:5")
    assert sparse.venue == "Transactions of the Association for Computational Linguistics"  # an @string macro, resolved
    assert sparse.url == "https://example.org/papers/sparse-routing"
    assert "10^5 tokens" in sparse.abstract and "38% of the memory" in sparse.abstract and "release all code" in sparse.abstract
    assert (graph.arxiv_id, graph.url, graph.venue) == ("2203.01234", "https://arxiv.org/abs/2203.01234", "Proceedings of the Workshop on Low-Resource Language Processing")
    assert (protein.year, protein.venue) == (2023, "Bioinformatics Letters")  # biblatex date / journaltitle
    assert reasons(result) == {
        "zotero.bib:27": "entry 'ivanova2020note': no abstract (the 'abstract' field is missing or empty)",
        "zotero.bib:34": "malformed BibTeX entry (Unexpected block start: `@article`. Was still looking for field-value closing `}`)",
        "zotero.bib:47": "entry 'muller2021sparse': the citation key is used by an earlier entry",
    }
    assert result.no_abstract == 1


def test_ris_fields_names_and_broken_records():
    result = parse_ris(read("mendeley.ris"), "mendeley.ris", LIMIT)
    fl, code, graph = result.documents
    assert (fl.title, fl.authors, fl.year, fl.doi, fl.cite_key) == (
        "Federated Learning with Noisy Clients", ["Amira Hassan", "Piotr Kowalski"], 2020, "10.5555/jmls.2020.0042", "hassan2020"
    )
    assert fl.abstract.endswith("recover 93% of the clean accuracy with 30% noisy clients.")  # continuation line joined
    assert (code.title, code.authors, code.year) == ("Tokenization Matters for Code Models", ["Beatriz Silva"], 2021)  # T1/A1/Y1/N2
    assert code.venue == "Proceedings of the Conference on Software Language Models"
    assert graph.arxiv_id == "2203.01234"  # from its arxiv.org link (v2)
    assert reasons(result) == {
        "mendeley.ris:22": "record 'noabs2018': no abstract (the 'abstract' field is missing or empty)",
        "mendeley.ris:37": "RIS record has no 'ER  -' line (the file looks cut off)",
    }


def test_ris_text_outside_records_and_unclosed_record_before_the_next():
    text = "stray header\nTY  - JOUR\nAB  - First abstract that never ends.\nTY  - JOUR\nAB  - Second abstract, closed.\nER  - \n"
    result = parse_ris(text, "x.ris", LIMIT)
    assert [d.abstract for d in result.documents] == ["Second abstract, closed."]
    assert reasons(result) == {
        "x.ris:1": "text outside a RIS record (no 'TY  -' line before it); ignored",
        "x.ris:2": "RIS record has no 'ER  -' line before the next 'TY  -'",
    }


def test_arxiv_metadata_lines():
    result = parse_jsonl(read("arxiv-metadata.jsonl"), "arxiv.jsonl", LIMIT)
    graph, strings = result.documents
    assert (graph.title, graph.authors, graph.year) == (
        "Graph Priors for Low-Resource Named Entity Recognition", ["Chidi Okafor", "Yuki Nakamura"], 2022  # first version's year
    )
    assert (graph.arxiv_id, graph.url, graph.doi) == ("2203.01234", "https://arxiv.org/abs/2203.01234", None)
    assert "improve F_1 by 4.1 points" in graph.abstract and "\n" not in graph.abstract
    assert (strings.arxiv_id, strings.authors, strings.year) == ("hep-th/9901001", ["R. Balázs"], 1999)
    assert (strings.doi, strings.venue) == ("10.1016/s0370-2693(99)00001-1", "Phys. Lett. B 450 (1999) 1-7")
    assert "𝒩=4 strings" in strings.abstract
    assert reasons(result)["arxiv.jsonl:3"] == "record '2401.09999': no abstract (the 'abstract' field is missing or empty)"
    assert reasons(result)["arxiv.jsonl:4"].startswith("malformed JSON (Unterminated string")
    assert result.no_abstract == 1


def test_openalex_response_rebuilds_the_inverted_abstract():
    result = parse_json(read("openalex-works.json"), "openalex.json", LIMIT)
    (soil,) = result.documents
    assert soil.abstract == "Drought reduced bacterial diversity by 18% in all plots, while fungi increased in abundance."
    assert (soil.title, soil.authors, soil.year) == ("Soil Microbiome Shifts Under Drought", ["Lena Fischer", "Tomás Ruiz"], 2021)
    assert (soil.doi, soil.url, soil.venue) == ("10.1234/soil.2021.7", "https://example.org/soil-drought", "Journal of Soil Ecology")
    assert soil.source == "openalex.json:5"  # the line its record starts on
    assert reasons(result) == {
        "openalex.json:20": "record 'https://openalex.org/W4200000002': no abstract (the 'abstract' field is missing or empty)",
        "openalex.json:28": "field 'abstract_inverted_index' must map words to position lists",
    }
    assert result.no_abstract == 1


def test_openalex_works_one_per_line_and_bad_positions():
    work = {"id": "https://openalex.org/W1", "display_name": "T", "abstract_inverted_index": {"b": [1], "a": [0]}}
    bad = {"id": "https://openalex.org/W2", "abstract_inverted_index": {"x": [10**9]}}
    result = parse_jsonl(json.dumps(work) + "\n" + json.dumps(bad) + "\n", "w.jsonl", LIMIT)
    assert [d.abstract for d in result.documents] == ["a b"]
    assert "bad position" in reasons(result)["w.jsonl:2"]
    assert inverted_abstract({}) is None and inverted_abstract(None) is None


def test_semantic_scholar_response():
    result = parse_json(read("semantic-scholar.json"), "s2.json", LIMIT)
    (sparse,) = result.documents
    assert (sparse.doi, sparse.year, sparse.authors) == ("10.1162/tacl_a_00999", 2021, ["Jörg Müller", "Ana de la Cruz"])
    assert sparse.venue == "Transactions of the Association for Computational Linguistics"
    assert result.no_abstract == 1


def test_json_array_records_by_line_and_a_syntax_error_keeps_what_came_before():
    text = '[\n  {"title": "A", "abstract": "First."},\n  {"title": "B", "abstract": "Second."},\n  {"title": "C", "abstract": oops}\n]'
    result = parse_json(text, "a.json", LIMIT)
    assert [d.source for d in result.documents] == ["a.json:2", "a.json:3"]
    assert list(reasons(result)) == ["a.json:4"] and "the rest of the file is not read" in reasons(result)["a.json:4"]
    assert reasons(parse_json('"just text"', "b.json", LIMIT)) == {"b.json": "expected a list of records or an object, got str"}


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("refs.txt", "% comment\n@article{k, title={T}}", "bibtex"),
        ("refs.txt", "TY  - JOUR\nAB  - x\nER  - \n", "ris"),
        ("page.txt", "Some scraped page\nwith text", "raw"),
        ("works.jsonl", '[{"abstract": "x"}]', "json"),
        ("works.json", '{"abstract": "x"}\n{"abstract": "y"}\n', "jsonl"),
        ("works.json", '{\n  "abstract": "x"\n}\n', "json"),
        ("refs.bib", "@article{k, title={T}}", "bibtex"),
        ("refs.ris", "TY  - JOUR\nER  - \n", "ris"),
    ],
)
def test_format_is_detected_by_extension_and_content(name, text, kind):
    assert detect(Path(name), text) == kind


def test_identifiers_are_normalised_wherever_they_are_written():
    assert doi("https://doi.org/10.1000/ABC") == doi("doi: 10.1000/abc") == "10.1000/abc"
    assert doi("not a doi") is None
    assert arxiv_id("arXiv:2101.00001v3") == arxiv_id("https://arxiv.org/pdf/2101.00001v1.pdf") == "2101.00001"
    assert arxiv_id("10.48550/arXiv.2101.00001") == "2101.00001"
    assert links({"journal": "arXiv preprint arXiv:2101.00001"}).arxiv_id == "2101.00001"
    assert links({"doi": "10.48550/arXiv.2101.00001"}).fields() == {"arxiv_id": "2101.00001", "url": "https://arxiv.org/abs/2101.00001"}


def test_latex_is_decoded_and_plain_text_left_alone():
    assert latex_text(r"M{\"u}ller and {\'E}tudes") == "Müller and Études"
    assert latex_text(r"Fran{\c{c}}ois {\AA}ngstr\"om na\"{\i}ve \v{C}ech") == "François Ångström naïve Čech"  # the table
    assert latex_text(r"50\% of \$5 \& \{x\} a\_b, x\textasciitilde{}y") == "50% of $5 & {x} a_b, x~y"
    assert latex_text(r"$\gamma$-ray \emph{bright} M{\"u}ller") == "γ-ray bright Müller"  # pylatexenc for the rest
    assert latex_text("a {BERT} model~here") == "a BERT model here"
    assert latex_text(r"rises 50% of the time \emph{quickly}") == "rises 50% of the time quickly"  # bare % is not a comment


def test_same_paper_from_bibtex_arxiv_ris_and_semantic_scholar_is_one_paper():
    docs = [
        *parse_bibtex(read("zotero.bib"), "zotero.bib", LIMIT).documents,
        *parse_jsonl(read("arxiv-metadata.jsonl"), "arxiv.jsonl", LIMIT).documents,
        *parse_ris(read("mendeley.ris"), "mendeley.ris", LIMIT).documents,
        *parse_json(read("semantic-scholar.json"), "s2.json", LIMIT).documents,
    ]
    unique, duplicates = deduplicate(docs, 0.8)
    graph = next(d for d in unique if d.arxiv_id == "2203.01234")
    assert sorted([graph.source, *graph.also_in]) == ["arxiv.jsonl:1", "mendeley.ris:29", "zotero.bib:17"]
    assert graph.cite_key == "okafor2022graph" and graph.venue  # fields only one copy had are kept
    sparse = next(d for d in unique if d.doi == "10.1162/tacl_a_00999")
    assert sorted([sparse.source, *sparse.also_in]) == ["s2.json:2", "zotero.bib:5"]
    assert duplicates == 3


def test_a_shared_proceedings_doi_does_not_merge_different_papers():
    bib = "".join(
        f"@inproceedings{{p{i}, title={{{t}}}, doi={{10.1000/proc.2020}}, abstract={{{a}}}}}\n"
        for i, (t, a) in enumerate([("Graph Neural Networks for Chemistry", "We model molecules as graphs."), ("Speech Recognition in Noise", "We denoise audio before decoding.")])
    )
    unique, duplicates = deduplicate(parse_bibtex(bib, "p.bib", LIMIT).documents, 0.8)
    assert (len(unique), duplicates) == (2, 0)


def test_every_sample_ingests_and_reports_records_without_abstracts(assistant, tmp_path):
    folder = tmp_path / "library"
    shutil.copytree(SAMPLES, folder)
    report = assistant.ingest([folder])
    assert (report.files, report.no_abstract) == (5, 5)
    assert report.added == 7 and report.duplicates == 3
    wheres = {r.where.rsplit("/", 1)[-1] for r in report.rejected}
    assert {"zotero.bib:27", "zotero.bib:34", "mendeley.ris:37", "openalex-works.json:20", "arxiv-metadata.jsonl:4"} <= wheres
    sparse = next(d for d in (assistant.document(h.doc_id) for h in assistant.search("sparse attention routing", k=3)) if d)
    assert (sparse.doi, sparse.cite_key, sparse.venue) == ("10.1162/tacl_a_00999", "muller2021sparse", "Transactions of the Association for Computational Linguistics")
    again = assistant.ingest([folder])
    assert (again.added, again.updated, again.removed, again.chunks_written) == (0, 0, 0, 0)


def test_a_paper_already_stored_from_another_file_is_not_added_again(assistant, tmp_path):
    (tmp_path / "a.bib").write_text(read("zotero.bib"), encoding="utf-8")
    assistant.ingest([tmp_path / "a.bib"])
    chunks = assistant.store.count()
    (tmp_path / "s2.json").write_text(read("semantic-scholar.json"), encoding="utf-8")
    report = assistant.ingest([tmp_path / "s2.json"])  # the sparse-attention paper again, worded differently, same DOI
    assert (report.added, report.duplicates) == (0, 1)
    assert assistant.store.count() == chunks


def test_an_edited_entry_with_the_same_doi_replaces_its_earlier_version(assistant, tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text("@article{k, title={First title}, doi={10.1/x}, abstract={The first wording of the abstract.}}\n")
    assistant.ingest([path])
    path.write_text("@article{k, title={A new title}, doi={10.1/x}, abstract={A revised abstract, reworded entirely.}}\n")
    report = assistant.ingest([path])
    assert (report.added, report.updated, report.removed) == (0, 1, 0)
    assert [h.title for h in assistant.search("abstract", k=5)] == ["A new title"]


def test_imported_keys_and_identifiers_survive_export(assistant, tmp_path):
    (tmp_path / "a.bib").write_text(read("zotero.bib"), encoding="utf-8")
    assistant.ingest([tmp_path / "a.bib"])
    ids = [h.doc_id for h in assistant.search("named entity recognition graph prior", k=1)]
    (entry,) = bibtexparser.parse_string(assistant.export(ids, "bibtex")).entries
    assert entry.key == "okafor2022graph"
    assert (entry["eprint"], entry["archiveprefix"]) == ("2203.01234", "arXiv")
    (record,) = rispy.loads(assistant.export(ids, "ris"))
    assert (record["id"], record["journal_name"]) == ("okafor2022graph", "Proceedings of the Workshop on Low-Resource Language Processing")


def test_a_typo_in_an_entry_loses_nothing_already_stored(assistant, tmp_path):
    path = tmp_path / "refs.bib"
    good = "@article{a, title={Alpha}, abstract={The first paper's abstract.}}\n@article{b, title={Beta}, abstract={The second paper's abstract.}}\n"
    path.write_text(good)
    assistant.ingest([path])
    path.write_text(good.replace("title={Beta},", "title={Beta,"))  # an unclosed brace breaks entry b
    report = assistant.ingest([path])
    assert (report.removed, report.kept, len(report.rejected)) == (0, 1, 1)
    assert {h.title for h in assistant.search("paper abstract", k=5)} == {"Alpha", "Beta"}
    path.write_text(good.split("@article{b")[0])  # entry b deleted on purpose, the file clean: now it goes
    report = assistant.ingest([path])
    assert (report.removed, report.kept) == (1, 0)
