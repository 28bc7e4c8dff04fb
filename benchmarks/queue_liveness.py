"""Liveness under an answer queue, and abandoned answers: what a busy server does.

    .venv/bin/python benchmarks/queue_liveness.py [--clients 64] [--out benchmarks/results/queue_liveness.json]

One process serves the bundled corpus with uvicorn on a loopback port. The model is
the echo model slowed to ~25 tokens/s (a stand-in for the embedded model, so the
figures measure the server, not the LLM). Measured in the same run:

1. idle: /health, /search and one streamed /ask with nothing else running (the baseline);
2. abandoned: 20 clients open a streamed /ask and disconnect after 0.3 s; then the
   time of the next /ask (it should be near the idle one: nobody's answer runs on);
3. queued: ``--clients`` concurrent non-streamed /ask requests; while they wait,
   /health and /search are timed, and the answers are counted by status (200, or
   503 with Retry-After once RAG_MAX_QUEUED_ANSWERS wait).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from rag import Assistant, Settings  # noqa: E402
from rag.llm import Completion  # noqa: E402
from rag.testing import EchoLLM  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from http_overhead import serve  # noqa: E402

QUESTION = "How does speculative decoding speed up LLM inference?"


class SlowEcho(EchoLLM):
    """The echo model, streaming each word after a pause, like a small local model."""

    def complete(self, messages, *, max_tokens: int = 256, stop=None):
        pieces = list(super().complete(messages, max_tokens=max_tokens, stop=stop))

        def slow():
            for piece in pieces:
                if isinstance(piece, str):
                    time.sleep(0.04)
                yield piece

        return Completion(slow())


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def ask_streamed(client: httpx.Client) -> None:
    with client.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as r:
        r.raise_for_status()
        for _ in r.iter_lines():
            pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "queue_liveness.json")
    args = p.parse_args()
    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="rag-queue-")), llm_backend="fake")
    a = Assistant(settings, llm=SlowEcho())
    a.ingest([ROOT / "data" / "corpus"])
    url, server = serve(a)
    out: dict = {"max_queued_answers": settings.max_queued_answers, "clients": args.clients}
    with httpx.Client(base_url=url, timeout=300) as client:
        client.post("/search", json={"query": QUESTION}).raise_for_status()
        ask_streamed(client)  # warm
        out["idle"] = {
            "health_s": round(statistics.median(timed(lambda: client.get("/health")) for _ in range(20)), 4),
            "search_s": round(statistics.median(timed(lambda: client.post("/search", json={"query": QUESTION})) for _ in range(5)), 4),
            "ask_s": round(timed(lambda: ask_streamed(client)), 3),
        }

        def abandon() -> None:
            try:
                body = {"question": QUESTION, "stream": True}
                with httpx.Client(base_url=url, timeout=0.3) as c, c.stream("POST", "/ask", json=body) as r:
                    for _ in r.iter_lines():
                        pass
            except httpx.HTTPError:
                pass  # the client gives up

        threads = [threading.Thread(target=abandon) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gone = time.perf_counter()
        refused = 0
        while True:  # the next answer, from the moment the clients left (a 503 is retried)
            try:
                ask_streamed(client)
                break
            except httpx.HTTPStatusError:
                refused += 1
                time.sleep(0.1)
        out["after_20_abandoned"] = {"next_ask_s": round(time.perf_counter() - gone, 3), "refused_first": refused}

        statuses: list[int] = []

        def ask_plain() -> None:
            with httpx.Client(base_url=url, timeout=600) as c:
                statuses.append(c.post("/ask", json={"question": QUESTION}).status_code)

        threads = [threading.Thread(target=ask_plain) for _ in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        health = [timed(lambda: client.get("/health")) for _ in range(10)]
        search = [timed(lambda: client.post("/search", json={"query": QUESTION})) for _ in range(5)]
        for t in threads:
            t.join()
        out["queued"] = {
            "health_s_median": round(statistics.median(health), 4),
            "health_s_max": round(max(health), 4),
            "search_s_median": round(statistics.median(search), 4),
            "answered_200": statuses.count(200),
            "refused_503": statuses.count(503),
            "other": len(statuses) - statuses.count(200) - statuses.count(503),
        }
    server.should_exit = True
    print(json.dumps(out, indent=2))
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
