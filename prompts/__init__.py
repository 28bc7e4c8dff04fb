"""Prompt text files, installed as the ``rag.prompt_files`` package (see pyproject.toml)."""
