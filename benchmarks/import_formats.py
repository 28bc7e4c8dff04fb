"""Ingest throughput per import format, against JSONL, on generated libraries.

    .venv/bin/python benchmarks/import_formats.py [--records 10000] [--embedder hashing|local]
        [--out benchmarks/results/import_formats.json]

The same N papers are written in every format a researcher's library comes in
(generic JSONL — the baseline —, CSV, BibTeX with LaTeX-escaped names and specials,
RIS, arXiv metadata JSONL with wrapped LaTeX abstracts, an OpenAlex JSON response
with inverted-index abstracts, a Semantic Scholar JSON response). The papers are
recombined from the bundled corpus: each abstract joins three sentences of different
real abstracts, so none is a duplicate of another, and each gets its own DOI.

Each format is ingested into a fresh store in this one process (read, parse,
deduplicate, chunk, embed, write to Chroma), --reps times round robin, and the best
run counts (as benchmarks/ingest_search.py does), so a noisy neighbour hurts every
format alike. Reported per format: documents per second and its ratio to JSONL,
and the read+parse time alone. The default
embedder is the hashing one (no model): embedding then costs almost nothing, so
the format's own share of the time is as large as it can be — the strictest ratio.
With ``--embedder local`` (the real model) every format runs at the model's pace.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Assistant, Settings  # noqa: E402
from rag.embeddings import make_embedder  # noqa: E402
from rag.ingest.pipeline import parse_file, read_documents  # noqa: E402
from rag.models import IngestReport  # noqa: E402
from rag.testing import HashingEmbedder  # noqa: E402

CORPUS = ROOT / "data" / "corpus"
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
FIRST = ["Ana", "Jörg", "Chidi", "Yuki", "Amira", "Piotr", "Beatriz", "Lena", "Tomás", "Wei", "Erik", "Priya", "Zoë", "François"]
LAST = ["Müller", "de la Cruz", "Okafor", "Nakamura", "Hassan", "Kowalski", "Silva", "Fischer", "Ruiz", "Zhang", "Lindqvist", "Raman",
        "Ångström", "Nuñez"]
LATEX = {"ü": '{\\"u}', "ö": '{\\"o}', "á": "{\\'a}", "é": "{\\'e}", "ë": '{\\"e}', "ç": "{\\c{c}}", "Å": "{\\AA}", "ñ": "{\\~n}"}


def bench_env(work: Path, embedder: str) -> dict[str, str]:
    """The environment for the commands a benchmark runs: none of the caller's RAG_
    settings, the hashing or the local embedder, a model cache inside ``work``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["RAG_EMBED_BACKEND"] = "hashing" if embedder == "hashing" else "minilm-onnx"
    env["RAG_MODEL_CACHE_DIR"] = str(work / "cache")
    return env


def papers(n: int, seed: int = 7) -> list[dict]:
    docs, _ = read_documents([CORPUS], Settings(_env_file=None), IngestReport())
    sentences = [s for d in docs for s in SENTENCE.split(d.abstract) if len(s) > 40]
    titles = [d.title for d in docs if d.title] or ["A study"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        picked = rng.sample(sentences, 3)
        authors = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(1, 5))]
        out.append({
            "title": f"{rng.choice(titles)} ({i})",
            "abstract": " ".join(picked),
            "authors": authors,
            "year": rng.randint(1995, 2025),
            "doi": f"10.5555/bench.{i}",
            "arxiv": f"{rng.randint(10, 24):02d}{rng.randint(1, 12):02d}.{i:05d}",
            "venue": rng.choice(["Journal of Machine Learning", "Proceedings of the Conference on Language", "Transactions on Data"]),
        })
    return out


def tex(text: str) -> str:
    """As a reference manager escapes text for BibTeX."""
    text = text.replace("\\", "\\textbackslash ").replace("{", "\\{").replace("}", "\\}")
    for ch in "%&_$#":
        text = text.replace(ch, "\\" + ch)
    text = text.replace("~", "\\textasciitilde{}")
    for ch, code in LATEX.items():
        text = text.replace(ch, code)
    return text


def split_name(name: str) -> tuple[str, str]:
    first, last = name.split(" ", 1)
    return first, last


def write_jsonl(ps: list[dict]) -> str:
    return "".join(json.dumps({k: p[k] for k in ("title", "abstract", "authors", "year", "doi")}, ensure_ascii=False) + "\n" for p in ps)


def write_csv(ps: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["title", "abstract", "authors", "year", "doi"])
    for p in ps:
        w.writerow([p["title"], p["abstract"], "; ".join(p["authors"]), p["year"], p["doi"]])
    return buf.getvalue()


def write_bibtex(ps: list[dict]) -> str:
    entries = []
    for i, p in enumerate(ps):
        names = " and ".join(f"{tex(last)}, {tex(first)}" for first, last in map(split_name, p["authors"]))
        entries.append(
            f"@article{{key{i},\n  title = {{{tex(p['title'])}}},\n  author = {{{names}}},\n  journal = {{{p['venue']}}},\n"
            f"  year = {{{p['year']}}},\n  doi = {{{p['doi']}}},\n  abstract = {{{tex(p['abstract'])}}},\n}}\n"
        )
    return "\n".join(entries)


def write_ris(ps: list[dict]) -> str:
    out = []
    for i, p in enumerate(ps):
        lines = ["TY  - JOUR", f"ID  - key{i}", f"TI  - {p['title']}"]
        lines += [f"AU  - {last}, {first}" for first, last in map(split_name, p["authors"])]
        lines += [f"PY  - {p['year']}///", f"JO  - {p['venue']}", f"DO  - {p['doi']}", f"AB  - {p['abstract']}", "ER  - ", ""]
        out.append("\n".join(lines))
    return "\n".join(out)


