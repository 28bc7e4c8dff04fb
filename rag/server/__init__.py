"""Serving: the HTTP API and web chat page (``rag serve``)."""

from .app import create_app

__all__ = ["create_app"]
