"""Chat sessions for the HTTP API: one :class:`Conversation` per session id.

Sessions live in memory (a restart ends them) and are bounded: the least recently
used one is dropped past ``max_sessions``, and idle ones expire after ``ttl_s``,
so an open server cannot be made to grow without limit.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..answer.chat import Conversation
    from ..assistant import Assistant


class Sessions:
    def __init__(self, assistant: "Assistant", max_sessions: int = 256, ttl_s: float = 3600.0) -> None:
        self.assistant = assistant
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, "Conversation"]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str | None) -> tuple[str, "Conversation"]:
        """The conversation for ``session_id``; a new one (and a new id) when None."""
        now = time.monotonic()
        with self._lock:
            for sid in [s for s, (seen, _) in self._items.items() if now - seen > self.ttl_s]:
                del self._items[sid]
            if session_id is None:
                session_id = secrets.token_urlsafe(12)
                conv = self.assistant.conversation()
            elif session_id in self._items:
                conv = self._items.pop(session_id)[1]
            else:
                raise InputError("session_id", f"unknown or expired session {session_id!r}; omit it to start a new one")
            self._items[session_id] = (now, conv)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)
            return session_id, conv

    def __len__(self) -> int:
        return len(self._items)
