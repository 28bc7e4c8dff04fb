"""Typed errors. The CLI turns each into one clean line; the API lets them propagate.

Every error that concerns user input names the file (or field) and the reason, so a
user can fix the input without reading a traceback.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class for every error this package raises on purpose."""


class ConfigError(RagError):
    """A setting is missing, contradictory or points at something unusable."""


class InputError(RagError):
    """User input (a path, a file, a record) cannot be used."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class StoreError(RagError):
    """The vector store cannot be opened or written."""


class EmbeddingError(RagError):
    """The embedding backend failed or returned something unusable."""


class LLMError(RagError):
    """The language model backend failed (not reachable, bad reply, overflow)."""
