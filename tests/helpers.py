from __future__ import annotations

from pathlib import Path

ABSTRACT_A = (
    "We propose a method for compressing transformer language models with low-rank adapters. "
    "Experiments on GLUE show the compressed models keep 98% of the accuracy while being 4x smaller. "
    "We also study how the rank affects downstream tasks and release our code for others to use."
)
ABSTRACT_B = (
    "Graph neural networks struggle on heterophilous graphs where neighbours have different labels. "
    "We introduce a simple message passing scheme that separates ego and neighbour embeddings. "
    "On nine benchmarks the method improves node classification accuracy by up to 12 points."
)
ABSTRACT_C = (
    "Speculative decoding accelerates inference by letting a small draft model propose tokens that a "
    "large target model verifies in parallel. We train a 115M draft model and reach a 2.4x speed-up "
    "on chat tasks with no loss in quality, across several model families and sampling settings."
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
