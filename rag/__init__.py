"""Question answering over scientific paper abstracts, with citations."""

from . import offline  # noqa: F401  (must run before chromadb / tiktoken are used)
from .assistant import Assistant
from .errors import ConfigError, EmbeddingError, InputError, RagError, StoreError
from .models import Document, Hit, IngestReport, Rejection
from .retrieve.filters import SearchFilters
from .settings import Settings

__all__ = [
    "Assistant",
    "ConfigError",
    "Document",
    "EmbeddingError",
    "Hit",
    "IngestReport",
    "InputError",
    "RagError",
    "Rejection",
    "SearchFilters",
    "Settings",
    "StoreError",
]
__version__ = "0.1.0"
