"""One logging set-up for every entry point (CLI, MCP server, ``rag serve``).

Logs go to stderr (stdout carries answers, JSON and the MCP protocol). The level of
the ``rag`` loggers is ``RAG_LOG_LEVEL`` (default WARNING), or more when ``-v``
(INFO) / ``-vv`` (DEBUG) asks for it; chatty libraries stay at WARNING unless ``-vv``.
"""

from __future__ import annotations

import logging
import sys

NOISY = ("chromadb", "httpx", "httpcore", "bm25s", "openai", "urllib3")


def level_of(name: str | int) -> int:
    """A level from a name ('info', 'WARNING') or number; unknown names are WARNING."""
    if isinstance(name, int):
        return name
    value = logging.getLevelName(name.strip().upper())
    return value if isinstance(value, int) else logging.WARNING


def setup(level: str | int = "WARNING", verbose: int = 0) -> int:
    """Configure stderr logging once per process; returns the level of the ``rag`` loggers."""
    chosen = min(level_of(level), (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)])
    root = logging.getLogger()
    if not any(getattr(h, "_rag", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._rag = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(min(chosen, logging.WARNING))
    logging.getLogger("rag").setLevel(chosen)
    global _noisy_level
    _noisy_level = logging.DEBUG if verbose >= 2 else logging.WARNING
    for name in NOISY:
        tame(name)
    return chosen


_noisy_level = logging.WARNING


def tame(name: str) -> None:
    """Put a chatty library's logger back at the configured level: some set their own on
    import (bm25s sets DEBUG), and we import them lazily, after ``setup``."""
    logging.getLogger(name).setLevel(_noisy_level)
