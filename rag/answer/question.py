"""What a question asks for, read from its words: the kind of answer (a quantity, a
paper, several papers, a broad overview), what each part asks for, its focus words,
its language, the numbers it states; and whether a sentence falsely presents a line
of an abstract as a paper's title. Pure text analysis: nothing here reads the store
or calls a model."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .text import aspects, content_words, fold, stem_word

# The question asks for a quantity: an answer without any number does not answer it.
_QUANTITY = re.compile(
    r"\bhow (many|much)\b|\bby how\b|\bwhat (is the |was the |are the )?(percentage|percent|number|amount|count)\b"
    r"|\bwhat (is the |was the |are the )?(top-?\d+ |\w+ )?(accuracy|score|map|f1|bleu|rouge|perplexity|error rate|speed-?up|latency)\b",
    re.I,
)
# The question asks about several papers, or broadly about a topic: every relevant
# paper should be in the answer.
_SEVERAL = re.compile(
    r"\b(which|what|the) (papers|works|studies|approaches|methods|articles)\b|\bcompare\b|\bcompared\b|\beach (paper|approach|one|method)\b"
    r"|\bpapers (here|in the collection)\b|\bwhat do (the )?(papers|studies|works|authors)\b"
    r"|\bwhat are (the )?(main |common |different )?(ways|approaches|methods|techniques|limitations|challenges)\b"
    # broad questions: a short synthesis over the relevant papers
    r"|\bwhat (\w+ )?(approaches|methods|techniques|ways|solutions) (are there|exist)\b|\bhow (have|do|did) (people|researchers|authors)\b"
    r"|\bwhat do (the )?(papers|studies|works|authors) (find|say|show|report|conclude)\b"
    r"|\bhow can\b.{0,80}\bbe (made|improved|reduced|done)\b",
    re.I,
)
# The question looks for a paper ("Which paper...", "Is there work that..."): the
# answer names it by its title.
_PAPER = re.compile(
    r"\b(which|what)( \w+)? (paper|work|study|article)\b|\bis there (a |an |any )?(work|paper|study|method|tool|way|approach|research)\b"
    r"|\b(has|did|does) (any ?one|any ?body)\b|\bany (work|paper|study|research)\b|\ba paper (that|which|where|on)\b",
    re.I,
)


# "The paper that ... is <name>": a claim that <name> is a paper's title.
_TITLE_CLAIM = re.compile(
    r"^(the|one|a|this)( \w+)? (paper|work|study|thesis|article)\b.{0,300}?\b(is|are|titled|called|named)\s+(?P<name>.+)$", re.I
)


def false_title(sentence: str, titles: Iterable[str]) -> str | None:
    """The name a sentence gives as a paper's title when no source has that title (a
    small model passes a sentence of an abstract off as the title), else None."""
    m = _TITLE_CLAIM.match(sentence)
    if not m:
        return None
    name = m.group("name").strip().rstrip(".").strip("\"“”'")
    words = content_words(name)
    if len(name.split()) < 5 or not words:
        return None  # "is BERT", "is trained on ..." is short or a description: not a title claim
    if any(len(words & content_words(t)) >= 0.8 * len(words) for t in titles if t):
        return None
    return name


def asks_quantity(question: str) -> bool:
    return bool(_QUANTITY.search(question))


def asks_several(question: str) -> bool:
    return bool(_SEVERAL.search(question))


def asks_for_paper(question: str) -> bool:
    return bool(_PAPER.search(question)) and not asks_several(question)


_ASKED = re.compile(
    r"^\W*(?:[\w-]+\s+){0,2}?(?:what|which)\s+(?P<what>(?:[\w-]+\s+){0,4}?[\w-]+)\s+(?:is|are|was|were|did|does|do|has|have|had|can|could|would|will)\b"
    r"|^\W*(?:[\w-]+\s+){0,2}?how (?:many|much)\s+(?P<many>[\w-]+(?:\s+[\w-]+)?)",
    re.I,
)


def asked_terms(question: str) -> set[str]:
    """The (stemmed) words naming what each part of a question asks for: "learning
    rate", "batch size" in "What learning rate and batch size were used to train X?",
    "crowd workers" in "how many crowd workers took part?"; empty when unclear."""
    terms: set[str] = set()
    for part in aspects(question):
        if m := _ASKED.match(part):
            terms |= content_words(m.group("what") or m.group("many") or "") - _FRAME
    return terms


_LATIN_WORD = re.compile(r"[A-Za-z]+")
# English function words ("a", "in" left out: other languages share them).
_ENGLISH = frozenset(
    "the an of on for to and or is are was were what whats which how does do did can with from by that this than more "
    "it its be been there any they their about into when why who not has have had using use paper papers model models".split()
)


def looks_english(text: str) -> bool:
    """Cheap language check: English questions are mostly Latin letters and use
    English function words; names and numbers alone do not decide."""
    words = [w.lower() for w in _LATIN_WORD.findall(text)]
    latin = sum(len(w) for w in words)
    if latin < 0.6 * sum(not c.isspace() for c in text):
        return False
    return not words or len(words) < 3 or sum(w in _ENGLISH for w in words) / len(words) >= 0.08


_ENUMERATOR = re.compile(r"\(\d\)|\b\d\)")


def numbers_in(text: str) -> set[str]:
    """The numbers a text states, spelled-out small ones included ("three trillion");
    enumerators ("(1)") and compounds ("two-stage", "top-1") are not numbers."""
    return set(re.findall(r"(?<![\w-])\d+(?:[.,]\d+)*(?!-[a-z])", _ENUMERATOR.sub(" ", fold(text))))


# Words of a question that say what kind of answer is wanted, not what it is about.
_FRAME = frozenset(
    stem_word(w)
    for w in "which paper papers work works study studies anyone tried tool way approach method model models "
    "show shows find found look looks looking whether doe make makes made give gives get kind type".split()
)


def focus_terms(question: str) -> set[str]:
    """The (stemmed) content words a question is about: what an answer must cover."""
    return content_words(question) - _FRAME
