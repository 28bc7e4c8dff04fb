"""Retrieval ideas for low-overlap (paraphrased) questions, measured on one split.

    .venv/bin/python evals/tune_retrieval.py --data-dir DIR [--split dev] [--llm]

DIR holds the bundled corpus ingested with the default settings
(`rag --data-dir DIR ingest data/corpus`). Every variant ranks documents for each
question of the split that has a gold paper and is scored with the eval's own
metrics (recall@5, nDCG@10, MRR@10; recall@5 per kind). Tune on dev; run on test
only to report what was chosen. Variants, against today's hybrid (BM25 + dense,
RRF k=60, equal weights):

* fusion: RRF k and weights, score-level (convex) fusion, and a BM25 weight that
  drops when BM25 and dense disagree (no shared paper in their top 10);
* title-aware BM25 (the title repeated 2-3x) and question-frame words
  ("which paper", "is there work") taken out of the BM25 query;
* pseudo-relevance feedback: RM3-style expansion terms for BM25, Rocchio for dense;
* a sentence-level dense view (each abstract sentence with its title as a vector,
  a paper scored by its best sentence), alone, fused, and mixed with the chunk score;
  its embedding time is reported as the ingest cost it would add;
* with ``--llm``: HyDE-style expansion by the local model (a hypothetical title, or
  technical key terms) and the local model picking among the candidate titles.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bm25s  # noqa: E402
import Stemmer  # noqa: E402

from rag import Assistant  # noqa: E402
from rag.answer.text import STOPWORDS, sentences  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.evals import scoring  # noqa: E402

Ranker = Callable[[str], list[str]]
STEM = Stemmer.Stemmer("english")
FRAME = set(
    "paper papers work works study studies anyone tried tool way approach method methods research someone "
    "model models show shows use using used find look looks looking whether".split()
)


def fuse(lists: list[list[str]], weights: list[float], k: int = 60, n: int = 10) -> list[str]:
    scores: dict[str, float] = {}
    for ranking, w in zip(lists, weights):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return [d for d, _ in sorted(scores.items(), key=lambda kv: -kv[1])][:n]


class Lab:
    """Everything the variants share: the store's documents, cached rankings and vectors."""

    def __init__(self, data_dir: str, split: str) -> None:
        self.a = Assistant(data_dir=data_dir, llm_backend="fake")
        self.questions = [q for q in qset.load(split=split) if q.gold_doc_ids]
        stored = self.a.store.stored_docs()
        self.docs = self.a.store.get_documents(stored)
        self.ids = sorted(self.docs)
        self._cache: dict[tuple, list[str]] = {}
        self._qvec: dict[str, np.ndarray] = {}
        got = self.a.store.collection.get(include=["embeddings", "metadatas"])
        chunks: dict[str, list[np.ndarray]] = {}
        for vector, meta in zip(got["embeddings"], got["metadatas"]):
            chunks.setdefault(str(meta["doc_id"]), []).append(np.asarray(vector, dtype=np.float32))
        self.doc_matrix = np.stack([np.mean(chunks[i], axis=0) for i in self.ids])
        self.doc_matrix /= np.linalg.norm(self.doc_matrix, axis=1, keepdims=True)
        self._bm25: dict[int, bm25s.BM25] = {}
        self.sent_doc: np.ndarray | None = None

    # --- base rankings ------------------------------------------------------------------
    def ranks(self, query: str, mode: str, n: int = 40) -> list[str]:
        key = (query, mode, n)
        if key not in self._cache:
            self._cache[key] = [h.doc_id for h in self.a.search(query, k=n, mode=mode)]
        return self._cache[key]

    def qv(self, query: str) -> np.ndarray:
        if query not in self._qvec:
            self._qvec[query] = np.asarray(self.a.embedder.embed([query])[0], dtype=np.float32)
        return self._qvec[query]

    def by_vector(self, v: np.ndarray, n: int = 40) -> list[str]:
        return [self.ids[i] for i in np.argsort(-(self.doc_matrix @ v))[:n]]

    # --- BM25 variants ----------------------------------------------------------------------
    def bm25(self, query: str, title_repeat: int = 1, drop_frame: bool = False) -> list[str]:
        if title_repeat not in self._bm25:
            texts = [(self.docs[i].title + "\n") * title_repeat + self.docs[i].abstract for i in self.ids]
            index = bm25s.BM25()
            index.index(bm25s.tokenize(texts, stopwords="en", stemmer=STEM, show_progress=False), show_progress=False)
            self._bm25[title_repeat] = index
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=STEM, show_progress=False, return_ids=False)
        if drop_frame:
            frame = {STEM.stemWord(w) for w in FRAME}
            tokens = [[t for t in tokens[0] if t not in frame]]
        if not tokens[0]:
            return []
        found, scores = self._bm25[title_repeat].retrieve(tokens, k=40, show_progress=False)
        return [self.ids[int(i)] for i, s in zip(found[0], scores[0]) if s > 0]

    def rm3(self, query: str, feedback: int = 3, terms: int = 10) -> list[str]:
        counts: Counter[str] = Counter()
        for doc_id in fuse([self.ranks(query, "bm25"), self.ranks(query, "dense")], [1, 1], n=feedback):
            d = self.docs[doc_id]
            words = re.findall(r"[A-Za-z][A-Za-z\-]{3,}", f"{d.title} {d.abstract}")
            counts.update(w.lower() for w in words if w.lower() not in STOPWORDS)
        return self.ranks(query + " " + " ".join(w for w, _ in counts.most_common(terms)), "bm25")

    # --- dense variants -----------------------------------------------------------------------
    def rocchio(self, query: str, feedback: int = 3, beta: float = 0.5) -> list[str]:
        first = fuse([self.ranks(query, "bm25"), self.ranks(query, "dense")], [1, 1], n=feedback)
        centroid = np.mean([self.doc_matrix[self.ids.index(d)] for d in first], axis=0)
        v = self.qv(query) + beta * centroid
        return self.by_vector(v / np.linalg.norm(v))

    def build_sentence_view(self) -> tuple[int, float]:
        texts, owners = [], []
        for doc_id in self.ids:
            d = self.docs[doc_id]
            for s in sentences(d.abstract):
                texts.append(f"{d.title}. {s}" if d.title else s)
                owners.append(doc_id)
        started = time.perf_counter()
        self.sent_matrix = np.asarray(self.a.embedder.embed(texts), dtype=np.float32)
        seconds = time.perf_counter() - started
        self.sent_doc = np.array(owners)
        return len(texts), seconds

    def sentence_scores(self, query: str) -> dict[str, float]:
        assert self.sent_doc is not None
        best: dict[str, float] = {}
        for owner, sim in zip(self.sent_doc, self.sent_matrix @ self.qv(query)):
            best[owner] = max(best.get(owner, -1.0), float(sim))
        return best

    def sentence_view(self, query: str, chunk_weight: float = 0.0) -> list[str]:
        sent = self.sentence_scores(query)
        chunk = dict(zip(self.ids, self.doc_matrix @ self.qv(query)))
        mixed = {d: chunk_weight * float(chunk[d]) + (1 - chunk_weight) * sent.get(d, 0.0) for d in self.ids}
        return [d for d, _ in sorted(mixed.items(), key=lambda kv: -kv[1])][:40]

    # --- fusion variants ------------------------------------------------------------------------
    def agreement_weighted(self, query: str, low: float) -> list[str]:
        b, d = self.ranks(query, "bm25"), self.ranks(query, "dense")
        disagree = not set(b[:10]) & set(d[:10])
        return fuse([b, d], [low if disagree else 1.0, 1.0])

    def convex(self, query: str, alpha: float) -> list[str]:
        b = [(h.doc_id, h.bm25_score or 0.0) for h in self.a.search(query, k=40, mode="bm25")]
        d = [(h.doc_id, h.dense_score or 0.0) for h in self.a.search(query, k=40, mode="dense")]
        scores: dict[str, float] = {}
        top = max((s for _, s in b), default=1.0) or 1.0
        lo, hi = (min(s for _, s in d), max(s for _, s in d)) if d else (0.0, 1.0)
        for doc, s in b:
            scores[doc] = scores.get(doc, 0.0) + (1 - alpha) * s / top
        for doc, s in d:
            scores[doc] = scores.get(doc, 0.0) + alpha * (s - lo) / ((hi - lo) or 1.0)
        return [x for x, _ in sorted(scores.items(), key=lambda kv: -kv[1])][:10]

    # --- scoring ---------------------------------------------------------------------------------
    def evaluate(self, label: str, rank: Ranker) -> dict:
        rows: dict[str, list[dict]] = {}
        for q in self.questions:
            rows.setdefault(q.kind, []).append(scoring.retrieval_scores(rank(q.question)[:10], q.gold_doc_ids))
        flat = [r for kind in rows.values() for r in kind]
        out = {name: statistics.fmean(r[name] for r in flat) for name in ("recall@5", "ndcg@10", "mrr@10")}
        kinds = {k: statistics.fmean(r["recall@5"] for r in v) for k, v in sorted(rows.items())}
        per_kind = " ".join(f"{k[:5]} {v:.3f}" for k, v in kinds.items())
        print(f"{label:44} r@5 {out['recall@5']:.3f}  nDCG {out['ndcg@10']:.3f}  MRR {out['mrr@10']:.3f} | {per_kind}", flush=True)
        return out


