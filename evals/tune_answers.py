"""Tune the abstention threshold on the dev split (never on test).

Runs the eval once with abstention before generation switched off, then replays
the decision "abstain when the best evidence relevance is under τ" for a grid of
τ from the recorded relevance and scores, printing the trade-off:

    .venv/bin/python evals/tune_answers.py [--split dev] [--limit N] [--data-dir DIR]

The run folder of the underlying eval is printed too (its report shows every answer).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Settings  # noqa: E402
from rag.evals import run  # noqa: E402

GRID = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", default="dev", choices=("dev",), help="tuning happens on dev only")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    overrides = {"abstain_threshold": 0.0}
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    result = run(split=args.split, limit=args.limit, settings=Settings(**overrides), retrieval=False)
    print(f"run folder: {result.folder}")
    replay(result.records)


def replay(records: list[dict]) -> None:
    answerable = [r for r in records if r["scores"]["correctness"] is not None]
    unanswerable = [r for r in records if r["scores"]["abstained_unanswerable"] is not None]
    print("tau  answered(ans)  correct(ans)  abstained(unans)  cite_prec")
    for tau in GRID:
        def answered(r: dict, tau: float = tau) -> bool:
            return not r["abstained"] and (r["relevance"] or 0) >= tau

        correct = statistics.fmean(r["scores"]["correctness"] if answered(r) else 0.0 for r in answerable)
        share = statistics.fmean(answered(r) for r in answerable)
        declined = statistics.fmean(not answered(r) for r in unanswerable) if unanswerable else 0.0
        precision = [r["scores"]["citation_precision"] for r in records if answered(r) and r["scores"]["citation_precision"] is not None]
        prec = statistics.fmean(precision) if precision else 0.0
        print(f"{tau:.2f}  {share:13.2f}  {correct:12.2f}  {declined:16.2f}  {prec:9.2f}")


if __name__ == "__main__":
    main()
