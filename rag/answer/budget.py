"""Keep prompts inside the model's context window.

Token counts use tiktoken's cl100k_base (offline copy) with a safety margin,
since the local model's own tokenizer and chat template add a little on top.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import LLMError
from ..offline import count_tokens
from .evidence import Evidence

MARGIN = 1.15  # our count vs the model's tokenizer + chat template overhead
TEMPLATE_TOKENS = 32


def message_tokens(messages: list[dict]) -> int:
    return int(sum(count_tokens(m["content"]) + 4 for m in messages) * MARGIN) + TEMPLATE_TOKENS


def fit(
    evidence: Evidence,
    build: Callable[[Evidence], list[dict]],
    max_tokens: int,
    context_window: int,
) -> tuple[list[dict], Evidence]:
    """Drop the least relevant evidence sentences until prompt + answer fits."""
    while True:
        messages = build(evidence)
        if message_tokens(messages) + max_tokens <= context_window:
            return messages, evidence
        weakest = min(
            ((s.scores[i], s.n, i) for s in evidence.sources for i in range(len(s.sentences))),
            default=None,
        )
        if weakest is None or sum(len(s.sentences) for s in evidence.sources) <= 1:
            raise LLMError(
                f"prompt does not fit the {context_window}-token context window even with one evidence "
                "sentence; raise RAG_LLM_CONTEXT_WINDOW or shorten the question"
            )
        _, n, i = weakest
        source = next(s for s in evidence.sources if s.n == n)
        del source.sentences[i]
        del source.scores[i]
        if source.weights:
            del source.weights[i]
        evidence = Evidence([s for s in evidence.sources if s.sentences], evidence.relevance)
