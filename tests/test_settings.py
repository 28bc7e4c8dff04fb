"""`.env.example` documents every setting, and nothing else."""

from __future__ import annotations

import re

from rag.settings import Settings

from .conftest import ROOT


def test_env_example_mirrors_every_setting():
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*(RAG_[A-Z0-9_]+)=", text, re.M))
    expected = {f"RAG_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_every_setting_has_a_description():
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing
