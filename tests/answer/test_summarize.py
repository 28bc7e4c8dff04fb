from __future__ import annotations

import re

from rag.testing import FakeLLM

from .conftest import assert_well_cited


def test_summary_groups_papers_and_cites_every_claim(build):
    llm = FakeLLM(["Speculative decoding has been proposed as a solution for LLM inference acceleration. It also cures cancer."])
    ans = build(llm).summarize("speculative decoding", k=6)
    assert not ans.abstained
    assert 2 <= len(ans.citations) <= 6
    assert re.search(r"\(\d+ papers?\):", ans.text)  # group headings
    bullets = [line for line in ans.text.splitlines() if line.startswith("- ")]
    assert len(bullets) == len(ans.citations)
    assert any("cures cancer" in r.text for r in ans.removed)
    assert "cancer" not in ans.text
    for line in ans.text.splitlines():
        if line.strip() and not line.endswith(":"):
            assert re.search(r"\[\d+\]", line), line
    assert_well_cited(ans)


def test_summary_of_an_absent_topic_declines(build):
    ans = build(FakeLLM(["x"]), abstain_threshold=0.99).summarize("protein folding with cryo-EM")
    assert ans.abstained and not ans.citations
