"""Check each answer sentence against the sources and attach citations we can stand behind.

Support is lexical and strict on specifics:
* the share of the sentence's content words (stemmed, stopwords out) that the
  source contains, and
* every number and name (digits, acronyms, model names) must appear in the
  source it cites — the check that stops an invented "70.9 perplexity".

The model's own ``[n]`` markers are only hints: a hinted source is kept when it
supports the sentence, otherwise the sentence is re-attributed to the source that
does, or to two sources together, or removed. Markers are always rebuilt by us, so
an out-of-range or missing marker cannot reach the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations

from .evidence import Evidence
from .text import STOPWORDS, content_words, fold, key_tokens, mentions, stem_word, strip_markers


@dataclass
class Judged:
    text: str  # the sentence without markers
    sources: list[int] = field(default_factory=list)  # local source numbers; empty = removed
    support: float = 0.0
    reason: str | None = None


def _near(words: list[str], i: int, span: int) -> set[str]:
    return set(words[max(0, i - span) : i]) | set(words[i + 1 : i + 1 + span])


def number_grounded(sentence: str, source: str, number: str) -> bool:
    """A number counts as stated only where the source says it near some of the same
    words ("12 out of 26 games", not a "1" taken from "top-1" for "1 model").
    Single digits, easy to find by accident, need a close neighbour; longer numbers
    need a word of the sentence within a few words of them in the source."""
    s_words = re.findall(r"[\w.%×-]+", fold(sentence))
    src_words = re.findall(r"[\w.%×-]+", fold(source))
    short = len(number) == 1
    if short:
        s_ctx = {stem(w) for i, x in enumerate(s_words) if number in x for w in _near(s_words, i, 4)}
    else:
        s_ctx = {stem(w) for w in s_words}
    s_ctx.discard("")
    span = 6 if short else 10
    for i, w in enumerate(src_words):
        if mentions(w, number) and s_ctx & {stem(x) for x in _near(src_words, i, span)}:
            return True
    return False


def stem(word: str) -> str:
    word = word.strip(".,;:%()")
    return "" if not word or word in STOPWORDS or word[0].isdigit() else stem_word(word)


def score(sentence: str, source_text: str, question: str = "", paper_text: str | None = None) -> tuple[float, list[str]]:
    """Content-word overlap of ``sentence`` with ``source_text`` (what the model was
    shown) and the names/numbers it states that the source does not. A name the user
    wrote in the question may be repeated, but only about a paper that mentions it
    somewhere (``paper_text``: its full title and abstract): "TinyBERT was trained
    with X [1]" must not cite a paper that never mentions TinyBERT."""
    words = content_words(sentence)
    if not words:
        return 0.0, []
    overlap = len(words & content_words(source_text)) / len(words)
    paper_text = source_text if paper_text is None else paper_text
    missing = sorted(
        k for k in key_tokens(sentence)
        if not (question and mentions(question, k) and mentions(paper_text, k))
        and (not mentions(source_text, k) or (k[0].isdigit() and not number_grounded(sentence, source_text, k)))
    )
    return overlap, missing


def supporting_sentence(claim: str, sentences: list[str]) -> str:
    """The sentence of a source that supports ``claim`` best: the most shared content
    words, then the most shared names and numbers (ties: the earlier sentence)."""
    words, keys = content_words(claim), key_tokens(claim)
    return max(
        sentences,
        key=lambda s: (len(words & content_words(s)), sum(mentions(s, k) for k in keys), -sentences.index(s)),
    )


_NEGATION = re.compile(r"\b(not|never|neither|nor|cannot|unable|no longer|fail(s|ed)? to)\b|n't\b", re.I)
_CLAUSE = re.compile(r"[,;:()]|\s(?:but|while|whereas|although|though|yet)\s", re.I)
_BEATS = re.compile(
    r"\b(outperform(s|ed|ing)?|beat(s|ing)?|surpass(es|ed|ing)?|exceed(s|ed|ing)?|better than|superior to|improves? (up)?on)\b", re.I
)
_WORSE = re.compile(r"\b(underperform(s|ed|ing)?|worse than|inferior to|lags? behind|falls? short of)\b", re.I)


