"""Run the question set through the real pipeline and write a run folder.

    from rag.evals import run
    result = run(split="dev", backend="fake", limit=20)
    result.folder                                  # the run folder it wrote
    result.summary["metrics"]["correctness"]       # {"value": ..., "ci": [lo, hi], "n": ...}

Each question gets a fresh conversation (a ``chat`` question asks its first turn,
then scores the follow-up), its answer is scored (``scoring.score``), and the
prompts the model saw are recorded so the never-invalid check can prove every
citation points at evidence the model was actually given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..assistant import Assistant
from ..errors import InputError, LLMError
from ..llm import LLM, Completion
from ..settings import Settings
from . import questions as qset
from . import report, scoring
from .retrieval import MODES

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]  # (done, total, question id)


class PromptRecorder:
    """Wraps an LLM and keeps every prompt it is sent (the eval's evidence of what
    the model was given). Same protocol as the wrapped LLM."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.model = inner.model
        self.context_window = inner.context_window
        self.prompts: list[str] = []

    def complete(self, messages, *, max_tokens: int = 256, stop=None) -> Completion:
        self.prompts.append("\n".join(m["content"] for m in messages))
        return self.inner.complete(messages, max_tokens=max_tokens, stop=stop)


@dataclass
class RunResult:
    folder: Path
    summary: dict
    records: list[dict]


def run(
    split: str = "dev",
    backend: str | None = None,
    limit: int | None = None,
    *,
    out_dir: str | Path | None = None,
    assistant: Assistant | None = None,
    settings: Settings | None = None,
    questions_path: str | Path | None = None,
    progress: ProgressFn | None = None,
    retrieval: bool = True,
) -> RunResult:
    """Answer and score every question of ``split`` ('dev', 'test' or 'all') and
    write the run folder (``out_dir``, default ``<data_dir>/eval-runs/<run id>``).

    ``backend`` overrides the LLM backend of ``settings`` ('embedded', 'openai',
    'fake'); pass ``assistant`` to evaluate an already-built pipeline instead.
    """
    if split not in ("dev", "test", "all"):
        raise InputError("split", f"must be dev, test or all, got {split!r}")
    if limit is not None and limit < 1:
        raise InputError("limit", f"must be at least 1, got {limit}")
    if assistant is None:
        settings = settings or Settings()
        if backend:
            settings = settings.model_copy(update={"llm_backend": backend})
        assistant = Assistant(settings)
    elif backend and backend != assistant.settings.llm_backend:
        raise InputError("backend", "give either a backend or a built assistant, not both")
    path = Path(questions_path) if questions_path else qset.DEFAULT_PATH
    qs = qset.load(path, split=split)
    if limit:
        qs = qs[:limit]
    if not qs:
        raise InputError(str(path), f"no questions in split {split!r}")
    stored = assistant.store.stored_docs()
    _check_gold_in_store(assistant, stored, qs)

    recorder = PromptRecorder(assistant.llm)
    bot = assistant.with_llm(recorder)
    started = dt.datetime.now(dt.UTC)
    records = []
    for i, q in enumerate(qs):
        records.append(_run_one(bot, recorder, q, retrieval))
        if progress:
            progress(i + 1, len(qs), q.id)

    s = assistant.settings
    run_id = f"{started.strftime('%Y%m%d-%H%M%S')}-{split}-{recorder.backend}"
    folder = Path(out_dir) if out_dir else s.data_dir / "eval-runs" / run_id
    summary = {
        "run_id": run_id,
        "created": started.isoformat(timespec="seconds"),
        "split": split,
        "limit": limit,
        "questions": len(records),
        "questions_file": {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
        "backend": recorder.backend,
        "model": recorder.model,
        "embed_model": assistant.embedder.model_id,
        "corpus": corpus_fingerprint(stored),
        "collection": s.collection_name,
        "git_commit": git_commit(),
        "version": __version__,
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": redacted_settings(s),
        "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "metrics": scoring.aggregate(records),
        "by_kind": scoring.by_kind(records),
    }
    summary["targets"] = scoring.target_status(summary)
    report.write_run(folder, records, summary)
    log.info("eval run written to %s", folder)
    return RunResult(folder=folder, summary=summary, records=records)


def _run_one(bot: Assistant, recorder: PromptRecorder, q: qset.Question, with_retrieval: bool) -> dict:
    conv = bot.conversation()
    turns = []
    error = None
    answer = None
    t0 = time.perf_counter()
    try:
        if q.kind == "chat" and q.followup:
            first = conv.ask(q.question)
            turns.append({"question": q.question, "answer": first.text, "citations": [c.doc_id for c in first.citations]})
            asked = q.followup
        else:
            asked = q.question
        mark = len(recorder.prompts)
        t0 = time.perf_counter()
        answer = conv.ask(asked)
        seconds = time.perf_counter() - t0
        prompt_text = "\n".join(recorder.prompts[mark:])
    except LLMError as exc:  # one failed answer is scored as wrong, not dropped from the run
        seconds = time.perf_counter() - t0
        prompt_text = ""
        error = str(exc)
        log.warning("%s: %s", q.id, exc)
    s = bot.settings
    record = {
        "id": q.id,
        "split": q.split,
        "kind": q.kind,
        "question": q.question,
        "followup": q.followup,
        "gold": q.gold_doc_ids,
        "facts": q.facts,
        "earlier_turns": turns,
        "answer": answer.text if answer else None,
        "abstained": answer.abstained if answer else False,
        "abstain_reason": answer.abstain_reason if answer else None,
        "extractive": answer.extractive if answer else False,
        "standalone_question": answer.standalone_question if answer else None,
        "citations": [c.model_dump(include={"n", "doc_id", "title", "year", "quote", "quotes"}) for c in answer.citations]
        if answer
        else [],
        "removed": [r.model_dump() for r in answer.removed] if answer else [],
        "support": answer.support if answer else [],
        "relevance": answer.relevance if answer else None,
        "timings": {**(answer.timings if answer else {}), "seconds": round(seconds, 4)},
        "prompt_tokens": answer.prompt_tokens if answer else 0,
        "completion_tokens": answer.completion_tokens if answer else 0,
        "error": error,
        "scores": scoring.score(q, answer, prompt_text, bot.document, s.support_threshold),
    }
    if with_retrieval and q.gold_doc_ids:
        retrieval: dict[str, dict] = {}
        for mode in MODES:
            ranked = [h.doc_id for h in bot.search(q.question, k=10, mode=mode)]
            retrieval[mode] = {"ranked": ranked, "scores": scoring.retrieval_scores(ranked, q.gold_doc_ids)}
        record["retrieval"] = retrieval
    return record


def _check_gold_in_store(assistant: Assistant, stored: Iterable[str], qs: list[qset.Question]) -> None:
    missing = sorted({d for q in qs for d in q.gold_doc_ids if d not in stored})
    if missing:
        raise InputError(
            "store",
            f"{len(missing)} gold documents of the question set are not in the store "
            f"(collection {assistant.settings.collection_name}), e.g. {missing[0]}; ingest the bundled corpus first: "
            "rag ingest data/corpus",
        )


def corpus_fingerprint(stored: Iterable[str]) -> dict:
    """SHA-256 over the sorted ids of the stored documents. Ids are content hashes
    of the abstracts, so this names exactly what was searched: two runs over
    different data are never compared unawares."""
    ids = sorted(stored)
    return {"documents": len(ids), "sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest()}


def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def redacted_settings(settings: Settings) -> dict:
    data = settings.model_dump(mode="json")
    for key in list(data):
        if "key" in key and data[key]:
            data[key] = "***"
    return data
