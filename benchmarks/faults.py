"""Faults an ingest and a store must survive, each checked against a clean ingest.

    .venv/bin/python benchmarks/faults.py [--docs 150] [--out benchmarks/results/faults.json]

1. ``kill -9`` at ten points of an ingest (the process kills itself when it reaches
   the point, so every point is hit exactly): before and between the store writes, in
   the middle of a write batch (a document cut between two Chroma slices), between the
   last write and the write-generation update, between writing the new versions of
   updated papers and deleting the old ones, between Chroma taking the chunks and the
   lexical index taking them, and while the lexical index is rebuilt. After each
   kill the same command is run again; the store must then hold exactly what a
   clean ingest holds (every document, every chunk's text) and search (lexical and dense) must return what it returns after a clean ingest.
2. Ingest beside a running ``rag serve``: papers added, updated and removed by another
   process are found (or gone) in every search mode at once; no 5xx.
3. A corrupted lexical index (flipped bytes, a truncated file, deleted, a
   well-formed index of another store copied in its place): detected by ``rag doctor`` and
   rebuilt on the next search, which matches the clean ingest's.
4. A damaged Chroma file: one error line, no traceback.
5. A full disk (a 20 MB tmpfs; needs root, skipped otherwise): ingest and reads fail
   with one line naming the fix; after freeing space the re-run matches the clean
   ingest and nothing is lost.

No model is loaded (``RAG_LLM_BACKEND=fake``); embeddings are the real MiniLM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAG = [str(Path(sys.executable).with_name("rag"))]
QUERIES = ["speculative decoding draft model", "quantization of language models", "retrieval augmented generation",
           "reinforcement learning from human feedback", "graph neural networks"]

# A child that runs the CLI and kills itself with SIGKILL on reaching a point:
# argv = target ("module:Qualified.name"), "before"|"after", n (the n-th call), then the CLI arguments.
KILLER = r"""
import functools, importlib, os, signal, sys
target, when, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
module, qual = target.split(":")
owner = importlib.import_module(module)
*path, name = qual.split(".")
for part in path:
    owner = getattr(owner, part)
original = getattr(owner, name)
calls = 0
@functools.wraps(original)
def wrapper(*args, **kwargs):
    global calls
    calls += 1
    if calls == nth and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if calls == nth and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(owner, name, wrapper)
if len(sys.argv) > 5 and sys.argv[4] == "--small-slices":
    # A Chroma server's batch limit can be far below a write batch: slices of 7 chunks
    # cut documents between two writes, as such a limit would.
    from rag.store import Store
    Store._max_batch = lambda self: 7
    del sys.argv[4]
from rag.cli import run
sys.argv = ["rag", *sys.argv[4:]]
run()
"""

# Everything a store holds that matters, as comparable JSON: each document's chunks
# (present/expected and the text's hash), and what each search mode returns.
SNAPSHOT = r"""
import hashlib, json, sys
from rag.assistant import Assistant
a = Assistant()
store = a.store
docs = {d: [s.chunks_present, s.chunks_expected] for d, s in store.stored_docs().items()}
chunks = sorted((n.node_id, hashlib.sha256(n.text.encode()).hexdigest()[:16]) for n in store.iter_nodes())
search = {m: {q: [h.doc_id for h in a.search(q, k=5, mode=m)] for q in json.loads(sys.argv[1])} for m in ("bm25", "dense")}
print(json.dumps({"docs": docs, "chunks": chunks, "search": search}))
"""


def env_for(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data), RAG_LLM_BACKEND="fake", RAG_LOG_LEVEL="WARNING", NO_COLOR="1", COLUMNS="200")
    return env


def rag(data: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*RAG, *args], env=env_for(data), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def killed_at(data: Path, target: str, when: str, nth: int, *args: str, small_slices: bool = False) -> int:
    extra = ["--small-slices"] if small_slices else []
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, target, when, str(nth), *extra, *args],
        env=env_for(data), capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    return proc.returncode


def snapshot(data: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", SNAPSHOT, json.dumps(QUERIES)], env=env_for(data),
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    if out.returncode != 0:
        return {"error": last_line(out.stderr)}
    return json.loads(out.stdout)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def one_line_error(proc: subprocess.CompletedProcess) -> tuple[bool, str]:
    """The command failed with exactly one non-empty stderr line and no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return proc.returncode != 0 and len(lines) == 1 and "Traceback" not in proc.stderr, (lines[0] if lines else "")


def doctor_ok(data: Path) -> bool:
    return rag(data, "doctor").returncode == 0


