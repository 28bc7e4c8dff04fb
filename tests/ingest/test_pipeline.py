"""Ingest end to end against a real embedded Chroma store (hashing embedder)."""

from __future__ import annotations

import json

import pytest

from rag import Assistant, InputError
from rag.testing import HashingEmbedder

from ..helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, write


def test_bundled_corpus_ingest_then_reingest_is_a_no_op(assistant, corpus_copy):
    first = assistant.ingest([corpus_copy])
    assert (first.files, first.records, first.added, first.duplicates) == (5, 309, 307, 2)
    assert first.skipped_files and first.skipped_files[0].endswith("README.md")
    assert not first.rejected
    chunks = assistant.store.count()
    again = assistant.ingest([corpus_copy])
    assert (again.added, again.updated, again.unchanged, again.removed, again.chunks_written) == (0, 0, 307, 0, 0)
    assert assistant.store.count() == chunks


def test_changed_file_updates_only_what_changed(assistant, tmp_path):
    page = tmp_path / "in" / "page.txt"
    other = tmp_path / "in" / "other.txt"
    write(page, f"Compression\n{ABSTRACT_A}\nHeterophily\n{ABSTRACT_B}\n")
    write(other, ABSTRACT_C + "\n")
    assistant.ingest([tmp_path / "in"])
    old_a = next(h.doc_id for h in assistant.search("compressing transformer low-rank adapters", k=1))

    write(page, f"Compression\n{ABSTRACT_A.replace('98%', '97%')}\nHeterophily\n{ABSTRACT_B}\n")
    report = assistant.ingest([tmp_path / "in"])
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 2, 0)
    assert assistant.document(old_a) is None
    (hit,) = assistant.search("compressing transformer low-rank adapters", k=1)
    assert "97%" in assistant.document(hit.doc_id).abstract

    write(page, f"Heterophily\n{ABSTRACT_B}\n")  # a paper disappears from the page
    report = assistant.ingest([page])
    assert (report.removed, report.unchanged) == (1, 1)
    assert len(assistant.store.stored_docs()) == 2


def test_bad_input_never_loses_what_is_stored(assistant, tmp_path):
    good = write(tmp_path / "good.txt", ABSTRACT_A + "\n")
    assistant.ingest([good])
    before = assistant.store.count()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bin.txt").write_bytes(b"\x00\x01\x02" * 100)
    (bad / "latin1.txt").write_bytes("résumé of a paper".encode("latin-1"))
    (bad / "empty.txt").write_bytes(b"")
    (bad / "huge.txt").write_text("word " * 400_000)
    write(bad / "mixed.jsonl", json.dumps({"abstract": ABSTRACT_B}) + "\n{oops\n")
    report = assistant.ingest([bad])
    reasons = {r.where.rsplit("/", 1)[-1]: r.reason for r in report.rejected}
    assert reasons["bin.txt"].startswith("binary file")
    assert reasons["latin1.txt"].startswith("not UTF-8")
    assert reasons["empty.txt"] == "empty file"
    assert "over the 100,000 limit" in reasons["huge.txt:1"]
    assert reasons["mixed.jsonl:2"].startswith("malformed JSON")
    assert report.added == 1  # the good JSONL line still went in
    assert assistant.store.count() == before + 1
    with pytest.raises(InputError):
        assistant.ingest([tmp_path / "missing"])
    assert assistant.store.count() == before + 1


class FailingEmbedder(HashingEmbedder):
    """Dies after a number of calls, like a killed process or a crashed model."""

    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after

    def embed(self, texts):
        if len(self.calls) >= self.fail_after:
            raise RuntimeError("embedding crashed")
        return super().embed(texts)


def test_interrupted_ingest_is_resumed_by_running_it_again(settings, corpus_copy):
    broken = Assistant(settings, embedder=FailingEmbedder(fail_after=2))
    with pytest.raises(RuntimeError):
        broken.ingest([corpus_copy])
    partial = broken.store.stored_docs()
    assert 0 < len(partial) < 307 and all(s.complete for s in partial.values())

    resumed = Assistant(settings, embedder=HashingEmbedder())
    report = resumed.ingest([corpus_copy])
    assert report.unchanged == len(partial) and report.added == 307 - len(partial)
    assert len(resumed.store.stored_docs()) == 307


def test_documents_keep_their_fields(assistant, corpus_copy):
    assistant.ingest([corpus_copy])
    (hit,) = assistant.search("Direction is what you need word embedding compression", k=1)
    doc = assistant.document(hit.doc_id)
    assert doc.title.startswith("Direction is what you need")
    assert (doc.authors, doc.year) == (["Klaudia Balazy"], 2021)
    assert doc.source.endswith("004_2ed6818d327bd65b.txt:16")


def test_long_text_is_chunked_with_metadata_on_every_chunk(settings, tmp_path):
    a = Assistant(settings.model_copy(update={"chunk_size": 64, "chunk_overlap": 16}), embedder=HashingEmbedder())
    long_text = " ".join([ABSTRACT_A, ABSTRACT_B, ABSTRACT_C] * 3)
    write(tmp_path / "long.jsonl", json.dumps({"title": "Long", "abstract": long_text, "year": 2020}) + "\n")
    report = a.ingest([tmp_path / "long.jsonl"])
    assert report.chunks_written > 3
    nodes = list(a.store.iter_nodes())
    assert {n.metadata["title"] for n in nodes} == {"Long"} and {n.metadata["year"] for n in nodes} == {2020}
    doc = a.document(nodes[0].metadata["doc_id"])
    assert doc.abstract == long_text


