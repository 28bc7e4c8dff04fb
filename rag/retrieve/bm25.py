"""BM25 over the stored chunks (bm25s + PyStemmer), persisted next to the store.

We drive bm25s directly rather than through llama-index's ``BM25Retriever`` because
that class fixes its metadata filters when it is built, while our filters change
per query; bm25s' ``weight_mask`` applies a vectorised per-query mask instead.
The index is rebuilt from Chroma (the source of truth) whenever the store's
write generation differs from the one the index was built at, and on loading when
it does not match the store's content (its chunk ids, which a kill between the last
chunk write and the generation update would leave behind) or its own checksums (a
damaged or substituted file would otherwise give wrong rankings or an IndexError).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from llama_index.core.schema import NodeWithScore, TextNode

from .. import logs
from ..store import Store, ids_fingerprint
from .filters import SearchFilters

log = logging.getLogger(__name__)
logs.tame("bm25s")  # it sets its logger to DEBUG when imported

_STEMMER = Stemmer.Stemmer("english")


def _tokens(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


def index_text(node: TextNode) -> str:
    return f"{node.metadata.get('title', '')}\n{node.text}"


class BM25Index:
    def __init__(self, bm25: bm25s.BM25 | None, nodes: list[TextNode]) -> None:
        self.bm25 = bm25
        self.nodes = nodes
        self.years = np.array([int(n.metadata.get("year", -1)) for n in nodes], dtype=np.int64)
        self.sources = np.array([n.metadata.get("source_name", "") for n in nodes], dtype=object)

    @classmethod
    def build(cls, nodes: list[TextNode]) -> BM25Index:
        if not nodes:
            return cls(None, [])
        bm25 = bm25s.BM25()
        bm25.index(_tokens([index_text(n) for n in nodes]), show_progress=False)
        return cls(bm25, nodes)

    def search(self, query: str, k: int, filters: SearchFilters | None = None) -> list[NodeWithScore]:
        if self.bm25 is None or not query.strip():
            return []
        tokens = _tokens([query])
        if not tokens[0]:
            return []
        mask = filters.mask(self.years, self.sources) if filters else None
        if mask is not None and not mask.any():
            return []
        k = min(k, len(self.nodes))
        idx, scores = self.bm25.retrieve(tokens, k=k, weight_mask=mask, show_progress=False, n_threads=1)
        return [
            NodeWithScore(node=self.nodes[int(i)], score=float(s))
            for i, s in zip(idx[0], scores[0])
            if s > 0
        ]

    # --- persistence -------------------------------------------------------------
    def save(self, folder: Path, generation: int, store_fingerprint: str | None = None) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.bm25 is not None:
            self.bm25.save(str(tmp / "bm25"))
        with (tmp / "nodes.jsonl").open("w", encoding="utf-8") as f:
            for n in self.nodes:
                f.write(json.dumps({"id": n.node_id, "text": n.text, "metadata": n.metadata}) + "\n")
        manifest = {
            "generation": generation,
            "nodes": len(self.nodes),
            "store": store_fingerprint or ids_fingerprint(n.node_id for n in self.nodes),
            "files": _checksums(tmp),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        # Swap in the finished index in one rename, so a reader never sees half of one.
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, generation: int, store_fingerprint: str | None = None) -> BM25Index | None:
        """The saved index, or None when it is missing, stale or damaged (then rebuild)."""
        index, problem = cls.read(folder, generation, store_fingerprint)
        if problem:
            log.info("BM25 index at %s: %s; rebuilding", folder, problem)
        return index

    @classmethod
    def read(cls, folder: Path, generation: int, store_fingerprint: str | None = None) -> tuple[BM25Index | None, str | None]:
        """(the saved index, None) or (None, what is wrong with it)."""
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            if manifest.get("generation") != generation:
                return None, "built at another write generation of the store"
            if store_fingerprint is not None and manifest.get("store") != store_fingerprint:
                return None, "does not match the store's content"
            if manifest.get("files") != _checksums(folder):
                return None, "fails its checksums (damaged or replaced)"
            nodes = []
            with (folder / "nodes.jsonl").open(encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    nodes.append(TextNode(id_=row["id"], text=row["text"], metadata=row["metadata"]))
            if ids_fingerprint(n.node_id for n in nodes) != manifest.get("store"):
                return None, "holds other chunks than its manifest says"
            bm25 = bm25s.BM25.load(str(folder / "bm25")) if nodes else None
            return cls(bm25, nodes), None
        except FileNotFoundError:
            return None, "missing"
        except (OSError, ValueError, KeyError) as exc:
            return None, f"unreadable ({exc})"


def problem(store: Store) -> str | None:
    """What is wrong with the store's saved BM25 index (None: it is current and intact)."""
    return BM25Index.read(bm25_folder(store), store.generation(), store.content_fingerprint())[1]


def bm25_folder(store: Store) -> Path:
    return store.settings.data_dir / "bm25" / store.name


def load_or_build(store: Store) -> BM25Index:
    folder = bm25_folder(store)
    generation = store.generation()
    index = BM25Index.load(folder, generation, store.content_fingerprint())
    if index is None:
        index = refresh(store)
    return index


def _checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a saved index except its manifest."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def refresh(store: Store) -> BM25Index:
    generation = store.generation()
    index = BM25Index.build(list(store.iter_nodes()))
    index.save(bm25_folder(store), generation)
    log.info("BM25 index rebuilt: %d chunks (generation %d)", len(index.nodes), generation)
    return index
