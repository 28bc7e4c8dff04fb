"""Per-question scores and aggregation, against hand-built answers."""

from __future__ import annotations

import json

from rag.evals import scoring
from rag.evals.questions import Question
from rag.models import Answer, Citation, Document

DOCS = {
    "g": Document(doc_id="g", title="TinyBERT", abstract="TinyBERT is 7.5x smaller and 9.4x faster on inference.", source="f:1"),
    "s": Document(doc_id="s", title="Distillation survey", abstract="Distilled students such as TinyBERT are 7.5x smaller.", source="f:2"),
    "x": Document(doc_id="x", title="Speech", abstract="We recognise speech with conformers.", source="f:3"),
}
Q = Question(id="q", split="dev", kind="fact", question="How small is TinyBERT?", gold_doc_ids=["g"], anchors=["x"], facts=[["7.5x"], ["9.4x"]])
UNANS = Question(id="u", split="dev", kind="unanswerable", question="What about Mars?")


def answer(text, cites, abstained=False):
    return Answer(question="q", text=text, abstained=abstained, citations=[
        Citation(n=n, doc_id=d, quote=DOCS[d].abstract) for n, d in cites
    ])


def test_gold_or_supporting_citations_are_precise_others_not():
    a = answer("TinyBERT is 7.5x smaller [1][2]. TinyBERT uses conformers [3].", [(1, "g"), (2, "s"), (3, "x")])
    pairs, total, cited = scoring.citation_checks(a, {"g"}, DOCS.get, 0.5)
    # g: gold; s: supports the first sentence; g again for sentence 2 is fine; x does not support "TinyBERT ...".
    assert pairs == [True, True, False] and (total, cited) == (2, 2)


def test_score_of_a_good_answer():
    a = answer("TinyBERT is 7.5x smaller and 9.4x faster [1].", [(1, "g")])
    prompt = "TinyBERT: " + DOCS["g"].abstract
    s = scoring.score(Q, a, prompt, DOCS.get, 0.5)
    assert s["correctness"] == 1.0 and s["citation_precision"] == 1.0 and s["citation_recall"] == 1.0
    assert s["cited_sentence_share"] == 1.0 and s["invalid_citations"] == 0
    assert s["wrongly_abstained"] == 0.0 and s["abstained_unanswerable"] is None


def test_abstentions_are_scored_not_skipped():
    declined = answer("The abstracts don't answer this question.", [], abstained=True)
    s = scoring.score(Q, declined, "", DOCS.get, 0.5)
    assert s["correctness"] == 0.0 and s["wrongly_abstained"] == 1.0 and s["citation_recall"] == 0.0
    assert s["citation_precision"] is None  # nothing cited: not a zero, not a NaN
    u = scoring.score(UNANS, declined, "", DOCS.get, 0.5)
    assert u["abstained_unanswerable"] == 1.0 and u["correctness"] is None


def test_never_invalid_check_catches_every_kind_of_bad_marker():
    a = answer("TinyBERT is 7.5x smaller [1]. It is fast [4].", [(1, "g"), (2, "s")])
    problems = scoring.invalid_citations(a, prompt_text="TinyBERT: " + DOCS["g"].abstract)
    assert problems == [
        "marker [4] has no reference",
        "reference [2] is not used in the text",
        "reference [2] (s) was not among the sources given to the model",
    ]


def test_an_errored_question_counts_as_wrong():
    s = scoring.score(Q, None, "", DOCS.get, 0.5)
    assert s["correctness"] == 0.0 and s["errored"] == 1.0


def record(qid, kind, scores, seconds=1.0, support=(), retrieval=None):
    base = dict.fromkeys(scoring.ANSWER_METRICS)
    base.update(invalid_citations=0, errored=0.0)
    base.update(scores)
    r = {"id": qid, "kind": kind, "scores": base, "timings": {"seconds": seconds}, "support": list(support),
         "prompt_tokens": 0, "completion_tokens": 0}
    if retrieval:
        r["retrieval"] = {"hybrid": {"ranked": [], "scores": retrieval}}
    return r


def test_aggregate_is_never_nan_and_counts_what_applies():
    rows = [
        record("a", "fact", {"correctness": 1.0, "wrongly_abstained": 0.0}, 2.0, [0.8],
               {"recall@5": 1.0, "hit@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}),
        record("b", "fact", {"correctness": 0.0, "wrongly_abstained": 1.0}, 4.0),
        record("c", "unanswerable", {"abstained_unanswerable": 1.0}, 1.0),
    ]
    m = scoring.aggregate(rows)
    assert m["correctness"] == {"value": 0.5, "ci": [0.0, 1.0], "n": 2}
    assert m["abstained_unanswerable"]["n"] == 1 and m["citation_precision"] == {"value": 0.0, "ci": [0.0, 0.0], "n": 0}
    assert m["latency_p50_s"]["value"] == 2.0 and m["latency_p95_s"]["value"] == 4.0
    assert m["retrieval"]["hybrid"]["recall@5"]["n"] == 1
    json.dumps(m, allow_nan=False)  # raises on any NaN or infinity
    kinds = scoring.by_kind(rows)
    assert kinds["fact"]["questions"] == 2 and "correctness" not in kinds["unanswerable"]


def test_targets_are_marked_met_or_missed():
    summary = {"metrics": {"correctness": {"value": 0.81}, "wrongly_abstained": {"value": 0.2},
                           "retrieval": {"hybrid": {"recall@5": {"value": 0.95}}}}}
    status = scoring.target_status(summary)
    assert status["correctness"]["met"] and not status["wrongly_abstained"]["met"]
    assert status["retrieval.hybrid.recall@5"]["met"]
