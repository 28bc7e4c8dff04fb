"""What each paper's line in a literature summary says: its contribution, or background.

Summarises a few topics of the bundled corpus with the echo model (the paper lines do
not depend on the model) twice in one process — with the sentence-role weight of
evidence selection switched off (the baseline) and at its default — and counts the
lines that state a contribution ("We propose ...") and those that read as background
("However, ...", an abstract's generic opening):

    .venv/bin/python evals/summary_roles.py --data-dir DIR   # a data dir with the corpus ingested
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Assistant  # noqa: E402
from rag.answer import evidence  # noqa: E402

TOPICS = (
    "speculative decoding",
    "word sense disambiguation",
    "knowledge graph embeddings",
    "state space models",
    "model compression",
    "hallucination in language models",
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--k", type=int, default=8)
    args = p.parse_args()
    a = Assistant(data_dir=args.data_dir, llm_backend="fake")
    default = evidence.ROLE_WEIGHT
    print("| role weight | paper lines | contribution | background |\n|---|---|---|---|")
    for weight in (0.0, default):
        evidence.ROLE_WEIGHT = weight
        lines = [
            line.split(": ", 1)[-1]
            for topic in TOPICS
            for line in a.summarize(topic, k=args.k).text.splitlines()
            if line.startswith("- ")
        ]
        roles = [evidence.role(line, -1) for line in lines]
        print(f"| {weight} | {len(lines)} | {sum(r > 0 for r in roles)} | {sum(r < 0 for r in roles)} |")
    evidence.ROLE_WEIGHT = default


if __name__ == "__main__":
    main()
