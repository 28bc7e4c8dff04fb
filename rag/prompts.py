"""Prompts are text files in ``prompts/``, loaded by name and filled with ``str.format``.

``render`` refuses a missing or an unexpected key, so a prompt and its caller
cannot drift apart silently.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

from .errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"

#: Every prompt and the keys its callers supply; a test checks the files against it.
EXPECTED_KEYS: dict[str, set[str]] = {
    "answer_system": set(),
    "answer_user": {"sources", "question"},
    "rewrite": {"history", "question"},
    "summary_system": set(),
    "summary_user": {"sources", "topic"},
}


@functools.lru_cache(maxsize=None)
def load(name: str) -> str:
    path = PROMPTS_DIR / f"{name}.txt"
    try:
        return path.read_text(encoding="utf-8").strip("\n")
    except OSError:
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