def wrap(text: str, width: int = 78) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "  " + "\n".join([*lines, line]) + "\n"


def write_arxiv(ps: list[dict]) -> str:
    rows = []
    for p in ps:
        parsed = [[tex(last), tex(first), ""] for first, last in map(split_name, p["authors"])]
        rows.append(json.dumps({
            "id": p["arxiv"], "submitter": p["authors"][0], "authors": ", ".join(tex(a) for a in p["authors"]),
            "title": p["title"], "comments": None, "journal-ref": None, "doi": p["doi"], "categories": "cs.CL",
            "abstract": wrap(tex(p["abstract"])), "versions": [{"version": "v1", "created": f"Mon, 2 Jan {p['year']} 10:00:00 GMT"}],
            "update_date": f"{p['year']}-01-03", "authors_parsed": parsed,
        }))
    return "\n".join(rows) + "\n"


def inverted(text: str) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for pos, word in enumerate(text.split()):
        index.setdefault(word, []).append(pos)
    return index


def write_openalex(ps: list[dict]) -> str:
    works = [{
        "id": f"https://openalex.org/W{4000000000 + i}", "doi": f"https://doi.org/{p['doi']}", "title": p["title"],
        "display_name": p["title"], "publication_year": p["year"],
        "authorships": [{"author_position": "middle", "author": {"display_name": a}} for a in p["authors"]],
        "primary_location": {"source": {"display_name": p["venue"]}}, "abstract_inverted_index": inverted(p["abstract"]),
    } for i, p in enumerate(ps)]
    return json.dumps({"meta": {"count": len(works)}, "results": works}, ensure_ascii=False, indent=1)


def write_s2(ps: list[dict]) -> str:
    data = [{
        "paperId": f"{i:040x}", "externalIds": {"DOI": p["doi"]}, "title": p["title"], "abstract": p["abstract"], "year": p["year"],
        "venue": p["venue"], "authors": [{"authorId": str(j), "name": a} for j, a in enumerate(p["authors"])],
    } for i, p in enumerate(ps)]
    return json.dumps({"total": len(data), "offset": 0, "data": data}, ensure_ascii=False, indent=1)


FORMATS = {
    "jsonl": ("library.jsonl", write_jsonl),
    "csv": ("library.csv", write_csv),
    "bibtex": ("library.bib", write_bibtex),
    "ris": ("library.ris", write_ris),
    "arxiv": ("arxiv-metadata.jsonl", write_arxiv),
    "openalex": ("openalex-works.json", write_openalex),
    "semantic_scholar": ("semantic-scholar.json", write_s2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--embedder", choices=["hashing", "local"], default="hashing")
    parser.add_argument("--reps", type=int, default=2, help="Runs per format, round robin; the best counts.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "import_formats.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rag-formats-"))
    base = Settings(_env_file=None, data_dir=work / "stores")
    embedder = HashingEmbedder() if args.embedder == "hashing" else make_embedder(base)
    ps = papers(args.records)
    files = {}
    for name, (filename, writer) in FORMATS.items():
        files[name] = work / filename
        files[name].write_text(writer(ps), encoding="utf-8")

    results: dict[str, dict] = {}
    for rep in range(args.reps):  # round robin, so a noisy neighbour hurts every format alike
        for name in FORMATS:
            t = time.perf_counter()
            parsed = parse_file(files[name], base)
            parse_s = time.perf_counter() - t
            a = Assistant(base.model_copy(update={"data_dir": work / "stores" / f"{rep}-{name}"}), embedder=embedder)
            t = time.perf_counter()
            report = a.ingest([files[name]])
            seconds = time.perf_counter() - t
            # every format must yield the same papers (a few random recombinations are near-duplicates, merged alike)
            assert report.records == args.records and not report.rejected, (name, report.records, report.rejected[:3])
            assert report.added == results.get("jsonl", {}).get("added", report.added), (name, report.added)
            entry = results.setdefault(name, {"file_mb": round(files[name].stat().st_size / 1e6, 1), "added": report.added, "runs": []})
            entry["runs"].append({"parse_s": round(parse_s, 3), "ingest_s": round(seconds, 2)})
            rates = f"{report.records / seconds:8.1f} docs/s (parse {len(parsed.documents) / parse_s:8.1f} docs/s)"
            print(f"{name:>18} run {rep + 1}: {rates}", flush=True)
    for entry in results.values():
        best = min(entry["runs"], key=lambda r: r["ingest_s"])
        entry["docs_per_s"] = round(args.records / best["ingest_s"], 1)
        entry["parse_docs_per_s"] = round(args.records / min(r["parse_s"] for r in entry["runs"]), 1)
    baseline = results["jsonl"]["docs_per_s"]
    for entry in results.values():
        entry["ratio_to_jsonl"] = round(entry["docs_per_s"] / baseline, 3)
    summary = {
        "records": args.records,
        "embedder": args.embedder,
        "reps": args.reps,
        "baseline_jsonl_docs_per_s": baseline,
        "formats": results,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    for name, entry in results.items():
        print(f"{name:>18}: best {entry['docs_per_s']:8.1f} docs/s, ratio to JSONL {entry['ratio_to_jsonl']:.3f}")


if __name__ == "__main__":
    main()
