"""Chroma in client/server mode at scale: ingest throughput, search latency, memory, disk.

    nice -n 10 .venv/bin/python benchmarks/chroma_server_scale.py \\
        [--sizes 10000,100000,1000000] [--max-minutes 35] [--out benchmarks/results/chroma_server_scale.json]

It starts its own ``chroma run`` server (the installed chromadb's console script) on a
free loopback port with a temporary directory, opens it through the project's own
``make_client``/``Store`` (so the collection has exactly the configuration the
application uses), and grows one collection through the sizes in ``--sizes``. At
each size it reports:

* ingest throughput: chunks/s of ``collection.add`` over that step (batches of
  ``client.get_max_batch_size()``; building the synthetic batches is timed apart);
* search latency: p50/p95 of ``collection.query(n_results=10)`` (default ``include``:
  documents, metadatas, distances; what the dense retriever asks for) over
  ``--queries`` queries, after a warm-up;
* server memory: RSS (and peak RSS) of the server process and its children;
* disk: bytes under the server's ``--path``.

The same is measured for the embedded ``PersistentClient`` at the smallest size, in
this process, as a baseline (memory there is this process's RSS growth).

Synthetic corpus. Embedding a million chunks with the local ONNX model (~18 chunks/s
on 2 cores) would take over 15 hours, so the corpus is built from the real
abstracts' sentences instead: every sentence of the bundled corpus is embedded once
with the real model, and each synthetic chunk joins sentences drawn from different
abstracts (as many sentences as a real abstract has, so texts have realistic
lengths) and gets the L2-normalised mean of its sentences' vectors. MiniLM itself
mean-pools token vectors, so the mean of sentence vectors is a close first-order
approximation of the chunk's own embedding (the benchmark measures how close on a
sample, ``mean_vs_real_cosine``). What matters for the index is that the vectors
have the distribution of real text embeddings (clustered by topic, same dimension),
not that of random vectors, which are the worst case for HNSW and would distort
both insert and search cost. Metadata has the shape and size the ingest pipeline
writes (llama-index's node JSON included), so disk and memory are comparable.
Query vectors are the real embeddings of the question set's questions (and
follow-ups), cycled to ``--queries``.

The run stops inserting when the ``--max-minutes`` budget would be exceeded, still
measures the size it reached, and says so (``reached`` vs ``target``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import chromadb  # noqa: E402
import numpy as np  # noqa: E402
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores.utils import node_to_metadata_dict  # noqa: E402

from rag import Settings  # noqa: E402
from rag.answer.text import sentences as split_sentences  # noqa: E402
from rag.embeddings import make_embedder  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.ingest.dedup import deduplicate  # noqa: E402
from rag.ingest.pipeline import read_documents  # noqa: E402
from rag.models import IngestReport  # noqa: E402
from rag.store import Store, make_client  # noqa: E402

CORPUS = ROOT / "data" / "corpus"
CHROMA = Path(sys.executable).with_name("chroma")
MIN_SENTENCE_CHARS = 20


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- measuring ---------------------------------------------------------------------
def _proc_status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                kids.append(int(entry.name))
    return kids + [g for k in kids for g in _children(k)]


def tree_memory(pid: int) -> dict[str, int]:
    """RSS and peak RSS (bytes) of ``pid`` and all its descendants (psutil if installed)."""
    try:
        import psutil

        procs = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
        rss = sum(p.memory_info().rss for p in procs)
        peak = sum(_proc_status(p.pid).get("VmHWM", 0) for p in procs)
        return {"rss_bytes": rss, "peak_rss_bytes": peak, "processes": len(procs)}
    except ImportError:
        pids = [pid] + _children(pid)
        stats = [_proc_status(p) for p in pids]
        return {
            "rss_bytes": sum(s.get("VmRSS", 0) for s in stats),
            "peak_rss_bytes": sum(s.get("VmHWM", 0) for s in stats),
            "processes": len(pids),
        }


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def search_latency(collection, queries: np.ndarray, n: int) -> dict[str, float]:
    for q in queries[:10]:  # warm-up
        collection.query(query_embeddings=[q], n_results=10)
    times = []
    for i in range(n):
        q = queries[i % len(queries)]
        t = time.perf_counter()
        got = collection.query(query_embeddings=[q], n_results=10)
        times.append((time.perf_counter() - t) * 1000)
        assert len(got["ids"][0]) == 10
    return {
        "queries": n,
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


# --- the synthetic corpus ------------------------------------------------------------
class SyntheticCorpus:
    """Chunks recombined from real sentences; chunk ``i`` is the same in every run."""

    def __init__(self, abstracts: list[list[str]], vectors: list[np.ndarray], seed: int = 7) -> None:
        self.sentences = [s for sents in abstracts for s in sents]
        self.vectors = np.concatenate(vectors).astype(np.float32)
        self.by_abstract = []
        start = 0
        for sents in abstracts:
            self.by_abstract.append(np.arange(start, start + len(sents)))
            start += len(sents)
        self.lengths = np.array([len(s) for s in abstracts])
        self.seed = seed

    def picks(self, i: int) -> list[int]:
        rng = np.random.default_rng((self.seed, i))
        k = int(min(self.lengths[rng.integers(len(self.lengths))], len(self.by_abstract)))
        chosen = rng.choice(len(self.by_abstract), size=k, replace=False)  # k different abstracts
        return [int(rng.choice(self.by_abstract[a])) for a in chosen]

    def batch(self, start: int, n: int):
        picks = [self.picks(i) for i in range(start, start + n)]
        flat = np.fromiter((p for ps in picks for p in ps), dtype=np.int64)
        offsets = np.cumsum([0] + [len(ps) for ps in picks[:-1]])
        sums = np.add.reduceat(self.vectors[flat], offsets, axis=0)
        vecs = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        ids, texts, metas = [], [], []
        for j, ps in enumerate(picks):
            i = start + j
            text = " ".join(self.sentences[p] for p in ps)
            ids.append(f"syn{i:07d}-0")
            texts.append(text)
            metas.append(_metadata(i, text))
        return ids, texts, vecs, metas


def _metadata(i: int, text: str) -> dict:
    """What the ingest pipeline stores per chunk (via llama-index's ChromaVectorStore)."""
    doc_id = f"syn{i:07d}"
    source_file = f"synthetic/{i // 10000:03d}.jsonl"
    node = TextNode(
        id_=f"{doc_id}-0",
        text=text,
        metadata={
            "doc_id": doc_id, "title": f"Synthetic paper {i}", "year": 2000 + i % 25,
            "source": f"{source_file}:{i % 10000 + 1}", "source_file": source_file,
            "source_name": source_file.rsplit("/", 1)[1], "n_chunks": 1, "chunk": 0,
        },
        excluded_embed_metadata_keys=["doc_id", "authors", "year", "source", "source_file", "source_name",
                                      "also_in", "chunk", "n_chunks", "abstract"],
        excluded_llm_metadata_keys=["doc_id", "authors", "year", "source", "source_file", "source_name",
                                    "also_in", "chunk", "n_chunks", "abstract"],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)},
    )
    return {k: ("" if v is None else v) for k, v in node_to_metadata_dict(node, remove_text=True).items()}


