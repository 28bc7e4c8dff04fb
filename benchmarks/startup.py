"""Start-up time of each `rag` command, against another revision in the same run.

    .venv/bin/python benchmarks/startup.py --data-dir DIR [--baseline-rev ca7b08b] [--runs 5]

Each command runs as a whole process (`python -m rag.cli ...`, the same interpreter
and virtual environment for both sides); the baseline is a `git worktree` of
``--baseline-rev`` put first on PYTHONPATH. Runs alternate (baseline, current,
baseline, ...) after one warm-up each, so a machine that slows down hurts both
sides alike; the median wall time of each is reported. DIR must hold an ingested
store (`rag --data-dir DIR ingest data/corpus`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands(data_dir: str, doc_id: str) -> dict[str, list[str]]:
    d = ["--data-dir", data_dir]
    return {
        "--help": ["--help"],
        "info": [*d, "info", "--json"],
        "document": [*d, "document", doc_id, "--json"],
        "search": [*d, "search", "speculative decoding", "--json"],
        "eval --compare": [*d, "eval", "--compare", *["{run}"] * 2],
    }


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rag.cli", *args], env=env, check=True, capture_output=True, cwd=tempfile.gettempdir())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--baseline-rev", default="ca7b08b")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "startup.json"))
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.baseline_rev], check=True)
        try:
            hit = subprocess.run(
                [sys.executable, "-m", "rag.cli", "--data-dir", args.data_dir, "search", "speculative decoding", "-k", "1", "--json"],
                env=env, check=True, capture_output=True, text=True,
            )
            doc_id = json.loads(hit.stdout)[0]["doc_id"]
            run_dir = Path(tmp) / "run"  # a tiny eval run folder for `eval --compare`
            subprocess.run(
                [sys.executable, "-m", "rag.cli", "--data-dir", args.data_dir, "eval", "--backend", "fake", "--limit", "2",
                 "--out", str(run_dir), "--json"],
                env={**env, "RAG_EMBED_BACKEND": "minilm-onnx"}, check=True, capture_output=True,
            )
            sides = {"baseline": {**env, "PYTHONPATH": str(base)}, "current": env}
            results = {}
            for name, argv in commands(args.data_dir, doc_id).items():
                argv = [str(run_dir) if a == "{run}" else a for a in argv]
                times: dict[str, list[float]] = {side: [] for side in sides}
                for side_env in sides.values():
                    timed(argv, side_env)  # warm-up
                for _ in range(args.runs):
                    for side, side_env in sides.items():
                        times[side].append(timed(argv, side_env))
                b, c = statistics.median(times["baseline"]), statistics.median(times["current"])
                results[name] = {"baseline_s": round(b, 3), "current_s": round(c, 3), "ratio": round(c / b, 3)}
                print(f"rag {name:<16} baseline {b:6.2f} s   current {c:6.2f} s   current/baseline {c / b:.2f}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    out = {"baseline_rev": args.baseline_rev, "runs": args.runs, "cpus": os.cpu_count(), "commands": results}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