# --- the corpus: two versions of one JSONL file -----------------------------------------


def make_corpus(n: int) -> dict[str, str]:
    """Version A (n papers) and version B (three edited, three removed, three added) of
    one JSONL file, which every store reads from its own path (see ``corpus``)."""
    sys.path.insert(0, str(ROOT))
    from rag.ingest.pipeline import read_documents
    from rag.models import IngestReport
    from rag.settings import Settings

    docs, _ = read_documents([ROOT / "data" / "corpus"], Settings(), IngestReport())
    seen, unique = set(), []
    for d in docs:
        if d.abstract not in seen and len(d.abstract) > 200:
            seen.add(d.abstract)
            unique.append(d)
    if len(unique) < n + 3:
        raise SystemExit(f"the bundled corpus has {len(unique)} usable papers; ask for fewer than {len(unique) - 3}")
    records = [{"title": d.title or f"Paper {i}", "abstract": d.abstract, "year": d.year} for i, d in enumerate(unique[: n + 3])]
    a = records[:n]
    b = [dict(r) for r in records[:n]]
    for r in b[:3]:
        r["abstract"] += " An added closing sentence about the revised experiments changes this record."
    b = b[:3] + b[6:] + records[n : n + 3]
    return {"A": "".join(json.dumps(r) + "\n" for r in a), "B": "".join(json.dumps(r) + "\n" for r in b)}


VERSIONS: dict[str, str] = {}


def corpus(data: Path, version: str) -> str:
    """The store's corpus file, now holding ``version``: an update is the same file edited."""
    path = data.with_name(data.name + "-corpus") / "papers.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VERSIONS[version])
    return str(path)


def rows(version: str) -> list[dict]:
    return [json.loads(line) for line in VERSIONS[version].splitlines()]


# --- 1. kill -9 at ten points ---------------------------------------------------------------

# (name, scenario, target, when, n, small slices). "new" ingests A into an empty store,
# "update" ingests B over a clean A; "rebuild" is the first search after a clean ingest
# of B whose lexical index was deleted (the search rebuilds it from Chroma).
POINTS = [
    ("first part read, nothing written", "new", "rag.ingest.pipeline:_Run.part", "before", 1, False),
    ("first batch embedded, not written", "new", "rag.embeddings:MiniLMOnnxEmbedder.embed", "after", 1, False),
    ("a document cut between two write slices", "new", "llama_index.vector_stores.chroma:ChromaVectorStore.add", "after", 3, True),
    ("first write batch stored", "new", "rag.store:Store.add", "after", 1, False),
    ("all chunks stored, write generation not updated", "new", "rag.store:Store.bump_generation", "before", 1, False),
    ("write generation updated, nothing searched yet", "new", "rag.store:Store.bump_generation", "after", 1, False),
    ("new versions stored, old ones not deleted", "update", "rag.store:Store.delete_docs", "before", 1, False),
    ("old versions deleted, generation not updated", "update", "rag.store:Store.delete_docs", "after", 1, False),
    ("chunks in Chroma, not yet in the lexical index", "new", "rag.lexical:LexicalIndex.add", "before", 1, False),
    ("lexical index being rebuilt, not committed", "rebuild", "rag.lexical:stems", "after", 1, False),
]


def kill_points(work: Path, clean: dict[str, dict]) -> list[dict]:
    results = []
    for name, scenario, target, when, nth, small in POINTS:
        data = work / f"kill-{len(results)}"
        shutil.rmtree(data, ignore_errors=True)
        version = "A" if scenario == "new" else "B"
        if scenario == "update":
            rag(data, "ingest", corpus(data, "A"))
        elif scenario == "rebuild":
            rag(data, "ingest", corpus(data, "B"))
            shutil.rmtree(data / "lexical")
        if scenario == "rebuild":
            code = killed_at(data, target, when, nth, "search", QUERIES[1], "--mode", "bm25")
        else:
            code = killed_at(data, target, when, nth, "ingest", corpus(data, version), small_slices=small)
        rerun = rag(data, "ingest", corpus(data, version))
        state = snapshot(data)
        same = state == clean[version]
        row = {
            "point": name,
            "killed": code == -signal.SIGKILL,
            "rerun_exit": rerun.returncode,
            "consistent": same,
            "doctor_ok": doctor_ok(data),
            "documents": len(state.get("docs", {})),
        }
        if not same:
            row["difference"] = describe(state, clean[version])
        results.append(row)
        print(f"  kill -9: {name:52} killed={row['killed']!s:5} consistent={same!s:5} doctor={row['doctor_ok']}", flush=True)
    return results


