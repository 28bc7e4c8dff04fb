"""Keep third-party libraries from reaching the network at run time.

* tiktoken downloads its BPE files on first use. llama-index-core ships
  ``cl100k_base`` in its package data and points ``TIKTOKEN_CACHE_DIR`` there only
  around its own calls; we do the same for ours, so no tiktoken call of this
  package ever needs the network.
* Chroma's anonymous telemetry is switched off (also passed to every client).
* Hugging Face libraries, if something imports them, are told to stay offline.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_env_lock = threading.Lock()


def tiktoken_cache_dir() -> Path:
    import llama_index.core

    return Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"


@functools.lru_cache(maxsize=4)
def get_encoding(name: str = "cl100k_base"):
    """A tiktoken encoding loaded from the cache llama-index ships, never downloaded."""
    import tiktoken

    with _env_lock:
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(tiktoken_cache_dir())
        try:
            return tiktoken.get_encoding(name)
        finally:
            if previous is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = previous


def count_tokens(text: str) -> int:
    return len(get_encoding().encode(text, disallowed_special=()))
