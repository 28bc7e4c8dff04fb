from __future__ import annotations

import logging

from typer.testing import CliRunner

from rag import logs
from rag.cli import app


def test_level_from_settings_or_verbosity():
    assert logs.setup("INFO") == logging.INFO and logging.getLogger("rag").level == logging.INFO
    assert logs.setup("WARNING", verbose=1) == logging.INFO
    assert logs.setup("error", verbose=2) == logging.DEBUG and logging.getLogger("chromadb").level == logging.DEBUG
    assert logs.setup("nonsense") == logging.WARNING and logging.getLogger("chromadb").level == logging.WARNING
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "_rag", False)]
    assert len(handlers) == 1  # set up many times, one handler


def test_the_cli_honours_rag_log_level(tmp_path):
    env = {"RAG_LOG_LEVEL": "INFO", "RAG_EMBED_BACKEND": "hashing", "RAG_LLM_BACKEND": "fake"}
    CliRunner().invoke(app, ["--data-dir", str(tmp_path / "d"), "info", "--json"], env=env)
    assert logging.getLogger("rag").level == logging.INFO
    CliRunner().invoke(app, ["--data-dir", str(tmp_path / "d"), "-vv", "info", "--json"], env={**env, "RAG_LOG_LEVEL": "ERROR"})
    assert logging.getLogger("rag").level == logging.DEBUG
    logs.setup()  # leave the default for the next tests
