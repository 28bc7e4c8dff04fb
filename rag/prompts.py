"""Prompts are text files in ``prompts/``, loaded by name and filled with ``str.format``.

The ``prompts/`` directory is installed as the package ``rag.prompt_files`` (see
``[tool.setuptools]`` in pyproject.toml), so the files are read with
``importlib.resources`` and ship in the wheel as well as in an editable install.

``render`` refuses a missing or an unexpected key, so a prompt and its caller
cannot drift apart silently.
"""

from __future__ import annotations

import functools
import string
from importlib import resources
from importlib.resources.abc import Traversable

from .errors import ConfigError

PROMPTS_PACKAGE = f"{__package__}.prompt_files"
PROMPTS_DIR: Traversable = resources.files(PROMPTS_PACKAGE)

#: Every prompt and the keys its callers supply; a test checks the files against it.
EXPECTED_KEYS: dict[str, set[str]] = {
    "answer_system": set(),
    "answer_user": {"sources", "question"},
    "rewrite": {"history", "question"},
    "summary_system": set(),
    "summary_user": {"sources", "topic"},
    "translate": {"question"},
}


def names() -> set[str]:
    """The names of every prompt file shipped with the package."""
    return {p.name[: -len(".txt")] for p in PROMPTS_DIR.iterdir() if p.is_file() and p.name.endswith(".txt")}


@functools.cache
def load(name: str) -> str:
    path = PROMPTS_DIR / f"{name}.txt"
    try:
        return path.read_text(encoding="utf-8").strip("\n")
    except (OSError, KeyError):
        raise ConfigError(f"{path}: prompt {name!r} not found") from None


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def render(name: str, **values: object) -> str:
    template = load(name)
    expected = placeholders(template)
    if expected != set(values):
        raise ConfigError(
            f"prompt {name!r}: placeholders {sorted(expected)} but got keys {sorted(values)}"
        )
    return template.format(**values)
