from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.ingest.files import discover, read_text

from ..helpers import ABSTRACT_A, write


def test_missing_path_names_the_path(tmp_path):
    with pytest.raises(InputError, match="nope.txt: no such file"):
        discover([tmp_path / "nope.txt"])


def test_directory_without_supported_files(tmp_path):
    write(tmp_path / "d" / "notes.md", "hello")
    with pytest.raises(InputError, match="holds no supported files"):
        discover([tmp_path / "d"])


def test_unsupported_file_given_directly(tmp_path):
    with pytest.raises(InputError, match="unsupported file type '.pdf'"):
        discover([write(tmp_path / "paper.pdf", "%PDF")])


def test_directory_walk_skips_other_files_and_hidden_ones(tmp_path):
    write(tmp_path / "d" / "a.txt", ABSTRACT_A)
    write(tmp_path / "d" / "README.md", "x")
    write(tmp_path / "d" / ".cache" / "b.txt", ABSTRACT_A)
    files, skipped = discover([tmp_path / "d", tmp_path / "d" / "a.txt"])
    assert [f.name for f in files] == ["a.txt"]
    assert skipped == [str(tmp_path / "d" / "README.md")]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"  \n\n ", "empty file (only whitespace)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
        (b"caf\xe9 au lait", "not UTF-8 text (invalid byte at offset 3)"),
    ],
)
def test_unreadable_files(tmp_path, content, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_text(path, max_mb=10)
    assert reason in str(info.value) and str(path) in str(info.value)


def test_file_over_size_limit(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * 2_000_000)
    with pytest.raises(InputError, match="over the 1 MB limit"):
        read_text(path, max_mb=1)


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff".encode() + ABSTRACT_A.encode())
    assert read_text(path, 10) == ABSTRACT_A
