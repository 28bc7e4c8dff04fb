"""BibTeX and arXiv fields are LaTeX source: decoded to Unicode text on import
(``M{\\"u}ller`` → ``Müller``, ``\\emph{x}`` → ``x``, ``$\\gamma$`` → ``γ``) with pylatexenc.

A field without a backslash or ``$`` only loses its case-protecting braces and ``~``
(pylatexenc costs milliseconds per abstract, and most fields need nothing). A bare
``%`` is text, not a comment that would swallow the rest of the line.
"""

from __future__ import annotations

import functools
import re

from pylatexenc.latex2text import LatexNodes2Text

_BARE_PERCENT = re.compile(r"(?<!\\)%")
_SPACES = re.compile(r"\s+")


@functools.cache
def _converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


def latex_text(value: str) -> str:
    if "\\" not in value and "$" not in value:
        return _SPACES.sub(" ", value.replace("{", "").replace("}", "").replace("~", " ")).strip()
    try:
        text = _converter().latex_to_text(_BARE_PERCENT.sub(r"\\%", value))
    except Exception:  # pylatexenc is lenient; if it still fails, the raw text beats no record
        return _SPACES.sub(" ", value).strip()
    return _SPACES.sub(" ", text.replace("\xa0", " ")).strip()
