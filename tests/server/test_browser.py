"""The chat page in a real browser: Debian's headless Chromium driven by Playwright,
against a real uvicorn server on loopback with the echo model.

Skipped where no Chromium is installed, unless RAG_REQUIRE_BROWSER=1 (set by
.ci/run, which installs Debian's chromium), so CI cannot skip it silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from rag.server import create_app

CHROMIUM = os.environ.get("RAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

if not CHROMIUM:
    if os.environ.get("RAG_REQUIRE_BROWSER") == "1":
        raise RuntimeError("RAG_REQUIRE_BROWSER=1 but no chromium binary found (apt-get install chromium)")
    pytest.skip("no Chromium installed (Debian package 'chromium')", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base_url(served):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(base_url):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(base_url + "/")
        yield page
        browser.close()


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
