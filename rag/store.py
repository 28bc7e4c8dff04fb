"""The Chroma store: one collection per index fingerprint, written through llama-index.

Writes are ordered so an interrupted ingest never loses what was stored and is
simply resumed by running it again:

* all chunks of a document go to Chroma in one ``add`` call, and a document counts
  as stored only when every one of its chunks is present with the same content;
* new versions are written before old versions are deleted.

The store is either embedded (a ``PersistentClient`` in ``data_dir``) or a Chroma
server reached over HTTP (``RAG_STORE=server``); everything above the client is the
same code in both modes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import chromadb
from chromadb.config import Settings as ChromaSettings

from . import offline  # noqa: F401  (telemetry off before chromadb is used)
from .errors import StoreError, brief, remedy
from .mirror import LexicalMirror
from .models import Document, file_of
from .settings import Settings

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode, TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

log = logging.getLogger(__name__)

PAGE = 5000  # rows per Chroma get() page: bounded memory on big collections


@dataclass(frozen=True)
class StoredDoc:
    doc_id: str
    source: str
    title: str
    chunks_present: int
    chunks_expected: int
    doi: str | None = None
    arxiv_id: str | None = None

    @property
    def complete(self) -> bool:
        return self.chunks_present == self.chunks_expected

    @property
    def source_file(self) -> str:
        return file_of(self.source)


def make_client(settings: Settings):
    """Chroma client for the configured mode (embedded by default).

    ``store="server"`` talks to a separately run Chroma server over HTTP, so several
    processes (API workers, ingest jobs, the CLI) share one store instead of each
    opening a private SQLite file. Only Chroma moves: the lexical (BM25) index is
    derived from the collection and lives in ``data_dir`` in both modes (see
    ``rag.lexical`` for why not in Chroma).
    """
    if settings.store == "server":
        return _http_client(settings)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(
            path=str(settings.data_dir / "chroma"),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
    except Exception as exc:
        # Chroma caches the client's system per path even when starting it failed; the
        # half-started one would answer every later open with an AttributeError, so a
        # store that could not open (a full disk) could never open again in this process.
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        raise StoreError(f"{settings.data_dir}: cannot open the Chroma store ({brief(exc)}){remedy(exc)}") from exc


def _http_client(settings: Settings):
    """An ``HttpClient`` checked with a heartbeat.

    Chroma's own failure for a missing server is a bare "Could not connect" (or, for
    some paths, nothing until the first write), so we connect eagerly and turn every
    failure into one ``StoreError`` line that names the address and the fix.
    """
    host, port = settings.chroma_host, settings.chroma_port
    where = f"{'https' if settings.chroma_ssl else 'http'}://{host}:{port}"
    token = settings.chroma_auth_token.get_secret_value() if settings.chroma_auth_token else None
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        client = chromadb.HttpClient(
            host=host,
            port=port,
            ssl=settings.chroma_ssl,
            headers=headers,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
        client.heartbeat()
    except Exception as exc:
        if _is_auth_error(exc):
            raise StoreError(
                f"Chroma server at {where} refused the request ({brief(exc)}); "
                "check RAG_CHROMA_AUTH_TOKEN"
            ) from exc
        raise StoreError(
            f"Chroma server at {where} is not reachable ({brief(exc)}); start one with "
            f"`chroma run --path DIR --host {host} --port {port}` or set RAG_STORE=embedded"
        ) from exc
    log.info("connected to the Chroma server at %s", where)
    return client


def _is_auth_error(exc: Exception) -> bool:
    from chromadb.errors import AuthorizationError, ChromaAuthError

    return isinstance(exc, (AuthorizationError, ChromaAuthError)) or any(
        code in str(exc) for code in ("401", "403", "Unauthorized", "Forbidden")
    )


class Store:
    def __init__(self, settings: Settings, client=None) -> None:
        self.settings = settings
        self.name = settings.collection_name
        self.client = client or make_client(settings)
        self.collection = self._open()
        self.seen_generation = self.generation()
        self.lexical = LexicalMirror(lexical_path(settings), self)  # the BM25 side, kept in step with writes
        self._empty, self._empty_at = True, -1

    @property
    def where(self) -> str:
        if self.settings.store == "server":
            return f"Chroma server {self.settings.chroma_host}:{self.settings.chroma_port}, collection {self.name}"
        return f"Chroma store {self.settings.data_dir / 'chroma'}"

    @contextlib.contextmanager
    def checked(self, what: str, *, writing: bool = False) -> Iterator[None]:
        """Any failure of Chroma inside becomes one StoreError line naming the store and
        the way out (a damaged SQLite file or index gives Chroma's own 60-line traceback)."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            if way_out := remedy(exc, writing=writing):
                raise StoreError(f"{self.where}: {what} failed ({brief(exc)}){way_out}") from exc
            raise StoreError(
                f"{self.where}: {what} failed ({brief(exc)}); `rag doctor` checks the store; if it is "
                "damaged, ingest again into an empty RAG_DATA_DIR or restore a backup"
            ) from exc

    def _open(self) -> _Checked:
        return _Checked(self._open_raw(), self)

    def _open_raw(self):
        try:
            return self.client.get_or_create_collection(
                self.name,
                embedding_function=None,  # we always pass our own vectors; never Chroma's downloader
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"index": str(sorted(self.settings.index_fingerprint().items())), "generation": 0},
            )
        except Exception as exc:  # a server that went away, a full disk, a corrupt file
            raise StoreError(f"collection {self.name}: cannot open ({brief(exc)}){remedy(exc)}") from exc

    def others(self) -> dict[str, int]:
        """Chunks held by this store's other collections (papers ingested with other
        embedding or chunking settings, e.g. before RAG_EMBED_COMPUTE changed): they are
        not searched; `rag ingest` embeds the papers again for the current settings."""
        prefix = self.settings.collection_prefix + "-"
        out = {}
        with self.checked("listing collections"):
            for name in self.client.list_collections():
                name = getattr(name, "name", name)
                if name != self.name and str(name).startswith(prefix):
                    count = self.client.get_collection(name).count()
                    if count:
                        out[str(name)] = count
        return out

    def follow_writes(self) -> bool:
        """Reopen the embedded store when another process (``rag ingest`` beside
        ``rag serve``) has written to it: Chroma's embedded client keeps its vector
        index in memory and would not see the new chunks (or would still return deleted
        ones). Cheap when nothing changed (one metadata read). True when reopened."""
        generation = self.generation()
        if generation == self.seen_generation:
            return False
        self.seen_generation = generation
        if self.settings.store == "server":
            return False  # the server process holds the one index; nothing is stale here
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()  # a new client, not the cached one
        self.client = make_client(self.settings)
        self.collection = self._open()
        self.__dict__.pop("vector_store", None)
        log.info("store %s changed on disk (generation %d); reopened", self.name, generation)
        return True

    @functools.cached_property
    def vector_store(self) -> ChromaVectorStore:
        """The collection as a llama-index vector store (writes and dense retrieval);
        built on first use, so reading documents never imports llama-index."""
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection.unwrapped)

    # --- reading -------------------------------------------------------------------
    def count(self) -> int:
        return self.collection.count()

    def empty(self) -> bool:
        """Whether the collection holds no chunks, counted again only when the write
        generation moved (Chroma's count() scans: ~10 ms at 100k chunks, per search)."""
        generation = self.generation()
        if self._empty_at != generation:
            self._empty, self._empty_at = self.count() == 0, generation
        return self._empty

    def generation(self) -> int:
        """A number changed by every write; derived indexes (BM25) compare against it."""
        with self.checked("reading the write generation"):
            meta = self.client.get_collection(self.name).metadata or {}
        return int(meta.get("generation", 0))

    def bump_generation(self) -> int:
        """Move the generation past the old one and past the clock (in microseconds).

        Not a plain ``+1``: the lexical index in ``data_dir`` is matched to its collection
        by name and generation, and a server wiped and filled again would count through
        the same small numbers, so a stale index could pass for current. Clock-based
        values of two stores practically never coincide.
        """
        with self.checked("reading the write generation"):
            meta = dict(self.client.get_collection(self.name).metadata or {})
        meta["generation"] = max(int(meta.get("generation", 0)) + 1, time.time_ns() // 1000)
        self.collection.modify(metadata=meta)
        self.seen_generation = meta["generation"]  # our own write: nothing to reopen
        self.lexical.synced(meta["generation"])
        return meta["generation"]

    def _pages(self, where: dict | None = None, include: list[str] | None = None) -> Iterator[dict]:
        offset = 0
        while True:
            page = self.collection.get(where=where, include=include or ["metadatas"], limit=PAGE, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def stored_docs(self, where: dict | None = None) -> dict[str, StoredDoc]:
        """Per-document state (chunks present vs expected) for the docs matching ``where``."""
        seen: dict[str, list[dict]] = defaultdict(list)
        for page in self._pages(where):
            for meta in page["metadatas"]:
                seen[meta["doc_id"]].append(meta)
        return {
            doc_id: StoredDoc(
                doc_id=doc_id,
                source=metas[0].get("source", ""),
                title=metas[0].get("title", ""),
                chunks_present=len({m.get("chunk") for m in metas}),
                chunks_expected=int(metas[0].get("n_chunks", 1)),
                doi=metas[0].get("doi"),
                arxiv_id=metas[0].get("arxiv_id"),
            )
            for doc_id, metas in seen.items()
        }

    def states(self, doc_ids: Iterable[str]) -> dict[str, StoredDoc]:
        ids = list(doc_ids)
        out: dict[str, StoredDoc] = {}
        for start in range(0, len(ids), 500):
            out.update(self.stored_docs({"doc_id": {"$in": ids[start : start + 500]}}))
        return out

    def doc_ids_from_files(self, source_files: list[str]) -> set[str]:
        """The ids of the documents stored from ``source_files`` (only the ids are held:
        a million-paper library's ids are ~80 MB, its chunks' metadata many times that)."""
        ids: set[str] = set()
        for start in range(0, len(source_files), 500):
            for page in self._pages({"source_file": {"$in": source_files[start : start + 500]}}):
                ids.update(str(meta["doc_id"]) for meta in page["metadatas"])
        return ids

    def with_identifiers(self, dois: Iterable[str], arxiv_ids: Iterable[str]) -> dict[str, StoredDoc]:
        """Stored documents whose DOI or arXiv id is among those given."""
        out: dict[str, StoredDoc] = {}
        for name, values in (("doi", list(dict.fromkeys(dois))), ("arxiv_id", list(dict.fromkeys(arxiv_ids)))):
            for start in range(0, len(values), 500):
                out.update(self.stored_docs({name: {"$in": values[start : start + 500]}}))
        return out

    def get_document(self, doc_id: str) -> Document | None:
        return self.get_documents([doc_id]).get(doc_id)

    def get_documents(self, doc_ids: Iterable[str]) -> dict[str, Document]:
        """The stored documents among ``doc_ids``, read in one query per 500 ids."""
        ids = list(dict.fromkeys(doc_ids))
        rows: dict[str, list[tuple[dict, str]]] = defaultdict(list)
        for start in range(0, len(ids), 500):
            got = self.collection.get(where={"doc_id": {"$in": ids[start : start + 500]}}, include=["metadatas", "documents"])
            for meta, text in zip(got["metadatas"] or [], got["documents"] or []):
                rows[str(meta["doc_id"])].append((dict(meta), text or ""))
        return {doc_id: _document(doc_id, chunks) for doc_id, chunks in rows.items()}

    def nodes(self, ids: Sequence[str]) -> dict[str, TextNode]:
        """The stored chunks among ``ids`` as nodes (text + metadata), by id."""
        out: dict[str, TextNode] = {}
        for start in range(0, len(ids), 500):
            got = self.collection.get(ids=list(ids[start : start + 500]), include=["metadatas", "documents"])
            out.update((node.node_id, node) for node in _nodes(got))
        return out

    def ids(self) -> Iterator[str]:
        for page in self._pages(include=[]):
            yield from page["ids"]

    def iter_nodes(self) -> Iterator[TextNode]:
        """Every stored chunk as a node (text + metadata), page by page."""
        for page in self._pages(include=["metadatas", "documents"]):
            yield from _nodes(page)

    # --- writing -------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode]) -> None:
        """Write ``nodes`` in slices the client accepts (a Chroma server's limit is
        smaller than llama-index's fixed 41,665). A document cut between two slices is
        still safe: completeness is checked per document, and an incomplete one is
        rewritten by the next ingest."""
        if not nodes:
            return
        self.lexical.before_write()
        try:
            limit = self._max_batch()
            for start in range(0, len(nodes), limit):
                self.vector_store.add(list(nodes[start : start + limit]))
        except Exception as exc:
            raise StoreError(f"collection {self.name}: write failed ({brief(exc)}){remedy(exc, writing=True)}") from exc
        self.lexical.added(nodes)

    @functools.lru_cache(maxsize=1)  # noqa: B019 (one Store per collection; asked once, not per write)
    def _max_batch(self) -> int:
        return max(1, self.client.get_max_batch_size())

    def delete_docs(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        if not ids:
            return
        self.lexical.before_write()
        for start in range(0, len(ids), 500):
            self.collection.delete(where={"doc_id": {"$in": ids[start : start + 500]}})
        self.lexical.deleted(ids)


def lexical_path(settings: Settings) -> Path:
    """The collection's lexical index in ``data_dir``; a server's collection gets its own
    file (named after the server), never the one of an embedded collection of that name."""
    name = settings.collection_name
    if settings.store == "server":
        name += f"@{settings.chroma_host}_{settings.chroma_port}"
    return settings.data_dir / "lexical" / name


def _document(doc_id: str, chunks: list[tuple[dict, str]]) -> Document:
    """A document from its stored chunks: the first chunk carries the whole abstract
    when there are several (``meta["abstract"]``), else its text is the abstract."""
    meta, text = min(chunks, key=lambda row: int(row[0].get("chunk", 0)))
    return Document(
        doc_id=doc_id,
        title=meta.get("title", ""),
        abstract=meta.get("abstract") or text,
        authors=meta["authors"].split("; ") if meta.get("authors") else None,
        year=meta.get("year"),
        source=meta.get("source", ""),
        also_in=meta["also_in"].split(" | ") if meta.get("also_in") else [],
        doi=meta.get("doi"),
        url=meta.get("url"),
        arxiv_id=meta.get("arxiv_id"),
        cite_key=meta.get("cite_key"),
        venue=meta.get("venue"),
    )


_INTERNAL = {"_node_content", "_node_type", "document_id", "ref_doc_id"}


def _nodes(got: dict) -> Iterator[TextNode]:
    """The rows of a Chroma ``get`` (ids, metadatas, documents) as nodes."""
    from llama_index.core.schema import TextNode

    for node_id, meta, text in zip(got["ids"], got["metadatas"] or [], got["documents"] or []):
        yield TextNode(id_=node_id, text=text or "", metadata=_public(meta))


def _public(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in _INTERNAL}


_WRITES = {"add", "upsert", "update", "delete", "modify"}


class _Checked:
    """A Chroma collection whose every call fails as one StoreError line (``Store.checked``);
    ``unwrapped`` is the collection itself, for llama-index's vector store."""

    def __init__(self, collection, store: Store) -> None:
        self.unwrapped = collection
        self._store = store

    def __getattr__(self, name: str):
        attr = getattr(self.unwrapped, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._store.checked(f"{name}()", writing=name in _WRITES):
                return attr(*args, **kwargs)

        return call
