"""The run folder: what a person reads and what a later run is compared against.

    questions.jsonl   one record per question: answer, citations, scores, timings
    summary.json      metrics with 95% CIs, targets, settings, corpus hash, commit
    report.md         the same as tables (headline, retrieval, per kind, per question)
    metrics.png       rate metrics with their CIs
    latency.png       latency and time-to-first-token histograms, support scores
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import InputError
from . import metrics, scoring

log = logging.getLogger(__name__)

HEADLINE = (
    ("correctness", "Answer correctness (answerable)"),
    ("abstained_unanswerable", "Unanswerable questions abstained"),
    ("wrongly_abstained", "Answerable questions wrongly abstained"),
    ("citation_precision", "Citation precision (gold or supporting)"),
    ("citation_precision_gold", "Citation precision (gold only)"),
    ("citation_recall", "Citation recall (gold cited)"),
    ("cited_sentence_share", "Sentences with a citation"),
    ("errored", "Questions that errored"),
    ("latency_p50_s", "Latency p50 (s)"),
    ("latency_p95_s", "Latency p95 (s)"),
    ("first_token_p50_s", "First model token p50 (s)"),
    ("first_token_p95_s", "First model token p95 (s)"),
    ("first_text_p50_s", "First verified text p50 (s)"),
    ("prompt_tokens_mean", "Prompt tokens per model call"),
    ("completion_tokens_mean", "Completion tokens per model call"),
    ("model_calls_share", "Questions that reached the model"),
)


def write_run(folder: Path, records: list[dict], summary: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Written to temporary names first and renamed: a crash never leaves a run
    # folder whose summary disagrees with its records.
    _atomic(folder / "questions.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    _atomic(folder / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    charts = write_charts(folder, records, summary)
    _atomic(folder / "report.md", markdown(summary, records, charts))


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def load_run(path: str | Path) -> tuple[dict, list[dict]]:
    """A run folder (or its summary.json) -> (summary, records)."""
    p = Path(path)
    folder = p.parent if p.name == "summary.json" else p
    summary_file = folder / "summary.json"
    if not summary_file.is_file():
        raise InputError(str(p), "not an eval run folder (no summary.json)")
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(summary_file), f"invalid JSON ({exc.msg} at line {exc.lineno})") from None
    records_file = folder / "questions.jsonl"
    records = []
    if records_file.is_file():
        records = [json.loads(line) for line in records_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return summary, records


# --- Markdown ---------------------------------------------------------------------------


def fmt(stat: dict | None, digits: int = 2) -> str:
    if not stat:
        return "–"
    if stat.get("n") == 0:
        return "– (n=0)"
    value = f"{stat['value']:.{digits}f}"
    if stat.get("ci"):
        lo, hi = stat["ci"]
        value += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return value


def markdown(summary: dict, records: list[dict], charts: list[str]) -> str:
    m = summary["metrics"]
    lines = [
        f"# Eval run {summary['run_id']}",
        "",
        f"- Split: **{summary['split']}**, {summary['questions']} questions"
        + (f" (limited to {summary['limit']})" if summary.get("limit") else ""),
        f"- Answering model: {summary['backend']} / {summary['model']}; embeddings: {summary['embed_model']}",
        f"- Code: {summary.get('git_commit') or 'unknown'} (version {summary.get('version')}); "
        f"corpus sha256 {summary['corpus']['sha256'][:12]} ({summary['corpus']['documents']} documents); "
        f"questions sha256 {summary['questions_file']['sha256'][:12]}",
        f"- Started {summary['created']}, took {summary['seconds']} s on {summary['machine']['cpus']} CPUs",
        "",
        "Values are means with 95% bootstrap confidence intervals (2,000 resamples, seeded); "
        "n is the number of questions a metric applies to. Scores are deterministic string "
        "and overlap checks; no model judges.",
        "",
        "## Headline",
        "",
        "| Metric | Value [95% CI] | n | Target |",
        "|---|---|---|---|",
    ]
    targets = summary.get("targets", {})
    for key, label in HEADLINE:
        stat = m.get(key)
        digits = 1 if key.endswith("tokens_mean") else 2
        lines.append(f"| {label} | {fmt(stat, digits)} | {stat['n'] if stat else 0} | {_target(targets.get(key))} |")
    inv = m["invalid_citations"]
    lines.append(f"| Invalid citations (never allowed) | {inv['value']} | {inv['n']} | {_target(targets.get('invalid_citations'))} |")
    sup = m["support"]
    lines += [
        "",
        f"Support score of kept sentences (n={sup['n']}): min {sup['min']:.2f}, p10 {sup['p10']:.2f}, "
        f"median {sup['p50']:.2f}, p90 {sup['p90']:.2f}.",
    ]
    if m.get("retrieval"):
        lines += [
            "",
            "## Retrieval (top 10 per question with gold papers)",
            "",
            "| Retriever | recall@5 | hit@5 | MRR@10 | nDCG@10 | n | recall@5 target |",
            "|---|---|---|---|---|---|---|",
        ]
        for mode, stats in m["retrieval"].items():
            cells = " | ".join(fmt(stats[name]) for name in scoring.RETRIEVAL_METRICS)
            target = _target(targets.get(f"retrieval.{mode}.recall@5"))
            lines.append(f"| {mode} | {cells} | {stats['recall@5']['n']} | {target} |")
    lines += [
        "",
        "## By kind",
        "",
        "| Kind | Questions | Correctness | Abstained (unanswerable) | Wrongly abstained | Citation precision | Citation recall "
        "| Latency p50 (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, stats in summary["by_kind"].items():
        names = ("correctness", "abstained_unanswerable", "wrongly_abstained", "citation_precision", "citation_recall")
        row = [fmt(stats.get(k)) for k in names]
        lines.append(f"| {kind} | {stats['questions']} | " + " | ".join(row) + f" | {fmt(stats['latency_p50_s'])} |")
    if charts:
        lines += ["", "## Charts", ""] + [f"![{c}]({c})" for c in charts]
    lines += [
        "",
        "## Questions",
        "",
        "| Id | Kind | Correct | Abstained | Cited (gold) | Seconds | Answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        sc = r["scores"]
        correct = "–" if sc["correctness"] is None else f"{sc['correctness']:.2f}"
        gold = set(r["gold"])
        cited = ", ".join(c["doc_id"][:8] + ("✓" if c["doc_id"] in gold else "") for c in r["citations"]) or "–"
        text = (r["error"] and f"ERROR: {r['error']}") or r["answer"] or ""
        text = text.replace("|", "\\|").replace("\n", " ")
        text = text if len(text) <= 160 else text[:157] + "..."
        lines.append(
            f"| {r['id']} | {r['kind']} | {correct} | {'yes' if r['abstained'] else 'no'} | {cited} | "
            f"{r['timings']['seconds']:.1f} | {text} |"
        )
    return "\n".join(lines) + "\n"


def _target(status: dict | None) -> str:
    if not status:
        return ""
    return f"{status['target']} ({'met' if status['met'] else 'missed'})"


# --- charts -----------------------------------------------------------------------------

RATE_BARS = (
    ("correctness", "correctness"),
    ("abstained_unanswerable", "unanswerable abstained"),
    ("wrongly_abstained", "wrongly abstained"),
    ("citation_precision", "citation precision"),
    ("citation_recall", "citation recall"),
    ("cited_sentence_share", "sentences cited"),
)


def write_charts(folder: Path, records: list[dict], summary: dict) -> list[str]:
    """PNG charts; skipped with a log line (never a failed run) if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed; the report has no charts")
        return []
    m = summary["metrics"]
    bars = [(label, m[key]) for key, label in RATE_BARS]
    for mode, stats in m.get("retrieval", {}).items():
        bars.append((f"{mode} recall@5", stats["recall@5"]))
    bars.append(("hybrid nDCG@10", m.get("retrieval", {}).get("hybrid", {}).get("ndcg@10", {"value": 0, "ci": [0, 0], "n": 0})))
    labels = [b[0] for b in bars]
    values = [b[1]["value"] for b in bars]
    errors = [[max(0.0, v - (b[1]["ci"] or [v, v])[0]) for v, b in zip(values, bars)],
              [max(0.0, (b[1]["ci"] or [v, v])[1] - v) for v, b in zip(values, bars)]]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(bars) + 1.2))
    ax.barh(labels, values, xerr=errors, color="#4c72b0", ecolor="#222", capsize=3)
    ax.set_xlim(0, 1.05)
    ax.invert_yaxis()
    ax.set_xlabel("share (bars: mean; whiskers: 95% bootstrap CI)")
    ax.set_title(f"{summary['split']} split, {summary['questions']} questions, {summary['backend']} / {summary['model']}")
    for y, v in enumerate(values):  # inside the bar's left end, clear of the whiskers
        ax.text(0.01, y, f"{v:.2f}", va="center", fontsize=8, color="white" if v > 0.07 else "black")
    fig.tight_layout()
    fig.savefig(folder / "metrics.png", dpi=110)
    plt.close(fig)

    latency = [r["timings"]["seconds"] for r in records]
    ttft = [r["timings"]["first_token_s"] for r in records if r["timings"].get("first_token_s") is not None]
    support = [s for r in records for s in r.get("support") or []]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].hist(latency, bins=20, color="#4c72b0")
    axes[0].set_title(f"answer latency (p50 {metrics.percentile(latency, 50):.2f} s)")
    axes[0].set_xlabel("seconds")
    axes[1].hist(ttft or [0], bins=20, color="#55a868")
    axes[1].set_title(f"first model token (p50 {metrics.percentile(ttft, 50):.2f} s)")
    axes[1].set_xlabel("seconds")
    axes[2].hist(support or [0], bins=20, range=(0, 1), color="#c44e52")
    axes[2].set_title("support of kept sentences")
    axes[2].set_xlabel("content-word support")
    axes[0].set_ylabel("questions")
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)
    return ["metrics.png", "latency.png"]


