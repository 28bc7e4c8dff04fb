"""Load on a real ``rag serve`` (a separate process on a loopback port), as many users at once.

    .venv/bin/python benchmarks/load.py [--backends fake,embedded] [--out benchmarks/results/load.json]

For each backend (the echo model, then the embedded 0.5B model), against the bundled
corpus, in this order, while a prober times ``/health`` every 100 ms:

1. 100 concurrent ``/search``;
2. concurrent non-streamed ``/ask`` (50 with the echo model, 10 with the embedded
   one); a client refused with 503 and ``Retry-After`` (the answer queue is full)
   waits as told and retries, as a well-behaved client does — both the first refusals
   and the final statuses are counted;
3. 20 concurrent streamed ``/ask``: time to the first event and to the end;
4. 20 clients that leave: 10 close a streamed answer after 0.3 s, 10 give up on a
   non-streamed one after 0.3 s; then the time until ``/health`` reports no answer
   running or waiting (work stops when its client leaves);
5. the server's resident memory (``/proc/<pid>/status`` VmRSS) after a warm-up
   (one search, one answer) and again after the load.

Targets (issue "hold up under real use"): no 5xx other than a full queue's 503 with
Retry-After, ``/health`` p95 <= 200 ms under any answer queue, work stopped within
1 s of the clients leaving, memory back within 10 % after the load.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RAG = str(Path(sys.executable).with_name("rag"))
QUESTIONS = [
    "How does speculative decoding speed up LLM inference?",
    "What is post-training quantization of language models?",
    "How much smaller and faster than BERT is TinyBERT at inference?",
    "What problem does retrieval-augmented generation address?",
    "How are large language models evaluated on reasoning?",
]
ASKERS = {"fake": 50, "embedded": 10}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000, 1)


def timing(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": pct(values, 50), "p95_ms": pct(values, 95), "max_ms": pct(values, 100)}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def classes(statuses: list[int]) -> dict:
    counts = Counter(f"{s // 100}xx" if s else "failed" for s in statuses)
    return dict(sorted(counts.items()))


class Prober(threading.Thread):
    """Times GET /health every 100 ms; ``mark(phase)`` files later probes under it."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.phase, self.done = url, "idle", threading.Event()
        self.times: dict[str, list[float]] = {}
        self.statuses: list[int] = []

    def mark(self, phase: str) -> None:
        self.phase = phase

    def run(self) -> None:
        with httpx.Client(timeout=30) as c:
            while not self.done.is_set():
                t = time.perf_counter()
                try:
                    status = c.get(self.url + "/health").status_code
                except httpx.HTTPError:
                    status = 0
                self.times.setdefault(self.phase, []).append(time.perf_counter() - t)
                self.statuses.append(status)
                self.done.wait(0.1)


def search_burst(url: str, n: int) -> dict:
    def one(i: int) -> tuple[int, float]:
        t = time.perf_counter()
        try:
            r = httpx.post(url + "/search", json={"query": QUESTIONS[i % len(QUESTIONS)], "k": 5}, timeout=120)
            return r.status_code, time.perf_counter() - t
        except httpx.HTTPError:
            return 0, time.perf_counter() - t

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    return {"statuses": classes([s for s, _ in results]), **timing([d for _, d in results])}


