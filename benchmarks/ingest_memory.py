"""Ingest memory: one input read as a single part (everything in memory at once, as
before parts) against the default parts, in the same run.

    .venv/bin/python benchmarks/ingest_memory.py [--sizes 20000 100000] [--part 20000]
        [--out benchmarks/results/ingest_memory.json]

For each N: N generated papers (recombined from the bundled abstracts, see
benchmarks/import_formats.py) in one JSON Lines file, ingested into a fresh embedded
store by a new process, once with ``RAG_INGEST_PART_DOCS`` above N (one part) and once
with the part size given. Reported: the process's peak RSS, seconds and papers/s, the
report's counts, and whether both stores hold the same chunks (one hash over every
chunk's id and text). The hashing embedder leaves the model out (its memory is the
same in both modes): what is measured is reading, deduplication and writing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_formats import bench_env, papers, write_jsonl  # noqa: E402

STEP = r"""
import hashlib, json, resource, sys, time
from rag import Assistant, Settings
data, path = sys.argv[1], sys.argv[2]
a = Assistant(Settings(data_dir=data))
t = time.perf_counter()
report = a.ingest([path])
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
digest = hashlib.sha256()
for node in sorted(a.store.iter_nodes(), key=lambda n: n.node_id):
    digest.update(node.node_id.encode() + b"\0" + node.get_content().encode() + b"\0")
print(json.dumps({"seconds": round(seconds, 1), "peak_rss_mb": round(peak), "added": report.added,
                  "duplicates": report.duplicates, "chunks": report.chunks_written, "chunks_hash": digest.hexdigest()[:16]}))
"""


def ingest(work: Path, path: Path, part: int, env: dict) -> dict:
    data = work / f"data-{path.stem}-{part}"
    shutil.rmtree(data, ignore_errors=True)
    env = {**env, "RAG_INGEST_PART_DOCS": str(part)}
    result = subprocess.run([sys.executable, "-c", STEP, str(data), str(path)], env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr.strip().splitlines()[-1])
    shutil.rmtree(data, ignore_errors=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--part", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest_memory.json")
    args = parser.parse_args()
    every = papers(max(args.sizes))
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-ingest-memory-") as tmp:
        work = Path(tmp)
        env = bench_env(work, "hashing")
        for n in args.sizes:
            path = work / f"papers-{n}.jsonl"
            path.write_text(write_jsonl(every[:n]), encoding="utf-8")
            one = ingest(work, path, n + 1, env)
            parts = ingest(work, path, args.part, env)
            row = {
                "papers": n,
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "one_part": one,
                "parts": parts,
                "peak_rss_ratio": round(parts["peak_rss_mb"] / one["peak_rss_mb"], 2),
                "same_chunks": one["chunks_hash"] == parts["chunks_hash"],
            }
            for mode in ("one_part", "parts"):
                row[mode]["papers_per_s"] = round(n / row[mode]["seconds"], 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
            path.unlink()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"part_docs": args.part, "embedder": "hashing", "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
