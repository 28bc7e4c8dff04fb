"""Sentence splitting and the word-level features support checks rely on."""

from __future__ import annotations

import functools
import os
import re
import unicodedata

import Stemmer

_STEMMER = Stemmer.Stemmer("english")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]*|\d+(?:[.,]\d+)*")
_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Words that carry no claim of their own.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just more most my myself no nor not now
    of off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves paper papers work
    study studies propose proposed show shows shown present presents approach method methods based using use used
    new novel also however well results result""".split()
)


@functools.lru_cache(maxsize=1)
def _punkt():
    """nltk's Punkt (data shipped inside llama-index-core, so no download), taught the
    abbreviations that abstracts use mid-sentence."""
    import llama_index.core
    import nltk
    from nltk.tokenize import PunktTokenizer

    cache = os.path.join(os.path.dirname(llama_index.core.__file__), "_static", "nltk_cache")
    if cache not in nltk.data.path:
        nltk.data.path.insert(0, cache)
    tokenizer = PunktTokenizer("english")
    tokenizer._params.abbrev_types.update(
        {"e.g", "i.e", "vs", "fig", "figs", "al", "eq", "eqs", "cf", "etc", "approx", "resp", "sec", "tab", "no"}
    )
    return tokenizer


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _punkt().tokenize(text) if s.strip()]


def strip_markers(sentence: str) -> tuple[str, list[int]]:
    """Remove ``[n]`` / ``[1, 2]`` markers; return the bare sentence and the numbers."""
    numbers: list[int] = []
    for m in _MARKERS.finditer(sentence):
        numbers.extend(int(x) for x in re.split(r"[,;]", m.group(1)))
    bare = _MARKERS.sub("", sentence).strip()
    bare = re.sub(r"\s+([.,;:!?])", r"\1", bare)
    return bare, numbers


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")


def fold(text: str) -> str:
    """Case-fold, unify "×"/"x", and spell small numbers as digits ("three" -> "3"),
    so a model writing "3 trillion" for "three trillion" is checked fairly."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("×", "x")
    return _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(1)], folded)


def stem_word(word: str) -> str:
    """The English Snowball stem of one (case-folded) word."""
    return _STEMMER.stemWord(word)


def content_words(text: str) -> set[str]:
    return {stem_word(w) for w in _WORD.findall(fold(text)) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())}


def key_tokens(sentence: str) -> set[str]:
    """Numbers and names: tokens a sentence may only state if its source states them.

    Numbers (with their decimals), and words with a digit or an inner capital
    (acronyms, model names like TinyBERT or GPT-4). Capitalised ordinary words are
    left out: sentence-initial words and common nouns would make the check fire
    on paraphrase.
    """
    keys = set(_NUMBER.findall(sentence))
    # Tokens may start with a digit ("2DMSE", "3D"), but not inside a decimal ("7.5x").
    for word in re.findall(r"(?<![\w.])[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9]", sentence):
        if not any(c.isalpha() for c in word):
            continue
        core = word.rstrip("s") if word.endswith("s") and word[:-1].isupper() else word
        if any(c.isdigit() for c in core) or sum(c.isupper() for c in core[1:]) >= 1:
            keys.add(core)
    return {fold(k) for k in keys}


def mentions(source: str, token: str) -> bool:
    """Whether ``token`` appears in ``source`` as a whole token (case-insensitive)."""
    if token[0].isdigit():  # 7.5 matches "7.5x" and "7.5%" but not "17.5" or "7.55"
        pattern = rf"(?<![\d.]){re.escape(token)}(?!\d|[.,]\d)"
    else:
        pattern = rf"(?<![\w]){re.escape(token)}(?![\w])"
    return re.search(pattern, fold(source)) is not None


def question_names(question: str) -> list[str]:
    """The names a question states (see ``key_tokens``), numbers left out."""
    return [k for k in key_tokens(question) if len(k) >= 3 and not k[0].isdigit()]


_PART = re.compile(
    r"\?\s+|;\s+|,?\s+and\s+(?=(?:what|how|which|who|when|where|why|whether|on which|in which|by how|does|do|did|is|are|was|were)\b)",
    re.I,
)


def aspects(question: str) -> list[str]:
    """The parts a question asks about ("How big is X, and by how much does it beat Y?"
    has two); a one-part question is its own only part."""
    parts = [p for p in _PART.split(question) if p and len(p.split()) >= 3]
    return parts or [question]
