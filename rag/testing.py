"""Fakes for tests and for users' own tests. Nothing here is used by default.

``HashingEmbedder`` maps words to hashed buckets: deterministic, instant, and
similar texts get similar vectors, which is enough to exercise the dense path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    model_id = "hashing-256"
    dim = 256

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return (out / norms).tolist()


class FakeLLM:
    """Scripted LLM: returns ``replies`` in order (the last one repeats), or calls
    ``reply(messages)``; streams word by word; records every prompt in ``calls``."""

    backend = "fake"
    model = "fake"

    def __init__(self, replies: Sequence[str] | None = None, reply=None, context_window: int = 4096) -> None:
        self.replies = list(replies or ["NOT IN SOURCES"])
        self.reply = reply
        self.context_window = context_window
        self.calls: list[list[dict]] = []

    def complete(self, messages, *, max_tokens: int = 256, stop=None):
        from .llm import Completion, Usage

        self.calls.append([dict(m) for m in messages])
        if self.reply is not None:
            text = self.reply(messages)
        else:
            text = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        tokens = re.findall(r"\S+\s*", text)
        prompt = sum(len(m["content"].split()) for m in messages)
        return Completion([*tokens, Usage(prompt, len(tokens))])

    @property
    def last_prompt(self) -> str:
        return "\n".join(m["content"] for m in self.calls[-1]) if self.calls else ""


class EchoLLM(FakeLLM):
    """A deterministic stand-in for a cooperative model: it answers with the source
    sentence sharing the most content words with the question (plus the best one
    from a second paper when that also matches), or says the sources lack the
    answer when nothing matches. Used by ``RAG_LLM_BACKEND=fake`` and by the eval's
    CI gate: it exercises retrieval, evidence selection, verification, citation
    numbering and abstention end to end without a real model."""

    model = "echo-evidence"

    def __init__(self, context_window: int = 4096) -> None:
        super().__init__(reply=self._echo, context_window=context_window)

    @staticmethod
    def _echo(messages) -> str:
        from .answer.text import content_words, sentences

        prompt = messages[-1]["content"]
        if prompt.startswith("Translate this question"):  # not a translator: gives the question back
            return prompt.rpartition("Question:")[2].split("\n")[0].strip()
        body, found, question = prompt.rpartition("\nQuestion:")
        if not found:  # not an answering prompt (a chat rewrite): repeat the last question
            last = re.findall(r"^Last question:\s*(.+)$", prompt, re.M)
            return last[-1] if last else prompt.strip().splitlines()[-1]
        wanted = content_words(question)
        best: list[tuple[int, int, str]] = []  # (shared words, -source index, sentence)
        for i, block in enumerate(b for b in body.split("\n\n") if b.strip()):
            for j, sent in enumerate(sentences(block)):
                if j == 0 and ": " in sent:  # "Title: first sentence" -> the sentence
                    sent = sent.rpartition(": ")[2]
                best.append((len(content_words(sent) & wanted), -i, sent))
        best.sort(reverse=True)
        if not best or best[0][0] == 0:
            return "NOT IN SOURCES"
        reply = [best[0][2]]
        other = next((b for b in best if b[1] != best[0][1] and b[0] >= 2), None)
        if other:
            reply.append(other[2])
        return " ".join(reply)
