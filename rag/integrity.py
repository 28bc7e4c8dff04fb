"""File integrity checks for the model files we load, and the stamps that let a
verified cached file be trusted again after a mere ``stat``."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def read_stamp(stamp: Path) -> dict:
    try:
        seen = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    return seen if isinstance(seen, dict) else {}


def stamp_matches(target: Path, stamp: Path, digest: str) -> bool:
    """True when the stamp vouches for the file now at ``target`` (only a stat, no hashing)."""
    seen = read_stamp(stamp)
    try:
        st = target.stat()
    except OSError:
        return False
    return (
        seen.get("sha256") == digest and seen.get("size") == st.st_size and seen.get("mtime_ns") == st.st_mtime_ns
    )


def fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_readable(fd: int) -> None:
    """mkstemp makes 0600 files; cached models are not secret, and a cache dir may be shared."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o644)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a unique temp file beside ``path``, fsync it, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        make_readable(fd)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def write_stamp(target: Path, stamp: Path, digest: str) -> None:
    """Record that the file now at ``target`` is verified.

    Only verified files are ever renamed to ``target``, so whatever is there can be
    stamped. A racer may rename its own (equally valid) copy over it meanwhile; then
    the stamp is written again, so the last writer always leaves a stamp describing
    the file actually in place (a stale stamp would only cost a re-hash, never a bad load).
    """
    for _ in range(5):
        st = target.stat()
        write_atomic(stamp, json.dumps({"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}).encode())
        if file_identity(target.stat()) == file_identity(st):
            return
