from __future__ import annotations

import pytest

from rag import prompts
from rag.errors import ConfigError


def test_every_prompt_file_matches_the_keys_its_callers_supply():
    assert prompts.names() == set(prompts.EXPECTED_KEYS)
    for name, keys in prompts.EXPECTED_KEYS.items():
        assert prompts.placeholders(prompts.load(name)) == keys, name
        prompts.render(name, **{k: "x" for k in keys})


def test_prompts_are_package_resources():
    # Read through importlib.resources from the ``rag.prompt_files`` package, which
    # pyproject.toml maps to the top-level prompts/ directory.
    assert prompts.PROMPTS_PACKAGE == "rag.prompt_files"
    assert (prompts.PROMPTS_DIR / "answer_user.txt").is_file()
    with pytest.raises(ConfigError, match="not found"):
        prompts.load("no_such_prompt")


def test_render_refuses_missing_or_extra_keys():
    with pytest.raises(ConfigError, match="placeholders"):
        prompts.render("answer_user", question="q")
    with pytest.raises(ConfigError, match="placeholders"):
        prompts.render("answer_user", question="q", sources="s", extra="e")
