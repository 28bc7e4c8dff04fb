"""Chat sessions for the HTTP API: one :class:`Conversation` per session id.

Sessions live in memory (a restart ends them) and are bounded by a
``cachetools.TTLCache``: the least recently used one is dropped past
``max_sessions``, and one left idle for ``ttl_s`` expires (each use re-inserts
it, so the clock counts from the last turn), so an open server cannot be made to
grow without limit.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cachetools import TTLCache

from ..errors import InputError

if TYPE_CHECKING:
    from ..answer.chat import Conversation


class Sessions:
    def __init__(
        self, new: Callable[[], Conversation], max_sessions: int = 256, ttl_s: float = 3600.0, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._new = new
        self._items: TTLCache[str, Conversation] = TTLCache(maxsize=max_sessions, ttl=ttl_s, timer=timer)
        self._lock = threading.Lock()  # TTLCache is not thread-safe

    def get(self, session_id: str | None) -> tuple[str, Conversation]:
        """The conversation for ``session_id``; a new one (and a new id) when None."""
        with self._lock:
            if session_id is None:
                session_id, conv = secrets.token_urlsafe(12), self._new()
            elif (found := self._items.pop(session_id, None)) is not None:
                conv = found
            else:
                raise InputError("session_id", f"unknown or expired session {session_id!r}; omit it to start a new one")
            self._items[session_id] = conv  # (re)inserted: most recently used, idle clock restarted
            return session_id, conv

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class Histories:
    """Conversations of stateless clients (the OpenAI-compatible endpoint), found again
    by a key of the history the client sends back. Bounded and expiring as sessions are;
    a conversation is taken out while a turn runs and kept again under its new key."""

    def __init__(self, max_items: int = 256, ttl_s: float = 3600.0, timer: Callable[[], float] = time.monotonic) -> None:
        self._items: TTLCache[str, Conversation] = TTLCache(maxsize=max_items, ttl=ttl_s, timer=timer)
        self._lock = threading.Lock()

    def take(self, key: str) -> Conversation | None:
        with self._lock:
            return self._items.pop(key, None)

    def keep(self, key: str, conv: Conversation) -> None:
        with self._lock:
            self._items[key] = conv

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