def _sides(sentence: str, verb: re.Match[str], span: int = 2) -> tuple[set[str], set[str]]:
    """The content words nearest the comparison on each side: what is compared."""
    def ordered(text: str) -> list[str]:
        return [w for w in (stem(x) for x in re.findall(r"[\w-]+", fold(text))) if w]

    return set(ordered(sentence[: verb.start()])[-span:]), set(ordered(sentence[verb.end() :])[:span])


def disagrees(claim: str, source_sentence: str) -> str | None:
    """Why a claim that shares its words with a source sentence says something else,
    or None: one of them is negated and the other is not, or a comparison is turned
    around ("A outperforms B" from "B outperforms A", or "A is worse than B" from
    "A outperforms B")."""
    # Negation is compared clause by clause: a claim may take one clause of a longer
    # sentence whose other clause is negated.
    # A claim that adds a negation contradicts a sentence with none; a claim without
    # one contradicts the negated clause it restates (half its words or more).
    words = content_words(claim)
    clause = max(_CLAUSE.split(source_sentence), key=lambda c: len(content_words(c) & words))
    if _NEGATION.search(claim):
        if not _NEGATION.search(source_sentence):
            return "negation differs from the source"
    elif _NEGATION.search(clause) and len(content_words(clause) & words) >= 0.5 * len(words):
        return "negation differs from the source"
    c_beats, s_beats = _BEATS.search(claim), _BEATS.search(source_sentence)
    c_worse, s_worse = _WORSE.search(claim), _WORSE.search(source_sentence)
    c_verb, s_verb = c_beats or c_worse, s_beats or s_worse
    if not (c_verb and s_verb):
        return None
    (c_left, c_right), (s_left, s_right) = _sides(claim, c_verb), _sides(source_sentence, s_verb)
    same = len(c_left & s_left) + len(c_right & s_right)
    crossed = len(c_left & s_right) + len(c_right & s_left)
    flipped = bool(c_worse) != bool(s_worse)  # "worse than" reads the other way round
    if (crossed > same) != flipped and (crossed != same):
        return "comparison reversed from the source"
    return None


def judge(raw_sentence: str, evidence: Evidence, threshold: float, question: str = "") -> Judged:
    text, hinted = strip_markers(raw_sentence)
    words = content_words(text)
    if not words:
        return Judged(text=text, reason="no content (citation markers only)")
    if question:
        new = words - content_words(question)
        if not new or (len(new) == 1 and not key_tokens(" ".join(new))):
            return Judged(text=text, reason="restates the question without answering it")
    sources = evidence.by_number()
    # Names and numbers the user wrote in the question may be repeated freely.
    context = question
    scored = {n: score(text, s.checkable, context, s.paper_text) for n, s in sources.items()}
    valid = {n: ov for n, (ov, missing) in scored.items() if ov >= threshold and not missing}
    hinted_valid = [n for n in dict.fromkeys(hinted) if n in valid]
    if hinted_valid:
        best = max(valid[n] for n in hinted_valid)
        keep = [n for n in hinted_valid if valid[n] >= best - 0.15]
        return Judged(text=text, sources=sorted(keep), support=round(best, 3))
    if valid:
        n = max(valid, key=lambda k: (valid[k], -k))
        return Judged(text=text, sources=[n], support=round(valid[n], 3))
    # Two papers together may support a sentence that joins them, but a result must
    # not travel from one paper to a name it does not belong to ("KNN-LM gets 8.9%
    # higher GLUE score" from a KNN-LM paper and a FlexiBERT paper): every name the
    # sentence states has to be in both.
    names = [k for k in key_tokens(text) if not k[0].isdigit()]
    for a, b in combinations(sorted(sources), 2):
        if any(not (mentions(sources[a].checkable, k) and mentions(sources[b].checkable, k)) for k in names):
            continue
        ov, missing = score(
            text, sources[a].checkable + " " + sources[b].checkable, context, sources[a].paper_text + " " + sources[b].paper_text
        )
        if ov >= threshold and not missing and min(scored[a][0], scored[b][0]) > 0:
            return Judged(text=text, sources=[a, b], support=round(ov, 3))
    if not sources:
        return Judged(text=text, reason="no sources")
    best_n = max(scored, key=lambda k: scored[k][0])
    best_ov, missing = scored[best_n]
    if missing:
        return Judged(text=text, support=round(best_ov, 3), reason=f"not in the sources: {', '.join(missing)}")
    return Judged(text=text, support=round(best_ov, 3), reason=f"not supported by the sources (best support {best_ov:.2f})")
