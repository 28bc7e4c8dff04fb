"""BibTeX and arXiv fields are LaTeX source: decoded to Unicode text on import
(``M{\\"u}ller`` → ``Müller``, ``\\emph{x}`` → ``x``, ``$\\gamma$`` → ``γ``) with pylatexenc.

pylatexenc costs about 4 ms per abstract, which would make a BibTeX import several
times slower than JSONL. Most fields hold only what a reference manager escapes —
accents (``{\\"u}``, ``\\'e``, ``{\\c{c}}``, ``\\AA``), specials (``\\%``, ``\\&``,
``\\_``, ``\\{``), ``~`` and case-protecting braces — so those are decoded here with
a fixed table (accents as Unicode combining marks, then NFC), and pylatexenc is
called only for a field that still has a command or ``$`` after that. A bare ``%``
is text, not a comment that would swallow the rest of the line.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from pylatexenc.latex2text import LatexNodes2Text

_BARE_PERCENT = re.compile(r"(?<!\\)%")
_SPACES = re.compile(r"\s+")
# \"u  {\"u}  \"{u}  \'{\i}  \c{c}  \v c — an accent command on one letter.
_MARKS = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304", ".": "\u0307",
          "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "k": "\u0328", "r": "\u030a"}
_ACCENT = re.compile(r"\{?\\([\"'`^~=.]|[cvuHkr](?=[\s{]))\s*\{?\\?([A-Za-z])\}?\}?")
_LETTERS = {"AA": "Å", "aa": "å", "o": "ø", "O": "Ø", "ss": "ß", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "l": "ł", "L": "Ł",
            "i": "ı", "textbackslash": "\\", "textasciitilde": "~", "textasciicircum": "^", "textunderscore": "_"}
_LETTER = re.compile(r"\{?\\(" + "|".join(sorted(_LETTERS, key=len, reverse=True)) + r")(?![A-Za-z])(?:\{\})?\s?\}?")
_ESCAPED = re.compile(r"\\([%&_$#{}])")


@functools.cache
def _converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


def _simple(value: str) -> str | None:
    """``value`` decoded by the table, or None when it holds more than the table knows."""
    literal: list[str] = []  # decoded characters, kept out of the later steps as \x00n\x00

    def keep(char: str) -> str:
        literal.append(char)
        return f"\x00{len(literal) - 1}\x00"

    text = _ACCENT.sub(lambda m: keep(unicodedata.normalize("NFC", m.group(2) + _MARKS[m.group(1)])), value)
    text = _LETTER.sub(lambda m: keep(_LETTERS[m.group(1)]), text)
    text = _ESCAPED.sub(lambda m: keep(m.group(1)), text)
    if "\\" in text or "$" in text:
        return None
    text = text.replace("{", "").replace("}", "").replace("~", " ")
    text = re.sub("\x00(\\d+)\x00", lambda m: literal[int(m.group(1))], text)
    return unicodedata.normalize("NFC", text)


def latex_text(value: str) -> str:
    if "\\" not in value and "$" not in value:
        return _SPACES.sub(" ", value.replace("{", "").replace("}", "").replace("~", " ")).strip()
    simple = _simple(value)
    if simple is not None:
        return _SPACES.sub(" ", simple).strip()
    try:
        text = _converter().latex_to_text(_BARE_PERCENT.sub(r"\\%", value))
    except Exception:  # pylatexenc is lenient; if it still fails, the raw text beats no record
        return _SPACES.sub(" ", value).strip()
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text.replace("\xa0", " "))).strip()
