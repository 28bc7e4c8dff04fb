"""The held-out question set in ``evals/questions.jsonl``.

Each question has a ``split`` ('dev' for tuning, 'test' for reporting only), a
``kind`` (fact, paraphrase, multi, unanswerable, chat), the gold ``doc_id``s, the
``anchors`` (verbatim text of each gold abstract, used to re-check the ids) and the
facts a correct answer must contain.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "evals" / "questions.jsonl"


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


def load(path: Path = DEFAULT_PATH, split: str | None = None) -> list[Question]:
    rows = [Question(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q in rows if split in (None, "all", q.split)]
