"""The lexical index at scale: the tantivy index (rag.lexical) against the bm25s index
it replaced and against SQLite FTS5 (the other on-disk engine considered), on the same
generated chunks in one run.

    .venv/bin/python benchmarks/lexical.py [--sizes 10000 100000] [--out benchmarks/results/lexical.json]

For each N (chunks recombined from the bundled abstracts, benchmarks/import_formats.py):
- bm25s: the full in-memory build that every write to the store used to cost on the
  next search (the store scan it also needed is not counted), and its query latency;
- tantivy (rag.lexical.LexicalIndex, as the store uses it): the cold build of N chunks
  in the ingest's write batches, then adding 100 new chunks to it against adding the
  same 100 to an empty index (the target: at most 2x), its query latency (p50/p95 over
  50 queries, 60 candidates as the hybrid retriever asks), and its size on disk;
- FTS5: the same build, and a query ranked by its bm25() (no top-k pruning).
Tokenization (the same bm25s tokenizer and stemmer) is included everywhere.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bm25s  # noqa: E402
from import_formats import papers  # noqa: E402
from llama_index.core.schema import TextNode  # noqa: E402

from rag.lexical import LexicalIndex, index_text, stems  # noqa: E402

QUERIES = [
    "speculative decoding draft model", "knowledge distillation of BERT", "soil microbiome drought",
    "retrieval augmented generation citations", "graph neural networks heterophily",
    "protein structure prediction", "contrastive learning of sentence embeddings",
    "reinforcement learning from human feedback", "low-rank adaptation of large language models",
    "climate change crop yield",
] * 5
CANDIDATES = 60


def nodes_of(rows: list[dict], prefix: str) -> list[TextNode]:
    return [
        TextNode(id_=f"{prefix}{i}-0", text=p["abstract"], metadata={"title": p["title"], "doc_id": f"{prefix}{i}"})
        for i, p in enumerate(rows)
    ]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def bm25s_side(nodes: list[TextNode]) -> dict:
    bm25 = bm25s.BM25()
    build = timed(lambda: bm25.index(stems([index_text(n) for n in nodes]), show_progress=False))
    times = []
    for q in QUERIES:
        t = time.perf_counter()
        bm25.retrieve([stems([q])[0]], k=CANDIDATES, show_progress=False, n_threads=1)
        times.append((time.perf_counter() - t) * 1000)
    p50, p95 = percentiles(times)
    return {"full_build_s": round(build, 2), "query_p50_ms": round(p50, 2), "query_p95_ms": round(p95, 2)}


def fts5_side(nodes: list[TextNode], work: Path) -> dict:
    db = sqlite3.connect(work / "fts5.sqlite")
    db.execute("CREATE VIRTUAL TABLE terms USING fts5 (stems)")
    t = time.perf_counter()
    for start in range(0, len(nodes), 2000):
        batch = nodes[start : start + 2000]
        with db:
            db.executemany("INSERT INTO terms (stems) VALUES (?)", [(" ".join(w),) for w in stems([index_text(n) for n in batch])])
    build = time.perf_counter() - t
    times = []
    for q in QUERIES:
        t = time.perf_counter()
        match = " OR ".join(f'"{w}"' for w in dict.fromkeys(stems([q])[0]))
        db.execute("SELECT rowid FROM terms WHERE terms MATCH ? ORDER BY bm25(terms) LIMIT ?", (match, CANDIDATES)).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    db.close()
    p50, p95 = percentiles(times)
    return {"cold_build_s": round(build, 2), "query_p50_ms": round(p50, 2), "query_p95_ms": round(p95, 2)}


def tantivy_side(nodes: list[TextNode], extra: list[TextNode], work: Path) -> dict:
    index = LexicalIndex(work / "big")
    cold = 0.0
    for start in range(0, len(nodes), 2000):  # the ingest's write batches
        cold += timed(lambda s=start: index.add(nodes[s : s + 2000]))
    add_big = timed(lambda: index.add(extra))
    empty = LexicalIndex(work / "empty")
    add_empty = timed(lambda: empty.add(extra))
    times = []
    for q in QUERIES:
        t = time.perf_counter()
        index.search(q, CANDIDATES)
        times.append((time.perf_counter() - t) * 1000)
    p50, p95 = percentiles(times)
    size = sum(p.stat().st_size for p in (work / "big").rglob("*") if p.is_file())
    return {
        "cold_build_s": round(cold, 2),
        "add_100_s": round(add_big, 3),
        "add_100_to_empty_s": round(add_empty, 3),
        "add_ratio": round(add_big / add_empty, 2),
        "query_p50_ms": round(p50, 2),
        "query_p95_ms": round(p95, 2),
        "disk_mb": round(size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        rows = papers(n + 100)
        nodes, extra = nodes_of(rows[:n], "d"), nodes_of(rows[n:], "x")
        with tempfile.TemporaryDirectory() as work:
            row = {
                "chunks": n,
                "bm25s": bm25s_side(nodes),
                "tantivy": tantivy_side(nodes, extra, Path(work)),
                "fts5": fts5_side(nodes, Path(work)),
            }
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