def ask_burst(url: str, n: int, deadline_s: float) -> dict:
    first: list[int] = []
    final: list[int] = []
    retry_after_ok = True
    lock = threading.Lock()

    def one(i: int) -> float:
        t = time.perf_counter()
        attempt = 0
        while True:
            try:
                r = httpx.post(url + "/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}, timeout=deadline_s)
                status = r.status_code
            except httpx.HTTPError:
                status, r = 0, None
            with lock:
                if attempt == 0:
                    first.append(status)
            if status == 503 and r is not None and time.perf_counter() - t < deadline_s:
                wait = r.headers.get("retry-after")
                if wait is None or not wait.isdigit():
                    nonlocal retry_after_ok
                    retry_after_ok = False
                    wait = "5"
                time.sleep(int(wait))
                attempt += 1
                continue
            with lock:
                final.append(status)
            return time.perf_counter() - t

    with ThreadPoolExecutor(n) as pool:
        durations = list(pool.map(one, range(n)))
    return {
        "first_attempt": classes(first),
        "refused_503_with_retry_after": sum(s == 503 for s in first) if retry_after_ok else "503 without Retry-After",
        "final": classes(final),
        **timing(durations),
    }


def stream_burst(url: str, n: int) -> dict:
    """n streamed answers at once; a refused one (503) waits as Retry-After says and
    retries. The first event comes at once (a queue position, or the first sentence)."""
    first: list[int] = []

    def one(i: int) -> tuple[int, float | None, float, bool]:
        t = time.perf_counter()
        attempt = 0
        while True:
            first_event = None
            got_answer = False
            try:
                body = {"question": QUESTIONS[i % len(QUESTIONS)], "stream": True}
                with httpx.stream("POST", url + "/ask", json=body, timeout=600) as r:
                    if attempt == 0:
                        first.append(r.status_code)
                    if r.status_code == 503:
                        wait = r.headers.get("retry-after", "5")
                        r.read()
                        attempt += 1
                        time.sleep(int(wait) if wait.isdigit() else 5)
                        continue
                    sent = time.perf_counter()
                    for line in r.iter_lines():
                        if line.startswith("event:") and first_event is None:
                            first_event = time.perf_counter() - sent
                        got_answer |= line.strip() == "event: answer"
                    return r.status_code, first_event, time.perf_counter() - t, got_answer
            except httpx.HTTPError:
                return 0, first_event, time.perf_counter() - t, False

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    return {
        "first_attempt": classes(first),
        "statuses": classes([r[0] for r in results]),
        "completed_with_answer": sum(r[3] for r in results),
        "first_event_after_admission": timing([r[1] for r in results if r[1] is not None]),
        "total": timing([r[2] for r in results]),
    }


def leavers(url: str, n: int) -> dict:
    """n/2 streamed and n/2 non-streamed answers abandoned after 0.3 s; then the time
    until the server reports nothing running or waiting."""

    def streamed(i: int) -> None:
        try:
            with httpx.stream("POST", url + "/ask", json={"question": QUESTIONS[i % len(QUESTIONS)], "stream": True}, timeout=60):
                time.sleep(0.3)
        except httpx.HTTPError:
            pass

    def plain(i: int) -> None:
        try:
            httpx.post(url + "/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}, timeout=httpx.Timeout(60, read=0.3))
        except httpx.HTTPError:
            pass

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda i: (streamed if i % 2 else plain)(i), range(n)))
    left = time.perf_counter()
    busy = None
    while time.perf_counter() - left < 120:
        answers = httpx.get(url + "/health", timeout=30).json().get("answers", {})
        if answers.get("running", 0) == 0 and answers.get("waiting", 0) == 0:
            busy = time.perf_counter() - left
            break
        time.sleep(0.05)
    # A new answer right after: how long it takes when nothing is left running.
    t = time.perf_counter()
    status = httpx.post(url + "/ask", json={"question": QUESTIONS[0]}, timeout=600).status_code
    return {"clients": n, "idle_after_last_left_s": None if busy is None else round(busy, 2),
            "next_answer_s": round(time.perf_counter() - t, 2), "next_answer_status": status}


def run_backend(backend: str, data: Path) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data), RAG_LLM_BACKEND=backend, RAG_LOG_LEVEL="WARNING")
    server = subprocess.Popen([RAG, "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # Warm-up: everything loaded (model, indexes) before the first memory reading.
        httpx.post(url + "/search", json={"query": QUESTIONS[0]}, timeout=120)
        idle_answer_t = time.perf_counter()
        httpx.post(url + "/ask", json={"question": QUESTIONS[0]}, timeout=600)
        idle_answer = round(time.perf_counter() - idle_answer_t, 2)
        before = rss_mb(server.pid)
        prober = Prober(url)
        prober.start()
        out: dict = {"backend": backend, "idle_answer_s": idle_answer, "rss_before_mb": before}
        print(f"[{backend}] idle answer {idle_answer} s, RSS {before} MB", flush=True)
        prober.mark("search")
        out["search_100"] = search_burst(url, 100)
        out["search_100"]["rss_after_mb"] = rss_mb(server.pid)
        print(f"[{backend}] search: {out['search_100']}", flush=True)
        prober.mark("ask")
        out[f"ask_{ASKERS[backend]}"] = ask_burst(url, ASKERS[backend], deadline_s=900)
        out[f"ask_{ASKERS[backend]}"]["rss_after_mb"] = rss_mb(server.pid)
        print(f"[{backend}] ask: {out[f'ask_{ASKERS[backend]}']}", flush=True)
        prober.mark("stream")
        out["stream_20"] = stream_burst(url, 20)
        out["stream_20"]["rss_after_mb"] = rss_mb(server.pid)
        print(f"[{backend}] stream: {out['stream_20']}", flush=True)
        prober.mark("leave")
        out["leave_20"] = leavers(url, 20)
        print(f"[{backend}] leave: {out['leave_20']}", flush=True)
        prober.mark("after")
        time.sleep(2)
        prober.done.set()
        prober.join()
        out["rss_after_mb"] = rss_mb(server.pid)
        out["rss_change_pct"] = round(100 * (out["rss_after_mb"] - before) / before, 1)
        loaded = [t for phase, ts in prober.times.items() if phase not in ("idle", "after") for t in ts]
        out["health_under_load"] = {**timing(loaded), "statuses": classes(prober.statuses)}
        out["health_by_phase"] = {phase: timing(ts) for phase, ts in prober.times.items()}
        print(f"[{backend}] /health under load {out['health_under_load']}; RSS {before} -> {out['rss_after_mb']} MB", flush=True)
        return out
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="fake,embedded")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = p.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        data = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env.update(RAG_DATA_DIR=str(data), RAG_LLM_BACKEND="fake")
        subprocess.run([RAG, "ingest", str(ROOT / "data" / "corpus")], env=env, cwd=ROOT, check=True, capture_output=True)
        report = {"cores": os.cpu_count(), "runs": [run_backend(b, data) for b in args.backends.split(",")]}
    report["seconds"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