def _chunks(a: Assistant) -> dict[str, str]:
    return {n.node_id: n.get_content() for n in a.store.iter_nodes()}


def test_ingest_in_parts_stores_what_one_part_stores(tmp_path, corpus_copy):
    from ..conftest import make_settings

    whole = Assistant(make_settings(tmp_path / "whole"), embedder=HashingEmbedder())
    parts = Assistant(make_settings(tmp_path / "parts", ingest_part_docs=40), embedder=HashingEmbedder())
    one, many = whole.ingest([corpus_copy]), parts.ingest([corpus_copy])
    assert (many.files, many.records, many.added, many.duplicates) == (one.files, one.records, one.added, one.duplicates)
    assert _chunks(parts) == _chunks(whole)
    again = parts.ingest([corpus_copy])
    assert (again.added, again.unchanged, again.duplicates, again.chunks_written) == (0, 307, 2, 0)


def test_copies_in_different_parts_are_stored_once_and_stay_once(settings, tmp_path):
    a = Assistant(settings.model_copy(update={"ingest_part_docs": 2}), embedder=HashingEmbedder())
    records = [
        {"title": "Compression", "abstract": ABSTRACT_A, "doi": "10.1/a"},
        {"title": "Heterophily", "abstract": ABSTRACT_B},
        {"title": "Compression", "abstract": ABSTRACT_A},  # the same text, next part
        {"title": "Compression", "abstract": ABSTRACT_A.replace("98%", "97%"), "doi": "10.1/A"},  # the same DOI
        {"title": "Third", "abstract": ABSTRACT_C},
    ]
    write(tmp_path / "in.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    first = a.ingest([tmp_path / "in.jsonl"])
    assert (first.records, first.added, first.duplicates) == (5, 3, 2)
    again = a.ingest([tmp_path / "in.jsonl"])
    assert (again.added, again.updated, again.unchanged, again.duplicates, again.removed) == (0, 0, 3, 2, 0)
    assert len(a.store.stored_docs()) == 3


def test_changed_file_read_in_parts_updates_what_changed(settings, tmp_path):
    a = Assistant(settings.model_copy(update={"ingest_part_docs": 1}), embedder=HashingEmbedder())
    path = tmp_path / "in.jsonl"
    write(path, "".join(json.dumps({"title": t, "abstract": x}) + "\n" for t, x in [("A", ABSTRACT_A), ("B", ABSTRACT_B)]))
    a.ingest([path])
    write(path, "".join(json.dumps({"title": t, "abstract": x}) + "\n" for t, x in [("A", ABSTRACT_A.replace("98%", "97%")), ("C", ABSTRACT_C)]))
    report = a.ingest([path])
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 2, 0, 0)  # C took B's line
    assert sorted(s.title for s in a.store.stored_docs().values()) == ["A", "C"]


def test_json_lines_are_streamed_past_the_file_size_limit(settings, tmp_path):
    a = Assistant(settings.model_copy(update={"max_file_mb": 0.001, "ingest_part_docs": 2}), embedder=HashingEmbedder())
    path = tmp_path / "big.jsonl"
    lines = [json.dumps({"title": t, "abstract": x}).encode() for t, x in [("A", ABSTRACT_A), ("B", ABSTRACT_B)]]
    lines += [b'{"title": "caf\xe9", "abstract": "latin-1 bytes"}', b"{" + b'"x": 1, ' * 40_000 + b"}"]
    lines += [json.dumps({"title": "C", "abstract": ABSTRACT_C}).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    seen: list[tuple[int, int]] = []
    report = a.ingest([path], progress=lambda done, total: seen.append((done, total)))
    assert report.added == 3 and len(a.store.stored_docs()) == 3
    reasons = {r.where.rsplit(":", 1)[1]: r.reason for r in report.rejected}
    assert reasons["3"].startswith("not UTF-8 text (invalid byte at offset")
    assert "over the limit" in reasons["4"]
    assert seen[-1] == (3, 3) and all(done <= total for done, total in seen)


def test_read_documents_keeps_every_record_of_small_inputs(settings, corpus_copy):
    from rag.ingest.pipeline import read_documents
    from rag.models import IngestReport

    docs, parsed = read_documents([corpus_copy], settings, IngestReport())
    assert len(docs) == 309 and len(parsed) == 5


def test_progress_total_is_estimated_from_what_was_read(settings, tmp_path, monkeypatch):
    import random

    from rag.ingest import pipeline

    monkeypatch.setattr(pipeline, "STREAM_BATCH_LINES", 7)
    rng = random.Random(3)
    words = [f"w{i}" for i in range(5000)]
    rows = [{"title": f"Paper {i}", "abstract": " ".join(rng.sample(words, 60))} for i in range(40)]
    write(tmp_path / "in.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    a = Assistant(settings.model_copy(update={"ingest_part_docs": 5}), embedder=HashingEmbedder())
    seen: list[tuple[int, int]] = []
    report = a.ingest([tmp_path / "in.jsonl"], progress=lambda done, total: seen.append((done, total)))
    assert report.added == 40 and seen[-1] == (40, 40)
    assert all(34 <= total <= 46 for _, total in seen)  # within 15% while the file is still being read