HYDE_TITLE = (
    'A researcher asks: "{question}"\nWrite the title and the first sentence of the scientific paper abstract that answers it, '
    "using the technical terms the paper would use.\nTitle:"
)
HYDE_TERMS = (
    "Rewrite this question about a research paper as the technical keywords a computer science paper would use. "
    "Give only a comma-separated list of 4 to 8 technical terms.\nQuestion: {question}\nTechnical terms:"
)
PICK = "Question: {question}\n\nPapers:\n{papers}\n\nWhich paper is the question asking about? Reply with its number only."


def llm_variants(lab: Lab, data_dir: str) -> None:
    llm = Assistant(data_dir=data_dir).llm
    for name, prompt in (("title", HYDE_TITLE), ("terms", HYDE_TERMS)):
        expansions, seconds = {}, []
        for q in lab.questions:
            started = time.perf_counter()
            text = llm.complete([{"role": "user", "content": prompt.format(question=q.question)}], max_tokens=60).text
            seconds.append(time.perf_counter() - started)
            expansions[q.question] = " ".join(text.replace('"', " ").split())
        print(f"HyDE ({name}): local model p50 {statistics.median(seconds):.2f} s per question")
        lab.evaluate(f"dense(question + HyDE {name})", lambda q, e=expansions: lab.ranks(q + " " + e[q], "dense"))
        lab.evaluate(f"hybrid(question + HyDE {name})", lambda q, e=expansions: lab.ranks(q + " " + e[q], "hybrid", 10))
        lab.evaluate(
            f"RRF(bm25, dense, both on question + {name})",
            lambda q, e=expansions: fuse(
                [lab.ranks(q, "bm25"), lab.ranks(q, "dense"), lab.ranks(q + " " + e[q], "dense"), lab.ranks(q + " " + e[q], "bm25")],
                [1, 1, 1, 1],
            ),
        )
    picked_gold = picked_first = asked = 0
    for q in lab.questions:
        candidates = fuse([lab.ranks(q.question, "bm25"), lab.ranks(q.question, "dense")], [1, 1], n=15)
        papers = "\n".join(f"{i + 1}. {lab.docs[c].title or lab.docs[c].abstract[:100]}" for i, c in enumerate(candidates))
        reply = llm.complete([{"role": "user", "content": PICK.format(question=q.question, papers=papers)}], max_tokens=4).text
        m = re.search(r"\d+", reply)
        pick = int(m.group()) - 1 if m else -1
        asked += 1
        picked_first += pick == 0
        picked_gold += 0 <= pick < len(candidates) and candidates[pick] in q.gold_doc_ids
    print(f"local model picking the paper among 15 candidate titles: gold {picked_gold}/{asked}, first candidate {picked_first}/{asked}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--split", default="dev", choices=["dev", "test", "all"])
    parser.add_argument("--llm", action="store_true", help="also the local-model variants (minutes)")
    args = parser.parse_args()
    lab = Lab(args.data_dir, args.split)
    print(f"{args.split}: {len(lab.questions)} questions with a gold paper, {len(lab.ids)} papers stored")
    lab.evaluate("today: hybrid (RRF k=60, equal weights)", lambda q: lab.ranks(q, "hybrid", 10))
    lab.evaluate("BM25 alone", lambda q: lab.ranks(q, "bm25", 10))
    lab.evaluate("dense alone", lambda q: lab.ranks(q, "dense", 10))
    for k in (1, 5, 20):
        lab.evaluate(f"RRF k={k}", lambda q, k=k: fuse([lab.ranks(q, "bm25"), lab.ranks(q, "dense")], [1, 1], k=k))
    for wd in (2.0, 3.0):
        lab.evaluate(f"RRF dense weight {wd}", lambda q, wd=wd: fuse([lab.ranks(q, "bm25"), lab.ranks(q, "dense")], [1, wd]))
    for alpha in (0.5, 0.6, 0.8):
        lab.evaluate(f"convex fusion, dense share {alpha}", lambda q, a=alpha: lab.convex(q, a))
    for low in (0.25, 0.0):
        lab.evaluate(f"BM25 weight {low} when BM25/dense disagree", lambda q, low=low: lab.agreement_weighted(q, low))
    for rep in (2, 3):
        for frame in (False, True):
            label = f"RRF(BM25 title x{rep}{', frame words out' if frame else ''}, dense)"
            lab.evaluate(label, lambda q, r=rep, f=frame: fuse([lab.bm25(q, r, f), lab.ranks(q, "dense")], [1, 1]))
    for fb, terms in ((3, 10), (5, 10)):
        lab.evaluate(
            f"RRF(BM25 + RM3 {fb} docs/{terms} terms, dense)",
            lambda q, fb=fb, t=terms: fuse([lab.rm3(q, fb, t), lab.ranks(q, "dense")], [1, 1]),
        )
    for fb, beta in ((3, 0.3), (5, 0.5)):
        lab.evaluate(
            f"RRF(BM25, dense, Rocchio {fb} docs b={beta})",
            lambda q, fb=fb, b=beta: fuse([lab.ranks(q, "bm25"), lab.ranks(q, "dense"), lab.rocchio(q, fb, b)], [1, 1, 1]),
        )
    n, seconds = lab.build_sentence_view()
    print(f"sentence view: {n} sentence vectors embedded in {seconds:.1f} s (the ingest time it would add)")
    lab.evaluate("sentence view alone (best sentence)", lambda q: lab.sentence_view(q)[:10])
    lab.evaluate("dense: 0.7 chunk + 0.3 best sentence", lambda q: lab.sentence_view(q, 0.7)[:10])
    lab.evaluate(
        "RRF(BM25, dense, sentence view)",
        lambda q: fuse([lab.ranks(q, "bm25"), lab.ranks(q, "dense"), lab.sentence_view(q)], [1, 1, 1]),
    )
    lab.evaluate("RRF(BM25, 0.7 chunk + 0.3 sentence)", lambda q: fuse([lab.ranks(q, "bm25"), lab.sentence_view(q, 0.7)], [1, 1]))
    if args.llm:
        llm_variants(lab, args.data_dir)


if __name__ == "__main__":
    main()
