"""What the HTTP layer costs: /search and /ask over loopback vs the Python API.

    .venv/bin/python benchmarks/http_overhead.py [--queries 110] [--answers 10] [--out benchmarks/results/http_overhead.json]

One process: the default pipeline (ONNX embeddings, Chroma, BM25) over the bundled
corpus, served by uvicorn on a free loopback port; the same queries alternate
between a direct ``Assistant.search`` call and ``POST /search`` through httpx, so
noise from a busy machine hits both. Answers use the echo model (``fake``
backend) so the figure is the HTTP + SSE overhead, not the LLM's speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from rag import Assistant, Settings  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.evals.metrics import percentile  # noqa: E402
from rag.server import create_app  # noqa: E402
from rag.testing import EchoLLM  # noqa: E402


def serve(assistant: Assistant) -> tuple[str, uvicorn.Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(assistant), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def ms(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 50) * 1000, 2), "p95_ms": round(percentile(values, 95) * 1000, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=110)
    p.add_argument("--answers", type=int, default=10)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "http_overhead.json")
    args = p.parse_args()

    a = Assistant(Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="rag-http-")), llm_backend="fake"), llm=EchoLLM())
    a.ingest([ROOT / "data" / "corpus"])
    queries = [q.question for q in qset.load()][: args.queries]
    url, server = serve(a)
    direct, http = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for q in queries[:5]:  # warm both paths
            a.search(q, k=5)
            client.post("/search", json={"query": q, "k": 5}).raise_for_status()
        for q in queries:
            t = time.perf_counter()
            a.search(q, k=5)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.post("/search", json={"query": q, "k": 5}).raise_for_status()
            http.append(time.perf_counter() - t)
        ask_direct, ask_http, ask_first = [], [], []
        for q in queries[: args.answers]:
            t = time.perf_counter()
            a.ask(q)
            ask_direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            first = None
            with client.stream("POST", "/ask", json={"question": q, "stream": True}) as r:
                for line in r.iter_lines():
                    if first is None and line.startswith("event:"):
                        first = time.perf_counter() - t
            ask_http.append(time.perf_counter() - t)
            ask_first.append(first or 0.0)
    server.should_exit = True

    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "search": {"queries": len(queries), "direct": ms(direct), "http": ms(http),
                   "ratio_p50": round(statistics.median(http) / statistics.median(direct), 3)},
        "ask_stream_echo_model": {"questions": len(ask_direct), "direct": ms(ask_direct), "http_sse_total": ms(ask_http),
                                  "http_sse_first_event": ms(ask_first),
                                  "ratio_p50": round(statistics.median(ask_http) / statistics.median(ask_direct), 3)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