# --- the server ----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: Path, port: int) -> subprocess.Popen:
    logfile = (path.parent / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True, cwd=path.parent,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"chroma run exited with {proc.returncode}; see {path.parent / 'server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(proc)
    raise SystemExit("chroma run did not answer a heartbeat within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- the runs --------------------------------------------------------------------------
def insert(collection, corpus: SyntheticCorpus, start: int, stop: int, batch: int, deadline: float | None):
    """Add chunks [start, stop); returns (reached, add_seconds, build_seconds)."""
    add_s = build_s = 0.0
    i = start
    per_chunk = None
    while i < stop:
        n = min(batch, stop - i)
        if deadline is not None and per_chunk is not None and time.monotonic() + n * per_chunk * 1.2 > deadline:
            log(f"  budget reached at {i} chunks; stopping inserts")
            break
        t = time.perf_counter()
        ids, texts, vecs, metas = corpus.batch(i, n)
        t1 = time.perf_counter()
        collection.add(ids=ids, embeddings=vecs, documents=texts, metadatas=metas)
        t2 = time.perf_counter()
        build_s += t1 - t
        add_s += t2 - t1
        i += n
        per_chunk = (t2 - t) / n
        if (i - start) % (batch * 10) < batch:
            log(f"  {i} chunks ({(i - start) / add_s:.0f} chunks/s add-only so far)")
    return i, add_s, build_s


def measure(collection, reached: int, target: int, add_s: float, build_s: float, step: int,
            queries: np.ndarray, n_queries: int, mem: dict, disk: int, first_query_ms: float) -> dict:
    return {
        "target": target,
        "reached": reached,
        "complete": reached >= target,
        "count": collection.count(),
        "step_chunks": step,
        "ingest_add_s": round(add_s, 2),
        "ingest_chunks_per_s": round(step / add_s, 1) if add_s else None,
        "synthetic_build_s": round(build_s, 2),
        "first_query_after_ingest_ms": round(first_query_ms, 2),
        "search": search_latency(collection, queries, n_queries),
        "memory": mem,
        "disk_bytes": disk,
        "loadavg_1m": round(os.getloadavg()[0], 2),  # others share these 2 cores
    }


def first_query(collection, q) -> float:
    t = time.perf_counter()
    collection.query(query_embeddings=[q], n_results=10)
    return (time.perf_counter() - t) * 1000


def rss_self() -> int:
    return _proc_status(os.getpid()).get("VmRSS", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--max-minutes", type=float, default=35.0, help="Wall-time budget of the whole run.")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=0, help="Chunks per add (0 = client.get_max_batch_size()).")
    parser.add_argument("--no-embedded", action="store_true", help="Skip the embedded PersistentClient baseline.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "chroma_server_scale.json")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.monotonic()
    deadline = started + args.max_minutes * 60
    work = Path(tempfile.mkdtemp(prefix="chroma-scale-"))
    result: dict = {
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "chromadb": chromadb.__version__,
                    "nice": os.nice(0)},
        "args": {"sizes": sizes, "max_minutes": args.max_minutes, "queries": args.queries},
    }

    def write() -> None:
        result["wall_s"] = round(time.monotonic() - started, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    # 1. Real sentences and questions, embedded once with the real model.
    base = Settings(_env_file=None, data_dir=work / "rag", embed_backend="minilm-onnx")
    docs, _ = read_documents([CORPUS], base, IngestReport())
    unique, _ = deduplicate(docs, base.near_duplicate_threshold)
    abstracts = [[s for s in split_sentences(d.abstract) if len(s) >= MIN_SENTENCE_CHARS] for d in unique]
    abstracts = [a for a in abstracts if a]
    n_sent = sum(len(a) for a in abstracts)
    embedder = make_embedder(base)
    t = time.perf_counter()
    vectors = [np.asarray(embedder.embed(a), dtype=np.float32) for a in abstracts]
    pool_s = time.perf_counter() - t
    qs = qset.load()
    texts = [q.question for q in qs] + [q.followup for q in qs if q.followup]
    queries = np.asarray(embedder.embed(texts), dtype=np.float32)
    corpus = SyntheticCorpus(abstracts, vectors)
    log(f"pool: {len(abstracts)} abstracts, {n_sent} sentences embedded in {pool_s:.1f} s; {len(texts)} query texts")

    # How close is the mean of sentence vectors to the chunk's real embedding?
    ids, sample_texts, sample_vecs, _ = corpus.batch(10_000_000, 48)
    real = np.asarray(embedder.embed(sample_texts), dtype=np.float32)
    cos = (real * sample_vecs).sum(axis=1)
    lengths = [len(s) for s in corpus.batch(0, 1000)[1]]
    result["corpus"] = {
        "abstracts": len(abstracts), "sentences": n_sent, "pool_embed_s": round(pool_s, 1),
        "query_texts": len(texts),
        "chunk_chars_mean": round(statistics.fmean(lengths)), "chunk_chars_p95": percentile(lengths, 95),
        "mean_vs_real_cosine": {"mean": round(float(cos.mean()), 3), "min": round(float(cos.min()), 3), "n": len(cos)},
        # Is a chunk's real embedding nearer its own mean vector than to the other samples'?
        "mean_vs_real_self_top1": round(float(((real @ sample_vecs.T).argmax(axis=1) == np.arange(len(real))).mean()), 3),
    }
    log(f"mean-of-sentences vs real embedding cosine: mean {cos.mean():.3f}, min {cos.min():.3f} (n={len(cos)}), "
        f"self top-1 {result['corpus']['mean_vs_real_self_top1']}")
    del embedder

    # 2. Server.
    port = free_port()
    server_dir = work / "server" / "db"
    server_dir.parent.mkdir(parents=True)
    proc = start_server(server_dir, port)
    try:
        srv_settings = base.model_copy(update={
            "store": "server", "chroma_host": "127.0.0.1", "chroma_port": port,
            "collection_prefix": "scale", "embed_backend": "minilm-onnx",
        })
        client = make_client(srv_settings)
        collection = Store(srv_settings, client=client).collection
        batch = min(args.batch or client.get_max_batch_size(), client.get_max_batch_size())
        result["batch"] = batch
        result["server"] = {"pid": proc.pid, "idle_memory": tree_memory(proc.pid), "sizes": []}
        log(f"server pid {proc.pid} on port {port}, batch {batch}, idle RSS "
            f"{result['server']['idle_memory']['rss_bytes'] / 2**20:.0f} MiB")

        # 3. Embedded baseline at the smallest size, same batches, same data.
        if not args.no_embedded:
            emb_settings = base.model_copy(update={"data_dir": work / "embedded", "collection_prefix": "scale"})
            before = rss_self()
            emb_client = make_client(emb_settings)
            emb = Store(emb_settings, client=emb_client).collection
            reached, add_s, build_s = insert(emb, corpus, 0, sizes[0], batch, None)
            fq = first_query(emb, queries[0])
            row = measure(emb, reached, sizes[0], add_s, build_s, reached, queries, args.queries,
                          {"rss_growth_bytes": rss_self() - before, "note": "RSS growth of this process"},
                          disk_bytes(work / "embedded" / "chroma"), fq)
            result["embedded"] = row
            log(f"embedded {reached}: {row['ingest_chunks_per_s']} chunks/s, search p50 {row['search']['p50_ms']} ms "
                f"p95 {row['search']['p95_ms']} ms, disk {row['disk_bytes'] / 2**20:.0f} MiB")
            del emb, emb_client
            write()

        # 4. Server, growing through the sizes.
        have = 0
        for target in sizes:
            # Leave time to measure this size: the last search run (or a guess) plus slack.
            last = result["server"]["sizes"][-1] if result["server"]["sizes"] else None
            reserve = 60 + (last["search"]["mean_ms"] * (args.queries + 10) / 1000 * 2 if last else 30)
            log(f"server: growing {have} -> {target}")
            reached, add_s, build_s = insert(collection, corpus, have, target, batch, deadline - reserve)
            step = reached - have
            if step == 0:
                log("  no time left for this size")
                result["stopped"] = f"budget of {args.max_minutes} min reached at {have} chunks"
                break
            fq = first_query(collection, queries[0])
            row = measure(collection, reached, target, add_s, build_s, step, queries, args.queries,
                          tree_memory(proc.pid), disk_bytes(server_dir), fq)
            row["elapsed_s"] = round(time.monotonic() - started, 1)
            row["ingest_cumulative_chunks_per_s"] = round(
                reached / (add_s + sum(r["ingest_add_s"] for r in result["server"]["sizes"])), 1)
            result["server"]["sizes"].append(row)
            have = reached
            log(f"server {reached}/{target}: {row['ingest_chunks_per_s']} chunks/s, search p50 {row['search']['p50_ms']} ms "
                f"p95 {row['search']['p95_ms']} ms, RSS {row['memory']['rss_bytes'] / 2**20:.0f} MiB, "
                f"disk {row['disk_bytes'] / 2**20:.0f} MiB")
            write()
            if not row["complete"]:
                result["stopped"] = f"budget of {args.max_minutes} min reached at {reached} of {target} chunks"
                break
    finally:
        stop_server(proc)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    server_rows = result["server"]["sizes"]
    if "embedded" in result and server_rows and server_rows[0]["reached"] == result["embedded"]["reached"]:
        s, e = server_rows[0], result["embedded"]
        result[f"server_vs_embedded_at_{e['reached']}"] = {
            "ingest_throughput_ratio": round(s["ingest_chunks_per_s"] / e["ingest_chunks_per_s"], 3),
            "search_p50_ratio": round(s["search"]["p50_ms"] / e["search"]["p50_ms"], 2),
            "search_p95_ratio": round(s["search"]["p95_ms"] / e["search"]["p95_ms"], 2),
            "disk_ratio": round(s["disk_bytes"] / e["disk_bytes"], 3),
            "memory": "server RSS is the whole server process; embedded is this process's RSS growth",
        }
    write()
    print_table(result)
    print(f"written to {args.out}")


def print_table(result: dict) -> None:
    mib = 2**20
    print()
    print(f"{'mode':9s} {'chunks':>9s} {'ingest/s':>9s} {'p50 ms':>8s} {'p95 ms':>8s} {'RSS MiB':>8s} {'peak MiB':>9s} {'disk MiB':>9s}")
    if "embedded" in result:
        e = result["embedded"]
        print(f"{'embedded':9s} {e['reached']:9d} {e['ingest_chunks_per_s']:9.0f} {e['search']['p50_ms']:8.2f} "
              f"{e['search']['p95_ms']:8.2f} {e['memory']['rss_growth_bytes'] / mib:8.0f}* {'':>8s} {e['disk_bytes'] / mib:9.0f}")
    for r in result["server"]["sizes"]:
        flag = "" if r["complete"] else f" (target {r['target']})"
        print(f"{'server':9s} {r['reached']:9d} {r['ingest_chunks_per_s']:9.0f} {r['search']['p50_ms']:8.2f} "
              f"{r['search']['p95_ms']:8.2f} {r['memory']['rss_bytes'] / mib:8.0f} {r['memory']['peak_rss_bytes'] / mib:9.0f} "
              f"{r['disk_bytes'] / mib:9.0f}{flag}")
    if "embedded" in result:
        print("* embedded memory = RSS growth of the benchmark process")
    for key, value in result.items():
        if key.startswith("server_vs_embedded"):
            print(f"{key}: {value}")
    if "stopped" in result:
        print(f"stopped: {result['stopped']}")
    print(f"wall time {result['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
