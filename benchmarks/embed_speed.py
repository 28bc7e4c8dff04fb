"""The local embedder: today's (float products, batches of 32) against the int8 build
one text a run, in one process, on the texts the pipeline embeds.

    .venv/bin/python benchmarks/embed_speed.py [--reps 3] [--out benchmarks/results/embed_speed.json]

* Throughput of four configurations (fp32 with batches of 32 and 8, int8 with batches
  of 32 and one text a run) on every chunk
  of the bundled corpus, round robin, best of --reps; the ratio to today's.
* Agreement with today's vectors: cosine per text (mean, min).
* Cold ingest of the corpus (parse, embed, write, fresh store) with today's embedder
  and the new default, round robin, best of --reps.
* Retrieval quality (recall@5, MRR@10, nDCG@10 per mode) on the dev and test splits
  with each, from those stores.
* The limit: the int8 model on batches with no padding at the corpus's mean chunk
  length (tokens/s, turned into chunks/s and docs/s), what the runtime can do at best.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llama_index.core.schema import MetadataMode  # noqa: E402

from rag import Assistant, Settings  # noqa: E402
from rag.chunking import Chunker  # noqa: E402
from rag.embeddings import MiniLMOnnxEmbedder  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.evals import retrieval  # noqa: E402
from rag.ingest.dedup import deduplicate  # noqa: E402
from rag.ingest.pipeline import read_documents  # noqa: E402
from rag.models import IngestReport  # noqa: E402

CORPUS = ROOT / "data" / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "embed_speed.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rag-embed-"))
    base = Settings(_env_file=None, data_dir=work / "data", model_cache_dir=work / "cache")
    docs, _ = read_documents([CORPUS], base, IngestReport())
    unique, _ = deduplicate(docs, base.near_duplicate_threshold)
    chunker = Chunker(base.chunk_size, base.chunk_overlap)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for d in unique for n in chunker.chunks(d)]

    t = time.perf_counter()
    configs = {
        "today (fp32, batch 32)": MiniLMOnnxEmbedder(compute="fp32", batch_size=32),
        "fp32, batch 8": MiniLMOnnxEmbedder(compute="fp32", batch_size=8),
        "int8, batch 32": MiniLMOnnxEmbedder(compute="int8", batch_size=32, cache_dir=base.model_cache_dir),
        "int8, one text a run (default)": MiniLMOnnxEmbedder(compute="int8", batch_size=1, cache_dir=base.model_cache_dir),
    }
    build_s = time.perf_counter() - t
    for e in configs.values():
        e.embed(texts[:16])  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.reps):
        for name, e in configs.items():
            t = time.perf_counter()
            vectors[name] = np.array(e.embed(texts))
            seconds[name].append(time.perf_counter() - t)
    today = "today (fp32, batch 32)"
    embed = {}
    for name in configs:
        cos = (vectors[name] * vectors[today]).sum(axis=1)
        embed[name] = {
            "best_s": round(min(seconds[name]), 2),
            "texts_per_s": round(len(texts) / min(seconds[name]), 1),
            "docs_per_s": round(len(unique) / min(seconds[name]), 1),
            "ratio_to_today": round(min(seconds[today]) / min(seconds[name]), 2),
            "cosine_to_today_mean": round(float(cos.mean()), 4),
            "cosine_to_today_min": round(float(cos.min()), 4),
        }

    # Cold ingest and retrieval quality, today's embedder against the new default.
    pair = {"today": configs[today], "new": configs["int8, one text a run (default)"]}
    ingest_s: dict[str, list[float]] = {k: [] for k in pair}
    stores: dict[str, Assistant] = {}
    for rep in range(args.reps):
        for name, e in pair.items():
            a = Assistant(base.model_copy(update={"data_dir": work / f"{name}-{rep}"}), embedder=e)
            t = time.perf_counter()
            a.ingest([CORPUS])
            ingest_s[name].append(time.perf_counter() - t)
            stores[name] = a
    ingest = {
        name: {"best_s": round(min(v), 2), "docs_per_s": round(len(unique) / min(v), 1)} for name, v in ingest_s.items()
    }
    ingest["ratio"] = round(min(ingest_s["today"]) / min(ingest_s["new"]), 2)
    quality = {}
    for name, a in stores.items():

        def search(query: str, k: int, mode: str, a: Assistant = a) -> list[str]:
            return [h.doc_id for h in a.search(query, k=k, mode=mode)]

        quality[name] = {split: retrieval.evaluate(search, qset.load(split=split)) for split in ("dev", "test")}
    differences = _paired_differences(stores["today"], stores["new"], [q for q in qset.load(split="test") if q.gold_doc_ids])

    # The limit: full batches of the mean chunk length, nothing padded.
    e = configs["int8, one text a run (default)"]
    lengths = [sum(enc.attention_mask) for enc in e._tokenizer.encode_batch(texts)]  # noqa: SLF001 (measurement only)
    mean_len = int(round(sum(lengths) / len(lengths)))
    probe = " ".join(["word"] * (mean_len - 2))
    uniform = [probe] * 256
    e.embed(uniform[:8])
    best = min(_timed(e, uniform) for _ in range(args.reps))
    limit = {
        "mean_tokens_per_chunk": mean_len,
        "tokens_per_s": round(256 * mean_len / best),
        "chunks_per_s": round(256 / best, 1),
        "docs_per_s": round(256 / best * len(unique) / len(texts), 1),
    }

    result = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "texts": len(texts),
        "documents": len(unique),
        "int8_build_s_first_use": round(build_s, 2),
        "embed": embed,
        "cold_ingest": ingest,
        "retrieval": quality,
        "test_difference_new_minus_today_95ci": differences,
        "limit_int8_no_padding": limit,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(texts)} chunks of {len(unique)} documents, best of {args.reps}")
    for name, row in embed.items():
        print(f"  {name:24s} {row['texts_per_s']:6.1f} texts/s  {row['docs_per_s']:6.1f} docs/s  x{row['ratio_to_today']:.2f}"
              f"  cosine to today mean {row['cosine_to_today_mean']:.4f} min {row['cosine_to_today_min']:.4f}")
    print(f"  cold ingest: today {ingest['today']['docs_per_s']} docs/s, new {ingest['new']['docs_per_s']} docs/s, x{ingest['ratio']}")
    for name, splits in quality.items():
        for split, modes in splits.items():
            print(f"  {name:5s} {split:4s} " + "  ".join(f"{m}: r@5 {r['recall@5']} mrr {r['mrr@10']}" for m, r in modes.items()))
    for key, (mean, low, high) in differences.items():
        print(f"  test {key} new - today: {mean:+.4f} [{low:+.4f}, {high:+.4f}]")
    print(f"  limit (int8, no padding, {mean_len} tokens/chunk): {limit['tokens_per_s']} tokens/s = {limit['docs_per_s']} docs/s")


def _paired_differences(today: Assistant, new: Assistant, questions: list) -> dict[str, tuple[float, float, float]]:
    """Per-question differences (new - today) of recall@5 and MRR@10 in dense and hybrid
    search, with a paired bootstrap 95% interval (2,000 resamples, fixed seed)."""
    from rag.evals import scoring

    rng = np.random.default_rng(0)
    out = {}
    for mode in ("dense", "hybrid"):
        pairs = [
            [scoring.retrieval_scores([h.doc_id for h in a.search(q.question, k=10, mode=mode)], q.gold_doc_ids) for a in (today, new)]
            for q in questions
        ]
        for metric in ("recall@5", "mrr@10"):
            diff = np.array([n[metric] - t[metric] for t, n in pairs])
            boots = [float(diff[rng.integers(0, len(diff), len(diff))].mean()) for _ in range(2000)]
            low, high = np.percentile(boots, [2.5, 97.5])
            out[f"{mode} {metric}"] = (round(float(diff.mean()), 4), round(float(low), 4), round(float(high), 4))
    return out


def _timed(e: MiniLMOnnxEmbedder, texts: list[str]) -> float:
    t = time.perf_counter()
    e.embed(texts)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
