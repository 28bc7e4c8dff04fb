from __future__ import annotations

import pytest

from rag import prompts
from rag.errors import ConfigError


def test_every_prompt_file_matches_the_keys_its_callers_supply():
    files = {p.stem for p in prompts.PROMPTS_DIR.glob("*.txt")}
    assert files == set(prompts.EXPECTED_KEYS)
    for name, keys in prompts.EXPECTED_KEYS.items():
        assert prompts.placeholders(prompts.load(name)) == keys, name
        prompts.render(name, **{k: "x" for k in keys})


def test_render_refuses_missing_or_extra_keys():
    with pytest.raises(ConfigError, match="placeholders"):
        prompts.render("answer_user", question="q")
    with pytest.raises(ConfigError, match="placeholders"):
        prompts.render("answer_user", question="q", sources="s", extra="e")
