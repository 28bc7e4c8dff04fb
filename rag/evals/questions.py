"""The held-out question set in ``rag/evals/questions.jsonl`` (package data, read
with ``importlib.resources`` so it ships in the wheel).

Each question has a ``split`` ('dev' for tuning, 'test' for reporting only), a
``kind`` (fact, paraphrase, multi, unanswerable, chat), the gold ``doc_id``s, the
``anchors`` (verbatim text of each gold abstract, used to re-check the ids) and the
facts a correct answer must contain.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from ..errors import InputError

DEFAULT_PATH: Traversable = resources.files(__package__) / "questions.jsonl"


class Question(BaseModel):
    id: str
    split: str
    kind: str
    question: str
    followup: str | None = None
    gold_doc_ids: list[str] = Field(default_factory=list)
    anchors: list[str] = Field(default_factory=list)
    facts: list[list[str]] = Field(default_factory=list)
    note: str | None = None

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


def load(path: str | os.PathLike | Traversable = DEFAULT_PATH, split: str | None = None) -> list[Question]:
    """Questions of ``split`` (None or 'all' for every one), from the packaged set
    unless ``path`` is given. A bad file or line is an InputError naming ``file:line``
    and the reason."""
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read the question file ({exc.__class__.__name__}: {exc})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(Question(**json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}", f"invalid JSON ({exc.msg})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"]) or "record"
            raise InputError(f"{path}:{lineno}", f"field {field}: {first['msg']}") from None
    return [q for q in rows if split in (None, "all", q.split)]
