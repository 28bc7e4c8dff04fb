"""The question set stays tied to the corpus: a parser change cannot orphan gold ids."""

from __future__ import annotations

from collections import Counter

from rag.evals import questions

from ..ingest.test_raw import bundled_docs


def test_gold_ids_resolve_to_documents_holding_their_anchors():
    from rag.ingest.dedup import deduplicate

    docs = {d.doc_id: d for d in deduplicate(bundled_docs(), 0.7)[0]}
    for q in questions.load():
        assert len(q.gold_doc_ids) == len(q.anchors), q.id
        for doc_id, anchor in zip(q.gold_doc_ids, q.anchors):
            assert doc_id in docs, f"{q.id}: gold id {doc_id} is not in the parsed corpus"
            assert anchor in docs[doc_id].abstract, f"{q.id}: anchor not in {doc_id}"


def test_gold_ids_are_in_the_store(assistant, corpus_copy):
    assistant.ingest([corpus_copy])
    stored = set(assistant.store.stored_docs())
    missing = {g for q in questions.load() for g in q.gold_doc_ids} - stored
    assert not missing


def test_split_and_kinds():
    qs = questions.load()
    assert len({q.id for q in qs}) == len(qs) >= 100
    every = {"fact", "paraphrase", "multi", "unanswerable", "chat", "short", "yesno", "twopart", "broad", "multilingual"}
    assert {q.kind for q in qs} == every
    for split in ("dev", "test"):
        kinds = Counter(q.kind for q in qs if q.split == split)
        assert set(kinds) == every, split  # every kind is tuned on and reported
    assert sum(q.split == "test" for q in qs) >= 120
    assert all(q.followup for q in qs if q.kind == "chat")
    assert all(q.facts for q in qs if q.answerable)


def test_question_set_is_package_data():
    # Shipped inside the package (rag/evals/questions.jsonl) and read through
    # importlib.resources, so an installed wheel finds it too.
    from importlib import resources

    assert questions.DEFAULT_PATH == resources.files("rag.evals") / "questions.jsonl"
    assert questions.DEFAULT_PATH.is_file()
    assert questions.load(str(questions.DEFAULT_PATH)) == questions.load()
