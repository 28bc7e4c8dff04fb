"""Keeping the lexical index in step with the Chroma collection it mirrors.

The store calls :meth:`LexicalMirror.before_write` before every Chroma write (which
marks the index pending), hands over what it wrote (:meth:`added`, :meth:`deleted`)
and, when a write is done, the new write generation (:meth:`synced`). A reader
(:meth:`search`) trusts the index only when it is at the store's generation and not
pending; otherwise it reconciles it with Chroma's chunk ids first (a kill between the
Chroma write and its mirror, another client of a shared Chroma server), and a
damaged index is rebuilt from Chroma.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import StoreError, brief, remedy
from .lexical import LexicalError, LexicalIndex

if TYPE_CHECKING:
    from llama_index.core.schema import BaseNode, TextNode

log = logging.getLogger(__name__)

FLUSH = 2000  # chunks mirrored per commit


class Mirrored(Protocol):
    """What the mirror reads of the store it follows."""

    def generation(self) -> int: ...
    def count(self) -> int: ...
    def ids(self) -> Iterator[str]: ...
    def nodes(self, ids: Sequence[str]) -> dict[str, TextNode]: ...
    def checked(self, what: str, *, writing: bool = False) -> contextlib.AbstractContextManager[None]: ...


class LexicalMirror:
    def __init__(self, path: Path, store: Mirrored) -> None:
        self.index = LexicalIndex(path)
        self.path = path
        self.store = store
        self._generation: int | None = None  # the generation at which we last found it in step
        self._unmirrored: list[BaseNode] = []  # written to Chroma, not yet committed here

    # --- the store's writes --------------------------------------------------------------
    def before_write(self) -> None:
        """Bring the index in step (once per process), then mark it pending: a kill
        between the Chroma write and its mirror leaves the mark for the next reader."""
        if self._generation is None:
            self.sync()
        self._call(self.index.mark_pending)

    def added(self, nodes: Sequence[BaseNode]) -> None:
        # Committed per FLUSH chunks, not per write batch: a tantivy commit costs ~30 ms
        # (fsync), more than tokenizing 64 papers. What a kill leaves unmirrored is caught
        # by the pending mark, set before the Chroma write.
        self._unmirrored.extend(nodes)
        if len(self._unmirrored) >= FLUSH:
            self.flush()

    def deleted(self, doc_ids: list[str]) -> None:
        self.flush()  # adds before deletes, as in Chroma
        self._call(lambda: self.index.delete_docs(doc_ids))

    def synced(self, generation: int) -> None:
        """The store's write is done at ``generation``."""
        self.flush()
        if self._generation is not None:  # in step before the writes, each of them mirrored
            self._call(lambda: self.index.synced(generation))
            self._generation = generation

    def flush(self) -> None:
        """Commit the chunks written to Chroma but not yet here."""
        if self._unmirrored:
            nodes, self._unmirrored = self._unmirrored, []
            self._call(lambda: self.index.add(nodes))

    def _call(self, call) -> None:
        try:
            call()
        except OSError as exc:
            raise StoreError(f"lexical index {self.path}: write failed ({brief(exc)}){remedy(exc, writing=True)}") from exc
        except LexicalError as exc:
            if "another process holds its writer" in str(exc):
                raise StoreError(f"lexical index {self.path}: {brief(exc)}; retry when it is done") from exc
            log.warning("lexical index %s unusable (%s); rebuilt from the store on next use", self.path, exc)
            self.index.discard()
            self._generation = None

    # --- reading -------------------------------------------------------------------------
    def search(self, query: str, n: int, **filters) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) pairs, best first (``LexicalIndex.search``), after
        catching up with the store when its generation moved since we last looked (one
        metadata read when it did not). A damaged index is rebuilt, then searched."""
        self.flush()
        if self.store.generation() != self._generation:
            self.sync()
        try:
            return self.index.search(query, n, **filters)
        except LexicalError as exc:
            log.warning("lexical index %s damaged (%s); rebuilding it from the store", self.path, exc)
            self.sync(rebuild=True)
            return self.index.search(query, n, **filters)

    def count(self) -> int:
        return self.index.count()

    def problem(self) -> str | None:
        """Why the index is not in step with the store (None: it is). Reads only."""
        if not self.path.exists():
            return "missing"
        if trouble := self.index.integrity():
            return trouble
        try:
            generation, count = self.store.generation(), self.store.count()
            if self.index.pending():
                return "a write to the store was interrupted before it reached the index"
            if self.index.generation() != generation:
                return "built at another write generation of the store"
            if self.index.count() != count:
                return f"holds {self.index.count()} chunks, the store {count}"
        except LexicalError as exc:
            return f"damaged ({exc})"
        return None

    def sync(self, *, rebuild: bool = False) -> tuple[int, int]:
        """Reconcile the index with Chroma when it is not known to be in step (or, with
        ``rebuild``, from nothing): (chunks added, chunks dropped)."""
        generation = self.store.generation()
        if rebuild:
            self.index.discard()
        try:
            index = self.index
            if not rebuild and index.generation() == generation and not index.pending() and index.count() == self.store.count():
                self._generation = generation
                return 0, 0
            with self.store.checked("reading chunk ids for the lexical index"):
                added, dropped = index.reconcile(self.store.ids, self.store.nodes, generation)
        except LexicalError as exc:
            if rebuild:
                raise StoreError(f"lexical index {self.path}: cannot be written ({brief(exc)})") from exc
            log.warning("lexical index %s unusable (%s); rebuilding it from the store", self.path, exc)
            return self.sync(rebuild=True)
        self._generation = generation
        if added or dropped:
            log.info("lexical index %s: %d chunks added, %d dropped (generation %d)", self.path, added, dropped, generation)
        return added, dropped
