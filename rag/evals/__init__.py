"""Evaluation: the question set, deterministic metrics (no remote judge), the runner
that writes a run folder, and the comparison of two runs.

    from rag.evals import run, compare
    result = run(split="dev", backend="fake")
    diff = compare(old_folder, result.folder)
"""

from .report import compare
from .runner import RunResult, run

__all__ = ["RunResult", "compare", "run"]
