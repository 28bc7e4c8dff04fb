"""Ingest and search at scale: N generated papers, then 100 more, in separate processes.

    .venv/bin/python benchmarks/scale.py [--sizes 10000 100000] [--embedder hashing|local]
        [--store embedded|server] [--out benchmarks/results/scale.json]

For each N: a cold ingest of N papers (recombined from the bundled abstracts, see
benchmarks/import_formats.py) into a fresh embedded store — docs/s and the process's
peak RSS —; then, in a new process, adding 100 new papers and the first search after
it (three times, other papers each time; medians) (today that search rebuilds the whole BM25 index) against the same 100 added to an
empty store; hybrid search latency over 50 queries and the retrieval part of an answer
(the documents of the best hits, read back from the store); the store's size on disk
(Chroma and the lexical index). ``--store server`` runs a ``chroma run`` process per
size and points every step at it (the lexical index stays in the data dir). Each
step runs in its own process, as a user's commands would, so peak RSS is that step's.
The hashing embedder (default) leaves the model out: what is measured is the pipeline
and the store; ``--embedder local`` embeds for real (about 65 papers/s on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_formats import bench_env, papers, write_jsonl  # noqa: E402

STEP = r"""
import json, resource, statistics, sys, time
from rag import Assistant, Settings
kind, data, files = sys.argv[1], sys.argv[2], sys.argv[3:]
s = Settings(data_dir=data)
a = Assistant(s)
out = {}
t = time.perf_counter()
report = a.ingest(files)
out["ingest_s"] = time.perf_counter() - t
out["added"] = report.added
if kind == "add":
    t = time.perf_counter()
    a.search("graph neural networks for molecules", k=5)
    out["first_search_s"] = time.perf_counter() - t
    queries = ["speculative decoding draft model", "knowledge distillation of BERT", "soil microbiome drought",
               "retrieval augmented generation citations", "graph neural networks heterophily"] * 10
    times = []
    for q in queries:
        t = time.perf_counter()
        a.search(q, k=5)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    out["search_p50_ms"] = statistics.median(times)
    out["search_p95_ms"] = times[int(0.95 * (len(times) - 1))]
    times = []
    for q in queries:
        t = time.perf_counter()
        a.retriever.documents(q, s.top_k)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    out["answer_retrieval_p50_ms"] = statistics.median(times)
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def step(kind: str, data: Path, files: list[Path], env: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", STEP, kind, str(data), *map(str, files)], env=env,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def du(*paths: Path) -> float:
    return sum(f.stat().st_size for path in paths for f in path.rglob("*") if f.is_file()) / 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def chroma_server(path: Path, env: dict) -> Iterator[dict]:
    """A ``chroma run`` on loopback for one size; yields the env that points at it."""
    port = free_port()
    log = open(path.with_suffix(".log"), "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(path), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)
        yield {**env, "RAG_STORE": "server", "RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(port)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--embedder", choices=["hashing", "local"], default="hashing")
    parser.add_argument("--store", choices=["embedded", "server"], default="embedded")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-scale-"))
    env = bench_env(work, args.embedder)
    results = {}
    for n in args.sizes:
        every = papers(n + 100 * REPEATS, seed=n)
        bulk = work / f"bulk-{n}.jsonl"
        bulk.write_text(write_jsonl(every[:n]), encoding="utf-8")
        extras = []
        for r in range(REPEATS):
            extras.append(work / f"extra-{n}-{r}.jsonl")
            extras[-1].write_text(write_jsonl(every[n + 100 * r : n + 100 * (r + 1)]), encoding="utf-8")
        store = work / f"store-{n}"
        with contextlib.ExitStack() as stack:
            if args.store == "server":
                env_big = stack.enter_context(chroma_server(work / f"chroma-{n}", env))
                env_empty = stack.enter_context(chroma_server(work / f"chroma-empty-{n}", env))
            else:
                env_big = env_empty = env
            cold = step("ingest", store, [bulk], env_big)
            # Each add is a new process (a user's command); its time is mostly start-up, which
            # varies, so three different sets of 100 go in and the medians are reported.
            adds = [step("add", store, [extra], env_big) for extra in extras]
            alones = [step("add", work / f"empty-{n}-{r}", [extra], {**env_empty, "RAG_COLLECTION_PREFIX": f"empty{r}"})
                      for r, extra in enumerate(extras)]  # a new collection each time (one server holds them)
            added = adds[-1]
        results[n] = {
            "cold_ingest_docs_per_s": round(cold["added"] / cold["ingest_s"], 1),
            "cold_ingest_peak_rss_mb": round(cold["peak_rss_mb"]),
            "add_100_s": round(statistics.median(a["ingest_s"] for a in adds), 2),
            "add_100_then_first_search_s": round(statistics.median(a["ingest_s"] + a["first_search_s"] for a in adds), 2),
            "add_100_to_empty_then_first_search_s": round(
                statistics.median(a["ingest_s"] + a["first_search_s"] for a in alones), 2),
            "hybrid_search_p50_ms": round(added["search_p50_ms"], 1),
            "hybrid_search_p95_ms": round(added["search_p95_ms"], 1),
            "answer_retrieval_p50_ms": round(added["answer_retrieval_p50_ms"], 1),
            "store_mb": round(du(store, work / f"chroma-{n}") if args.store == "server" else du(store)),
        }
        print(n, json.dumps(results[n]), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"embedder": args.embedder, "store": args.store, "sizes": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
