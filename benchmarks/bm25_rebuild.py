"""What today's lexical index costs to rebuild at scale (the starting point of an
incremental index): bm25s indexing of N generated chunks, in memory, no store scan.

    .venv/bin/python benchmarks/bm25_rebuild.py [--sizes 10000 100000]

Chunks are recombined from the bundled abstracts (benchmarks/import_formats.py).
Today every change of the store's write generation (one paper added) costs this
rebuild, plus reading every chunk back from Chroma, on the next search.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_formats import papers  # noqa: E402
from llama_index.core.schema import TextNode  # noqa: E402

from rag.retrieve.bm25 import BM25Index  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    for n in args.sizes:
        nodes = [
            TextNode(id_=f"d{i}-0", text=p["abstract"], metadata={"title": p["title"], "doc_id": f"d{i}"})
            for i, p in enumerate(papers(n))
        ]
        t = time.perf_counter()
        BM25Index.build(nodes)
        print(f"{n:>9,} chunks: full BM25 build {time.perf_counter() - t:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
