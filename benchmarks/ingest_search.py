"""Ingest throughput, search latency and retrieval quality of the default pipeline.

    .venv/bin/python benchmarks/ingest_search.py [--reps 2] [--out benchmarks/results/latest.json]

* Ingest: a cold ingest of the bundled corpus into a fresh store, against the bare
  embedding model on exactly the texts the pipeline embeds, in the same process
  (the model is loaded once, before either is timed). Best of --reps runs each,
  interleaved, so a noisy neighbour hurts both sides alike.
* Search: p50/p95 per mode over every question of the question set, warm.
* Quality: recall@5, hit@5, MRR@10, nDCG@10 per mode, dev and test splits.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llama_index.core.schema import MetadataMode  # noqa: E402

from rag import Assistant, Settings  # noqa: E402
from rag.chunking import Chunker  # noqa: E402
from rag.embeddings import make_embedder  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.evals import retrieval  # noqa: E402
from rag.ingest.dedup import deduplicate  # noqa: E402
from rag.ingest.pipeline import read_documents  # noqa: E402
from rag.models import IngestReport  # noqa: E402

CORPUS = ROOT / "data" / "corpus"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    args = parser.parse_args()

    base = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="rag-bench-")))
    t0 = time.perf_counter()
    embedder = make_embedder(base)
    model_load = time.perf_counter() - t0

    # The exact texts the pipeline embeds.
    docs, _ = read_documents([CORPUS], base, IngestReport())
    unique, _ = deduplicate(docs, base.near_duplicate_threshold)
    chunker = Chunker(base.chunk_size, base.chunk_overlap)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for d in unique for n in chunker.chunks(d)]
    embedder.embed(texts[:8])  # warm-up

    bare, pipeline = [], []
    for rep in range(args.reps):
        t = time.perf_counter()
        embedder.embed(texts)
        bare.append(time.perf_counter() - t)
        a = Assistant(base.model_copy(update={"data_dir": base.data_dir / f"cold{rep}"}), embedder=embedder)
        t = time.perf_counter()
        report = a.ingest([CORPUS])
        pipeline.append(time.perf_counter() - t)
    assert report.added == len(unique)
    t = time.perf_counter()
    a.search("warm up the BM25 index")
    first_search = time.perf_counter() - t

    bare_s, pipe_s = min(bare), min(pipeline)
    ingest = {
        "documents": len(unique),
        "chunks": len(texts),
        "model_load_s": round(model_load, 3),
        "pipeline_wall_s": round(pipe_s, 2),
        "pipeline_docs_per_s": round(len(unique) / pipe_s, 1),
        "bare_model_s": round(bare_s, 2),
        "bare_model_docs_per_s": round(len(unique) / bare_s, 1),
        "throughput_ratio_pipeline_vs_bare": round(bare_s / pipe_s, 3),
        "pipeline_overhead_pct": round((pipe_s / bare_s - 1) * 100, 1),
        "first_search_incl_bm25_build_s": round(first_search, 3),
    }

    questions = qset.load()
    latency = {}
    for mode in ("bm25", "dense", "hybrid"):
        for q in questions[:5]:
            a.search(q.question, k=5, mode=mode)
        times = []
        for q in questions:
            t = time.perf_counter()
            a.search(q.question, k=5, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
        latency[mode] = {
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "queries": len(times),
        }

    def search(query: str, k: int, mode: str) -> list[str]:
        return [h.doc_id for h in a.search(query, k=k, mode=mode)]

    quality = {split: retrieval.evaluate(search, qset.load(split=split)) for split in ("dev", "test")}

    result = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "settings": base.index_fingerprint(),
        "ingest": ingest,
        "search_latency": latency,
        "retrieval": quality,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"cold ingest of {len(unique)} documents ({len(texts)} chunks), best of {args.reps}:")
    print(f"  pipeline   {pipe_s:7.2f} s  {ingest['pipeline_docs_per_s']:6.1f} docs/s")
    print(f"  bare model {bare_s:7.2f} s  {ingest['bare_model_docs_per_s']:6.1f} docs/s")
    print(f"  ratio pipeline/bare throughput {ingest['throughput_ratio_pipeline_vs_bare']:.3f} "
          f"(overhead {ingest['pipeline_overhead_pct']:.1f}%, target < 15%)")
    print(f"  model load {model_load:.2f} s; first search incl. BM25 build {first_search:.2f} s")
    print("search latency (warm, k=5):")
    for mode, row in latency.items():
        print(f"  {mode:7s} p50 {row['p50_ms']:6.2f} ms   p95 {row['p95_ms']:6.2f} ms   ({row['queries']} queries)")
    print("retrieval quality:")
    for split, modes in quality.items():
        for mode, row in modes.items():
            print(f"  {split:4s} {mode:7s} " + "  ".join(f"{k} {v}" for k, v in row.items()))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
