"""Answer latency and tokens of the default pipeline vs a plain llama-index baseline.

    .venv/bin/python benchmarks/answer_latency.py [--split dev] [--limit N]

Both run in this process over the same Chroma store, the same embedding model and
the same embedded LLM (so the model is loaded once and neither side pays for it):

* ours: ``Assistant.ask`` (hybrid retrieval, evidence sentences, verification);
* baseline: llama-index ``VectorStoreIndex`` + ``CitationQueryEngine`` (top 3
  chunks, streaming), the field's stock citation engine.

Time to first token is measured from the call to the first token the model
streams (ours includes retrieval and evidence selection). Questions alternate
between the two systems so machine noise hits both alike.
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

from llama_index.core import VectorStoreIndex  # noqa: E402
from llama_index.core.query_engine import CitationQueryEngine  # noqa: E402

from rag import Assistant  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.llm.llama_index import LlamaIndexLLM  # noqa: E402
from rag.retrieve.llama_index import LlamaIndexEmbedding  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(rows: list[dict]) -> dict:
    out = {}
    for key in ("first_token_s", "total_s", "prompt_tokens", "completion_tokens"):
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = {"p50": round(statistics.median(vals), 3), "p95": round(pct(vals, 95), 3), "mean": round(statistics.fmean(vals), 2)}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--split", default="dev")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "answer_latency.json")
    args = p.parse_args()

    a = Assistant()
    a.ingest()
    a.ask("warm up: what is TinyBERT?")
    index = VectorStoreIndex.from_vector_store(a.store.vector_store, embed_model=LlamaIndexEmbedding(a.embedder))
    li_llm = LlamaIndexLLM(a.llm, max_tokens=a.settings.answer_max_tokens)
    engine = CitationQueryEngine.from_args(index, llm=li_llm, similarity_top_k=3, streaming=True)

    qs = [q for q in qset.load(split=args.split)]
    if args.limit:
        qs = qs[: args.limit]
    ours, base = [], []
    for q in qs:
        text = q.followup if q.kind == "chat" else q.question  # a single turn for both systems
        t = time.perf_counter()
        ans = a.ask(text)
        ours.append({
            "first_token_s": ans.timings.get("first_token_s"),
            "total_s": time.perf_counter() - t,
            "prompt_tokens": ans.prompt_tokens, "completion_tokens": ans.completion_tokens,
            "abstained_before_llm": "first_token_s" not in ans.timings,
        })
        t = time.perf_counter()
        first = None
        response = engine.query(text)
        for _ in response.response_gen:
            if first is None:
                first = time.perf_counter() - t
        last = li_llm.last
        base.append({
            "first_token_s": first, "total_s": time.perf_counter() - t,
            "prompt_tokens": last.prompt_tokens if last else None,
            "completion_tokens": last.completion_tokens if last else None,
        })
        print(f"{q.id} ours {ours[-1]['total_s']:.1f}s  baseline {base[-1]['total_s']:.1f}s", flush=True)

    result = {"questions": len(qs), "model": a.llm.model, "ours": summary(ours), "baseline": summary(base)}
    result["ratio_total_p50"] = round(result["baseline"]["total_s"]["p50"] / result["ours"]["total_s"]["p50"], 2)
    result["ratio_first_token_p50"] = round(
        result["baseline"]["first_token_s"]["p50"] / result["ours"]["first_token_s"]["p50"], 2
    )
    result["ours_abstained_before_llm"] = sum(r["abstained_before_llm"] for r in ours)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