def describe(got: dict, want: dict) -> str:
    if "error" in got:
        return got["error"]
    parts = []
    if got["docs"] != want["docs"]:
        missing = set(want["docs"]) - set(got["docs"])
        extra = set(got["docs"]) - set(want["docs"])
        parts.append(f"{len(missing)} documents missing, {len(extra)} extra")
    if got["chunks"] != want["chunks"]:
        parts.append("chunks differ")
    if got["search"] != want["search"]:
        parts.append("search differs: " + ", ".join(m for m in got["search"] if got["search"][m] != want["search"][m]))
    return "; ".join(parts) or "unknown"


# --- 2. ingest beside a running server ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> tuple[int, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def beside_server(work: Path) -> dict:
    data = work / "beside"
    rag(data, "ingest", corpus(data, "A"))
    port = free_port()
    server = subprocess.Popen([*RAG, "serve", "--port", str(port)], env=env_for(data), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        a_rows, b_rows = rows("A"), rows("B")
        added = [r for r in b_rows if r["title"] not in {x["title"] for x in a_rows}]
        removed = [r for r in a_rows if r["title"] not in {x["title"] for x in b_rows}]
        statuses: list[int] = []
        for r in removed:  # the server has searched (and cached) the old store first
            for mode in ("hybrid", "dense", "bm25"):
                statuses.append(post(base + "/search", {"query": r["abstract"][:200], "k": 3, "mode": mode})[0])
        ingest = rag(data, "ingest", corpus(data, "B"))
        found = gone = total = 0
        for mode in ("hybrid", "dense", "bm25"):
            for r in added:
                status, hits = post(base + "/search", {"query": r["abstract"][:200], "k": 20, "mode": mode})
                statuses.append(status)
                total += 1
                found += status == 200 and any(h["title"] == r["title"] for h in hits)  # type: ignore[union-attr]
            for r in removed:
                status, hits = post(base + "/search", {"query": r["abstract"][:200], "k": 20, "mode": mode})
                statuses.append(status)
                gone += status == 200 and not any(h["title"] == r["title"] for h in hits)  # type: ignore[union-attr]
        status, _ = post(base + "/ask", {"question": added[0]["abstract"].split(". ")[0] + "?"})
        statuses.append(status)
        return {
            "ingest_exit": ingest.returncode,
            "added_found": f"{found}/{total}",
            "removed_gone": f"{gone}/{len(removed) * 3}",
            "requests": len(statuses),
            "5xx": sum(s >= 500 for s in statuses),
        }
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# --- 3./4. corrupted indexes and store ----------------------------------------------------


def corruptions(work: Path, clean_b: dict) -> list[dict]:
    base = work / "corrupt-base"
    rag(base, "ingest", corpus(base, "B"))
    rag(base, "search", QUERIES[0], "--mode", "bm25")
    other = work / "corrupt-other"
    rag(other, "ingest", corpus(other, "A"))
    rag(other, "search", QUERIES[0], "--mode", "bm25")

    def index_dir(data: Path) -> Path:
        return next((data / "lexical").iterdir())

    def largest(data: Path) -> Path:
        return max((p for p in (index_dir(data) / "index").iterdir() if p.is_file()), key=lambda p: p.stat().st_size)

    def flip(data: Path) -> None:
        target = largest(data)
        raw = bytearray(target.read_bytes())
        for i in range(0, len(raw), max(1, len(raw) // 50)):
            raw[i] ^= 0xFF
        target.write_bytes(bytes(raw))

    def truncate(data: Path) -> None:
        target = largest(data)
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])

    def gone(data: Path) -> None:
        shutil.rmtree(index_dir(data))

    def foreign(data: Path) -> None:  # a well-formed index of another store in its place
        shutil.rmtree(index_dir(data))
        shutil.copytree(index_dir(other), data / "lexical" / index_dir(other).name)

    rows = []
    for name, damage in (("lexical index: bytes flipped", flip), ("lexical index: file truncated", truncate),
                         ("lexical index: deleted", gone), ("another store's lexical index", foreign)):
        data = work / f"corrupt-{len(rows)}"
        shutil.copytree(base, data)
        damage(data)
        detected = not doctor_ok(data)
        state = snapshot(data)
        row = {"damage": name, "doctor_detects": detected, "search_matches_clean": state == clean_b, "doctor_ok_after": doctor_ok(data)}
        rows.append(row)
        print(f"  corrupt: {name:36} detected={detected!s:5} rebuilt and equal={row['search_matches_clean']}", flush=True)

    for name, how in (("Chroma file: random bytes past the header", "random"), ("Chroma file: flipped bytes", "flip")):
        data = work / f"corrupt-{len(rows)}"
        shutil.copytree(base, data)
        sqlite = next(data.rglob("chroma.sqlite3"))
        raw = bytearray(sqlite.read_bytes())
        if how == "random":
            raw[100:] = os.urandom(len(raw) - 100)
        else:
            for i in range(4096, len(raw), 997):
                raw[i] ^= 0x5A
        sqlite.write_bytes(bytes(raw))
        outcomes = {}
        for cmd in (["info"], ["search", QUERIES[0]], ["search", QUERIES[0], "--mode", "dense"], ["doctor"]):
            proc = rag(data, *cmd)
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            outcomes[" ".join(cmd[:1] + cmd[2:])] = {
                "exit": proc.returncode, "stderr_lines": len(lines), "traceback": "Traceback" in proc.stderr,
                "line": lines[0][:160] if lines else "",
            }
        rows.append({"damage": name, "commands": outcomes})
        worst = max(o["stderr_lines"] for o in outcomes.values())
        print(f"  corrupt: {name:36} longest error={worst} line(s), traceback={any(o['traceback'] for o in outcomes.values())}", flush=True)
    return rows


# --- 5. a full disk -------------------------------------------------------------------------


def full_disk(work: Path, clean_a: dict) -> dict:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return {"skipped": "needs root to mount a small tmpfs"}
    mnt = work / "tmpfs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)], capture_output=True).returncode:
        return {"skipped": "cannot mount a tmpfs here"}
    try:
        data = mnt / "data"
        filler = mnt / "filler"
        # Leave half the room a clean ingest takes: its first writes fit, a later one does not.
        needed = sum(p.stat().st_size for p in (work / "clean-A").rglob("*") if p.is_file())
        with filler.open("wb") as f:
            f.write(b"\0" * max(0, shutil.disk_usage(mnt).free - needed // 2))
        source = corpus(work / "disk", "A")  # the corpus outside the full disk
        ingest_ok, ingest_line = one_line_error(rag(data, "ingest", source))
        filler.unlink()
        rerun = rag(data, "ingest", source)
        consistent = snapshot(data) == clean_a
        with filler.open("wb") as f:  # now fill it completely and read
            try:
                while True:
                    f.write(b"\0" * (1024 * 1024))
            except OSError:
                pass
        reads = {}
        for cmd in (["info"], ["search", QUERIES[0]], ["ask", "What is speculative decoding?"], ["doctor"]):
            proc = rag(data, *cmd)
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            if cmd[0] == "doctor":  # its report is its output
                lines = [line for line in proc.stdout.splitlines() if line.strip() and not line.startswith("ok")]
            reads[cmd[0]] = {"exit": proc.returncode, "error_lines": len(lines), "traceback": "Traceback" in proc.stderr + proc.stdout,
                             "line": lines[0][:200] if lines else ""}
        filler.unlink()
        return {
            "ingest_one_line_error": ingest_ok,
            "ingest_error": ingest_line[:200],
            "rerun_exit": rerun.returncode,
            "consistent_after_rerun": consistent,
            "reads_on_full_disk": reads,
        }
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=150)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "faults.json")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="rag-faults-") as tmp:
        work = Path(tmp)
        VERSIONS.update(make_corpus(args.docs))
        clean: dict[str, dict] = {}
        for version in ("A", "B"):
            data = work / f"clean-{version}"
            rag(data, "ingest", corpus(data, version))
            clean[version] = snapshot(data)
        # B ingested over A must equal B ingested alone (the update path is itself checked).
        data = work / "clean-AB"
        rag(data, "ingest", corpus(data, "A"))
        rag(data, "ingest", corpus(data, "B"))
        update_equal = snapshot(data) == clean["B"]
        print(f"clean: A {len(clean['A']['docs'])} documents, B {len(clean['B']['docs'])}; B over A equals B alone: {update_equal}")
        report = {
            "docs": args.docs,
            "update_equals_clean": update_equal,
            "kill_points": kill_points(work, clean),
        }
        print("ingest beside a running server:", flush=True)
        report["beside_server"] = beside_server(work)
        print("  ", report["beside_server"], flush=True)
        report["corruptions"] = corruptions(work, clean["B"])
        print("full disk:", flush=True)
        report["full_disk"] = full_disk(work, clean["A"])
        print("  ", report["full_disk"], flush=True)
    report["seconds"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
