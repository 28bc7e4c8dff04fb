"""A large ingest killed (SIGKILL) at several points, then run again: the result must be
what a clean ingest gives.

    .venv/bin/python benchmarks/resume.py [--papers 20000] [--kills 0.05 0.3 0.55 0.8 0.97]
        [--part-docs 5000] [--embedder hashing|local] [--out benchmarks/results/resume.json]

Papers are recombined from the bundled abstracts (benchmarks/import_formats.py), in
four JSONL files, ingested in parts of ``--part-docs`` papers (so kills land in
different parts, between the first part's writes and the last). A clean ingest is timed; then, for each fraction f, a fresh store
gets the same ingest killed after f of the clean run's time (reading, embedding,
Chroma writes and lexical commits are all reachable that way), then the same command
again; one more store is killed twice (the re-run killed too). Each result is compared
with the clean store: documents and chunk counts, every chunk's id, text, metadata and
vector (one hash), ``rag doctor``, and the top 10 of 12 queries by BM25 (exact, so
identical). Dense and hybrid top 10s are reported as their overlap with the clean
store's: Chroma's HNSW graph is approximate and built by several threads, so two clean
ingests of the same papers already differ there (the first row, a second clean ingest,
is that baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_formats import bench_env, papers, write_jsonl  # noqa: E402

RAG = str(Path(sys.executable).with_name("rag"))
QUERIES = [
    "speculative decoding draft model", "knowledge distillation of BERT", "soil microbiome drought",
    "retrieval augmented generation citations", "graph neural networks heterophily", "protein structure prediction",
    "contrastive learning of sentence embeddings", "reinforcement learning from human feedback",
    "low-rank adaptation of large language models", "climate change crop yield", "word sense disambiguation",
    "quantization of language models",
]

SNAPSHOT = r"""
import hashlib, json, sys
from rag import Assistant, Settings
a = Assistant(Settings(data_dir=sys.argv[1]))
ids = sorted(a.store.ids())
docs = a.store.stored_docs()
content = hashlib.sha256()
for start in range(0, len(ids), 2000):
    got = a.store.collection.get(ids=ids[start:start + 2000], include=["documents", "metadatas", "embeddings"])
    rows = sorted(zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]), key=lambda r: r[0])
    for i, text, meta, vector in rows:
        content.update(json.dumps([i, text, meta, [round(float(x), 6) for x in vector]], sort_keys=True).encode())
out = {
    "documents": len(docs),
    "complete": sum(d.complete for d in docs.values()),
    "chunks": len(ids),
    "content_sha256": content.hexdigest(),
    "search": {m: {q: [h.doc_id for h in a.search(q, k=10, mode=m)] for q in json.loads(sys.argv[2])}
               for m in ("bm25", "dense", "hybrid")},
    "doctor_ok": all(ok for _, ok, _ in a.doctor()),
}
print(json.dumps(out))
"""


def snapshot(data: Path, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", SNAPSHOT, str(data), json.dumps(QUERIES)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def ingest(data: Path, files: list[Path], env: dict, kill_after: float | None = None) -> tuple[int, float]:
    """(exit code, seconds); killed with SIGKILL after ``kill_after`` seconds if given."""
    started = time.perf_counter()
    proc = subprocess.Popen([RAG, "--data-dir", str(data), "ingest", *map(str, files), "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, time.perf_counter() - started


def compare(got: dict, clean: dict) -> list[str]:
    differences = [key for key in ("documents", "complete", "chunks", "content_sha256", "doctor_ok") if got[key] != clean[key]]
    changed = [q for q, ids in clean["search"]["bm25"].items() if got["search"]["bm25"][q] != ids]
    if changed:
        differences.append(f"bm25 search differs for {len(changed)} queries")
    return differences


def overlap(got: dict, clean: dict, mode: str) -> float:
    """Mean share of the clean store's top 10 that this store's top 10 holds."""
    pairs = [(set(got["search"][mode][q]), set(ids)) for q, ids in clean["search"][mode].items() if ids]
    return round(sum(len(a & b) / len(b) for a, b in pairs) / len(pairs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=20_000)
    parser.add_argument("--kills", type=float, nargs="+", default=[0.05, 0.3, 0.55, 0.8, 0.97])
    parser.add_argument("--part-docs", type=int, default=5000)
    parser.add_argument("--embedder", choices=["hashing", "local"], default="hashing")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "resume.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-resume-"))
    env = bench_env(work, args.embedder)
    env["RAG_LLM_BACKEND"] = "fake"
    env["RAG_INGEST_PART_DOCS"] = str(args.part_docs)
    try:
        rows = papers(args.papers, seed=7)
        files = []
        quarter = -(-len(rows) // 4)
        for i in range(4):
            path = work / "input" / f"part-{i}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(write_jsonl(rows[i * quarter : (i + 1) * quarter]), encoding="utf-8")
            files.append(path)
        code, seconds = ingest(work / "clean", files, env)
        assert code == 0, f"the clean ingest failed ({code})"
        clean = snapshot(work / "clean", env)
        print(f"clean: {args.papers} papers in {seconds:.1f} s: {clean['documents']} documents, {clean['chunks']} chunks", flush=True)
        results = []
        plans = [[]] + [[f] for f in args.kills] + [[0.5, 0.5]]  # [] = a second clean ingest: the baseline
        for plan in plans:
            data = work / f"kill-{len(results)}"
            kills = []
            for fraction in plan:
                code, _ = ingest(data, files, env, kill_after=fraction * seconds)
                kills.append(code == -signal.SIGKILL)
            code, rerun_s = ingest(data, files, env)
            got = snapshot(data, env)
            differences = compare(got, clean)
            row = {
                "killed_at": [round(f * seconds, 1) for f in plan],
                "killed": kills,
                "rerun_exit": code,
                "rerun_s": round(rerun_s, 1),
                "identical": not differences,
                "differences": differences,
                "dense_top10_overlap": overlap(got, clean, "dense"),
                "hybrid_top10_overlap": overlap(got, clean, "hybrid"),
            }
            results.append(row)
            print(f"killed at {row['killed_at']} s (killed={kills}): re-run {rerun_s:.1f} s, "
                  f"identical={row['identical']} {differences or ''} dense/hybrid top-10 overlap "
                  f"{row['dense_top10_overlap']}/{row['hybrid_top10_overlap']}", flush=True)
            shutil.rmtree(data, ignore_errors=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "papers": args.papers, "part_docs": args.part_docs, "embedder": args.embedder, "clean_ingest_s": round(seconds, 1),
            "clean": {k: clean[k] for k in ("documents", "chunks", "doctor_ok")}, "runs": results,
        }, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
