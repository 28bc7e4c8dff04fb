"""The chat page in a real browser: Debian's headless Chromium driven by Playwright,
against a real uvicorn server on loopback with the echo model, under the server's
Content-Security-Policy (every page records violations; each test asserts none).

Skipped where no Chromium is installed, unless RAG_REQUIRE_BROWSER=1 (set by
.ci/run, which installs Debian's chromium), so CI cannot skip it silently.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pydantic import SecretStr

from rag import Assistant, Settings
from rag.server import create_app
from rag.testing import EchoLLM, HashingEmbedder

CHROMIUM = os.environ.get("RAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

if not CHROMIUM:
    if os.environ.get("RAG_REQUIRE_BROWSER") == "1":
        raise RuntimeError("RAG_REQUIRE_BROWSER=1 but no chromium binary found (apt-get install chromium)")
    pytest.skip("no Chromium installed (Debian package 'chromium')", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


# Content-Security-Policy and Trusted Types refusals, as the page itself sees them.
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`));
"""


@contextmanager
def serving(assistant: Assistant, **settings) -> Iterator[str]:
    """``create_app(assistant)`` under uvicorn on a free loopback port; yields its base URL."""
    import uvicorn

    if settings:
        assistant = Assistant(assistant.settings.model_copy(update=settings), embedder=assistant.embedder, llm=assistant.llm)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(assistant), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def base_url(served):
    with serving(served) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def new_page(browser):
    """A page in a fresh context (its own cookies) that records CSP violations and console errors."""
    page = browser.new_context().new_page()
    page.add_init_script(WATCH_CSP)
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    return page


def assert_no_policy_violations(page) -> None:
    assert page.evaluate("window.__violations") == []
    refused = [m for m in page.console_errors if "Content Security Policy" in m or "TrustedHTML" in m or "Trusted Type" in m]
    assert refused == []


@pytest.fixture(scope="module")
def page(browser, base_url):
    page = new_page(browser)
    response = page.goto(base_url + "/")
    assert "default-src 'self'" in response.headers["content-security-policy"]  # the page runs under the CSP
    yield page


def ask(page, question: str, nth: int):
    page.fill("#question", question)
    page.click("#send")
    answer = page.locator(".msg.assistant").nth(nth)
    answer.locator(".meta").wait_for(timeout=30_000)  # the final answer event has arrived
    return answer


def test_question_streams_in_with_clickable_citations(page):
    answer = ask(page, "How much smaller and faster than BERT is TinyBERT at inference?", 0)
    assert "TinyBERT" in answer.locator(".text").inner_text()
    first = answer.locator(".cite").first
    assert first.inner_text() == "[1]"
    first.click()
    dialog = page.locator("#doc-dialog")
    dialog.wait_for(state="visible")
    assert page.locator("#doc-title").inner_text().startswith("[1]")
    assert "TinyBERT" in page.locator("#doc-abstract").inner_text()
    assert page.locator("#doc-abstract mark").count() >= 1  # the quoted evidence is highlighted
    page.click("#doc-close")
    dialog.wait_for(state="hidden")
    assert page.locator("#source-list li[data-n]").count() >= 1
    assert_no_policy_violations(page)


def test_follow_up_in_the_same_session_keeps_the_sources(page):
    before = page.locator("#source-list li[data-n]").count()
    answer = ask(page, "And how does it compare with other distilled models?", 1)
    assert answer.locator(".text").inner_text()
    assert page.locator(".msg.user").count() == 2
    assert page.locator("#source-list li[data-n]").count() >= before
    page.locator("#source-list li[data-n]").first.click()
    page.locator("#doc-dialog").wait_for(state="visible")
    assert page.locator("#doc-title").inner_text().startswith("[1]")
    page.click("#doc-close")
    page.click("#new-session")
    assert page.locator(".msg").count() == 0 and page.locator("#source-list li[data-n]").count() == 0
    assert_no_policy_violations(page)


DOLLARS = "The quoting study shows that the sequences $' and $` and $& survive unchanged in escaped dollar templates."
ABSTRACT = f"Prices in shell scripts are easy to mangle. {DOLLARS} Other tools rewrite $1 and $$ silently."


@pytest.fixture(scope="module")
def dollar_url(tmp_path_factory):
    """A corpus of two papers, one quoting JavaScript's replacement patterns ($', $`, $&)."""
    data = tmp_path_factory.mktemp("dollars")
    records = [
        {"title": "Dollar $& templates", "abstract": ABSTRACT, "year": 2021},
        {"title": "Molecules", "abstract": "Graph neural networks classify molecules with message passing layers.", "year": 2020},
    ]
    (data / "papers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    settings = Settings(_env_file=None, data_dir=data / "store", embed_backend="hashing", llm_backend="fake", abstain_threshold=0.2)
    a = Assistant(settings, embedder=HashingEmbedder(), llm=EchoLLM())
    a.ingest([data / "papers.jsonl"])
    with serving(a) as url:
        yield url


def test_the_citation_dialog_shows_dollar_patterns_as_written(browser, dollar_url):
    page = new_page(browser)
    page.goto(dollar_url + "/")
    answer = ask(page, "What does the quoting study show about the sequences in escaped dollar templates?", 0)
    assert DOLLARS.removesuffix(".") in answer.locator(".text").inner_text()
    answer.locator(".cite").first.click()
    page.locator("#doc-dialog").wait_for(state="visible")
    assert page.locator("#doc-title").inner_text() == "[1] Dollar $& templates"
    assert page.locator("#doc-abstract").inner_text() == ABSTRACT  # nothing inserted, nothing lost
    assert page.locator("#doc-abstract mark").all_inner_texts() == [DOLLARS]
    assert page.locator("#doc-abstract *").count() == 1  # text and one <mark>: no markup from the data
    assert_no_policy_violations(page)


def test_login_form_then_chat_without_the_key_in_any_address(browser, served):
    with serving(served, api_key=SecretStr("s3cret")) as url:
        page = new_page(browser)
        page.goto(url + "/")
        assert page.locator("#login-form").is_visible() and page.locator("#ask-form").count() == 0
        page.fill("#key", "guess")
        page.click("#login")
        page.locator(".login-error").wait_for()
        assert page.url == url + "/login"
        page.fill("#key", "s3cret")
        page.click("#login")
        page.locator("#ask-form").wait_for()
        assert page.url == url + "/"  # POST, then 303: the key is in no address and no history entry
        cookies = page.context.cookies()
        assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [("rag_api_key", True, "Strict")]
        answer = ask(page, "How much smaller and faster than BERT is TinyBERT at inference?", 0)
        assert "TinyBERT" in answer.locator(".text").inner_text()
        assert page.evaluate("document.cookie") == ""  # HttpOnly: out of the page's scripts' reach
        assert_no_policy_violations(page)
        page.goto(url + "/?key=s3cret")  # the retired address login: dropped from the address bar
        assert page.url == url + "/"
        page.context.close()
