"""Tune the answering thresholds on the dev split (never on test).

Runs every dev question once with abstention switched off, records the signals
(evidence relevance, what the verifier kept) and the answers, then replays the
decision rule for a grid of thresholds, printing answered share vs correctness:

    .venv/bin/python evals/tune_answers.py [--split dev] [--limit N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Assistant  # noqa: E402
from rag.answer import evidence as ev  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.evals.metrics import facts_present as fact_score  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--split", default="dev")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", type=Path, default=Path("/tmp/tune_answers.jsonl"))
    args = p.parse_args()
    a = Assistant(data_dir=args.data_dir, abstain_threshold=0.0) if args.data_dir else Assistant(abstain_threshold=0.0)
    a.ingest()
    qs = qset.load(split=args.split)
    if args.limit:
        qs = qs[: args.limit]
    rows = []
    for q in qs:
        conv = a.conversation()
        if q.kind == "chat":
            conv.ask(q.question)
            asked = q.followup
        else:
            asked = q.question
        t = time.perf_counter()
        ans = conv.ask(asked)
        elapsed = time.perf_counter() - t
        query = ans.standalone_question or asked
        docs = a._answerer().gather(query, a.settings.evidence_docs, [c.doc_id for c in conv.turns[-2].answer.citations] if len(conv.turns) > 1 else [])
        e = ev.select(query, docs, a.embedder, a.settings.evidence_sentences)
        best = max(((sc, snt, src.doc.doc_id) for src in e.sources for sc, snt in zip(src.scores, src.sentences)), default=(0, "", ""))
        row = {
            "id": q.id, "kind": q.kind, "answerable": q.answerable, "relevance": ans.relevance,
            "generated": not ans.abstained, "text": ans.text,
            "facts": fact_score(ans.text, q.facts) if not ans.abstained else 0.0,
            "cited": [c.doc_id for c in ans.citations], "gold": q.gold_doc_ids,
            "extractive": best[1], "extractive_doc": best[2], "extractive_facts": fact_score(best[1], q.facts),
            "removed": [r.model_dump() for r in ans.removed],
            "seconds": round(elapsed, 2), "first_token_s": ans.timings.get("first_token_s"),
            "prompt_tokens": ans.prompt_tokens, "completion_tokens": ans.completion_tokens,
        }
        rows.append(row)
        print(f"{q.id} {q.kind:12s} rel={row['relevance']:.2f} gen={int(row['generated'])} facts={row['facts']:.2f} ext={row['extractive_facts']:.2f} {elapsed:.1f}s", flush=True)
    args.out.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    replay(rows)


def replay(rows: list[dict]) -> None:
    print("\ntau_abstain tau_extractive | answered(ans) correct(ans) abst(unans) wrong_abst(ans) cite_prec")
    for t1 in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55):
        for t2 in (1.1, 0.75, 0.7, 0.65, 0.6):
            ans_rows = [r for r in rows if r["answerable"]]
            un_rows = [r for r in rows if not r["answerable"]]

            def decide(r):
                if r["relevance"] < t1:
                    return "abstain", 0.0, []
                if r["generated"]:
                    return "gen", r["facts"], r["cited"]
                if r["relevance"] >= t2:
                    return "ext", r["extractive_facts"], [r["extractive_doc"]]
                return "abstain", 0.0, []

            dec = [decide(r) for r in ans_rows]
            correct = statistics.fmean(d[1] for d in dec)
            answered = statistics.fmean(d[0] != "abstain" for d in dec)
            abst_un = statistics.fmean(decide(r)[0] == "abstain" for r in un_rows) if un_rows else 0
            cites = [(c in r["gold"]) for r, d in zip(ans_rows, dec) for c in d[2]]
            prec = statistics.fmean(cites) if cites else 1.0
            print(f"{t1:.2f} {t2:.2f} | {answered:.2f} {correct:.2f} {abst_un:.2f} {1 - answered:.2f} {prec:.2f}")


if __name__ == "__main__":
    main()
