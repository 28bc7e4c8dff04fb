"""Keep a long-running server's memory near its resting size (glibc only; a no-op elsewhere).

Python's allocator and the native libraries under it (onnxruntime, Chroma's Rust
core, the tokenizers) allocate through glibc's malloc, which gives every thread that
allocates its own arena, up to eight per core, and keeps what was freed in an arena
for reuse instead of returning it. A server answers from a pool of up to 40 worker
threads, so after a burst of requests each arena holds its own high-water mark:
measured with ``benchmarks/load.py``, the echo-model server grew from 401 MB to
631 MB under load and stayed there. Two arenas (what ``MALLOC_ARENA_MAX=2`` sets,
the usual advice for threaded Python servers) and a trim after each answer bring it
back; there is no Python-level API for either, hence ``ctypes``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter number


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # only glibc has it  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def limit_arenas(arenas: int = 2) -> bool:
    """At most ``arenas`` malloc arenas for threads created from now on."""
    if _LIBC is None:
        return False
    ok = bool(_LIBC.mallopt(M_ARENA_MAX, arenas))
    log.debug("malloc arenas limited to %d: %s", arenas, ok)
    return ok


def trim() -> None:
    """Return freed heap memory to the operating system (after an answer)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