# --- comparing two runs -------------------------------------------------------------------

COMPARED = [key for key, _ in HEADLINE] + ["invalid_citations"]


def compare(path_a: str | Path, path_b: str | Path) -> dict:
    """Differences B − A: every headline and retrieval metric, a paired bootstrap CI
    of the correctness difference over the questions both runs answered, and the
    questions whose outcome changed. Warns when the runs used different data."""
    a, rec_a = load_run(path_a)
    b, rec_b = load_run(path_b)
    warnings = []
    if a["corpus"]["sha256"] != b["corpus"]["sha256"]:
        warnings.append("the runs used different corpora")
    if a["questions_file"]["sha256"] != b["questions_file"]["sha256"]:
        warnings.append("the runs used different question files")
    if a["split"] != b["split"]:
        warnings.append(f"different splits ({a['split']} vs {b['split']})")
    rows = []

    def add(name: str, sa: dict | None, sb: dict | None) -> None:
        if not sa or not sb:
            return
        overlap = None
        if sa.get("ci") and sb.get("ci"):
            overlap = not (sa["ci"][1] < sb["ci"][0] or sb["ci"][1] < sa["ci"][0])
        rows.append({"metric": name, "a": sa, "b": sb, "delta": round(sb["value"] - sa["value"], 4), "cis_overlap": overlap})

    for key in COMPARED:
        add(key, a["metrics"].get(key), b["metrics"].get(key))
    for mode in sorted(set(a["metrics"].get("retrieval", {})) & set(b["metrics"].get("retrieval", {}))):
        for name in scoring.RETRIEVAL_METRICS:
            add(f"retrieval.{mode}.{name}", a["metrics"]["retrieval"][mode][name], b["metrics"]["retrieval"][mode][name])
    for kind in sorted(set(a["by_kind"]) & set(b["by_kind"])):
        add(f"{kind}.correctness", a["by_kind"][kind].get("correctness"), b["by_kind"][kind].get("correctness"))

    by_id_a = {r["id"]: r for r in rec_a}
    by_id_b = {r["id"]: r for r in rec_b}
    common = [i for i in by_id_a if i in by_id_b]
    deltas = [
        by_id_b[i]["scores"]["correctness"] - by_id_a[i]["scores"]["correctness"]
        for i in common
        if by_id_a[i]["scores"]["correctness"] is not None and by_id_b[i]["scores"]["correctness"] is not None
    ]
    mean, lo, hi = metrics.bootstrap_ci(deltas)
    changed = []
    for i in common:
        ra, rb = by_id_a[i], by_id_b[i]
        ca, cb = ra["scores"]["correctness"], rb["scores"]["correctness"]
        if ca != cb or ra["abstained"] != rb["abstained"]:
            changed.append({
                "id": i, "kind": ra["kind"],
                "correctness": [ca, cb], "abstained": [ra["abstained"], rb["abstained"]],
            })
    return {
        "a": {"run_id": a["run_id"], "backend": a["backend"], "model": a["model"], "git_commit": a.get("git_commit")},
        "b": {"run_id": b["run_id"], "backend": b["backend"], "model": b["model"], "git_commit": b.get("git_commit")},
        "warnings": warnings,
        "metrics": rows,
        "paired_correctness_delta": {"value": round(mean, 4), "ci": [round(lo, 4), round(hi, 4)], "n": len(deltas)},
        "only_in_a": sorted(set(by_id_a) - set(by_id_b)),
        "only_in_b": sorted(set(by_id_b) - set(by_id_a)),
        "changed": changed,
    }
