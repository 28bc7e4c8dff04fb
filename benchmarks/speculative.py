"""Speculative decoding of the embedded model (RAG_LLM_SPECULATIVE): answer time with and without it.

    .venv/bin/python benchmarks/speculative.py [--n 12] [--split dev]

Configurations (model x RAG_LLM_SPECULATIVE): 0.5B off, 0.5B ngram, 1.5B off,
1.5B ngram, 1.5B draft (the 0.5B model drafts). The 1.5B ones need its parts
(`make install-quality`) and are left out, with a note, when they are missing.

Each configuration is its own in-process llama.cpp server (``start_server`` caches by
configuration), all loaded and warmed up before timing. One ``Assistant`` over a store
ingested from data/corpus into a temporary data dir answers the first N questions of
the split that are not meant to be declined, with every configuration in turn
(``Assistant.with_llm``: same retrieval and prompts), the order rotating per question
so machine noise hits all alike. Per configuration: median answer time (``total_s``),
model time (``llm_s``), generation speed (completion tokens over the time after the
first token), llama.cpp's draft acceptance, and whether the model's text matches the
same model without speculation (at temperature 0 it should).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Assistant  # noqa: E402
from rag.errors import ConfigError  # noqa: E402
from rag.evals import questions as qset  # noqa: E402
from rag.llm import Completion  # noqa: E402
from rag.llm.embedded import embedded_llm  # noqa: E402

SMALL, LARGE = "qwen2.5-coder-0.5b-instruct-q4", "qwen2.5-coder-1.5b-instruct"
CONFIGS = {  # name: (model, speculative, baseline it must match)
    "0.5B off": (SMALL, "off", None),
    "0.5B ngram": (SMALL, "ngram", "0.5B off"),
    "1.5B off": (LARGE, "off", None),
    "1.5B ngram": (LARGE, "ngram", "1.5B off"),
    "1.5B draft-0.5B": (LARGE, "draft", "1.5B off"),
}


class Recorder:
    """The embedded LLM, keeping each call's Completion and llama.cpp's timings for it
    (its last stream chunk carries prompt_n, predicted_n, draft_n, draft_n_accepted)."""

    def __init__(self, llm) -> None:
        self.llm, self.backend, self.model, self.context_window = llm, llm.backend, llm.model, llm.context_window
        self.calls: list[dict] = []
        create = llm._client.chat.completions.create
        calls = self.calls

        def create_and_watch(**kw):
            stream, server = create(**kw), calls[-1]["server"]

            class Watched:  # what OpenAIChatLLM uses of the SDK's stream: `with` and iteration
                def __enter__(self):
                    stream.__enter__()
                    return self

                def __exit__(self, *exc):
                    return stream.__exit__(*exc)

                def __iter__(self):
                    for chunk in stream:
                        server.update((chunk.model_extra or {}).get("timings") or {})
                        yield chunk

            return Watched()

        llm._client.chat.completions.create = create_and_watch

    def complete(self, messages, *, max_tokens=256, stop=None) -> Completion:
        self.calls.append({"server": {}})
        self.calls[-1]["completion"] = completion = self.llm.complete(messages, max_tokens=max_tokens, stop=stop)
        return completion


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summary(rows: list[dict]) -> dict:
    asked = [r for r in rows if r["llm_s"] is not None]
    drafted = sum(r["draft_n"] for r in asked)
    compared = [r for r in asked if r["same_as_off"] is not None]
    return {
        "answers_with_model": len(asked),
        "total_s_p50": median([r["total_s"] for r in asked]),
        "llm_s_p50": median([r["llm_s"] for r in asked]),
        "first_token_s_p50": median([r["first_token_s"] for r in asked if r["first_token_s"] is not None]),
        "gen_tokens_per_s_p50": median([r["gen_tok_s"] for r in asked if r["gen_tok_s"] is not None]),
        "completion_tokens_total": sum(r["completion_tokens"] for r in asked),
        "draft_tokens": drafted,
        "draft_accepted": sum(r["draft_accepted"] for r in asked),
        "compared_with_off": len(compared),
        "same_as_off": sum(r["same_as_off"] for r in compared),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=12, help="questions (12: about 6 minutes on 2 idle cores)")
    p.add_argument("--split", default="dev")
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of: " + ", ".join(CONFIGS))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speculative.json")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = Assistant(data_dir=tmp)
        base.ingest([ROOT / "data" / "corpus"])
        llms: dict[str, Recorder] = {}
        skipped = {}
        for name in args.configs.split(","):
            model, speculative, _ = CONFIGS[name]
            started = time.perf_counter()
            try:
                llms[name] = Recorder(embedded_llm(base.settings.model_copy(update={"llm_model": model, "llm_speculative": speculative})))
            except ConfigError as exc:  # e.g. the 1.5B parts are not installed
                skipped[name] = str(exc)
                print(f"skipped {name}: {exc}", flush=True)
                continue
            base.with_llm(llms[name]).ask("warm up: what is TinyBERT?")
            print(f"{name}: loaded and warmed up in {time.perf_counter() - started:.1f}s", flush=True)

        qs = [q for q in qset.load(split=args.split) if q.kind != "unanswerable"][: args.n]
        names = list(llms)
        rows: dict[str, list[dict]] = {name: [] for name in names}
        for i, q in enumerate(qs):
            order = names[i % len(names):] + names[: i % len(names)]  # rotate who goes first
            for name in order:
                rec = llms[name]
                del rec.calls[:]
                ans = base.with_llm(rec).ask(q.question)
                texts = [c["completion"].text for c in rec.calls]
                last = rec.calls[-1]["completion"] if rec.calls else None  # the answer (a translation comes first)
                decode_s = last.total_s - last.first_token_s if last and last.first_token_s is not None else None
                rows[name].append({
                    "id": q.id,
                    "total_s": ans.timings.get("total_s"),
                    "llm_s": ans.timings.get("llm_s"),
                    "first_token_s": ans.timings.get("first_token_s"),
                    "completion_tokens": ans.completion_tokens,
                    "gen_tok_s": round((ans.completion_tokens - 1) / decode_s, 2) if decode_s and ans.completion_tokens > 1 else None,
                    "draft_n": sum(c["server"].get("draft_n", 0) for c in rec.calls),
                    "draft_accepted": sum(c["server"].get("draft_n_accepted", 0) for c in rec.calls),
                    "model_texts": texts,
                    "answer": ans.text,
                })
            print(f"{q.id} " + "  ".join(f"{n} {rows[n][-1]['total_s']:.1f}s" for n in names), flush=True)

    for name in names:
        off = CONFIGS[name][2]
        for j, row in enumerate(rows[name]):
            compared = off in rows and row["model_texts"] and rows[off][j]["model_texts"]
            row["same_as_off"] = row["model_texts"] == rows[off][j]["model_texts"] if compared else None
    result = {
        "questions": len(qs), "split": args.split, "threads": base.settings.llm_threads,
        "max_tokens": base.settings.answer_max_tokens, "temperature": base.settings.llm_temperature,
        "configs": {name: summary(rows[name]) for name in names}, "skipped": skipped, "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{len(qs)} {args.split} questions, {base.settings.llm_threads} threads, temperature {base.settings.llm_temperature}\n")
    print("| configuration | answers via model | median total s | median LLM s | median gen tok/s | drafts accepted | same text as off |")
    print("|---|---|---|---|---|---|---|")
    for name, s in result["configs"].items():
        accepted = f"{s['draft_accepted']}/{s['draft_tokens']}" if s["draft_tokens"] else "-"
        same = f"{s['same_as_off']}/{s['compared_with_off']}" if s["compared_with_off"] else "-"
        cells = [name, s["answers_with_model"], s["total_s_p50"], s["llm_s_p50"], s["gen_tokens_per_s_p50"], accepted, same]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
