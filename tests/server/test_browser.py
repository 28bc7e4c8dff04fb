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
from pathlib import Path

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
        shot(page, "desktop-light-0-login")
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


# --- the page's behaviour: layout, streaming, citations, history, errors, export ------------

SCREENSHOTS = Path(__file__).parent / "screenshots"  # gitignored: looked at by people, not compared
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
QUESTION = "How does speculative decoding speed up LLM inference?"  # two papers cited, one with two quotes
DECLINED = "How many moons does Jupiter have?"  # no number in the sources: declined, with the closest papers


class SlowEcho(EchoLLM):
    """The echo model, each word after a pause (like a small local model), so an
    answer can be watched, photographed and stopped while it is written."""

    def __init__(self, pause: float = 0.07) -> None:
        super().__init__()
        self.pause = pause

    def complete(self, messages, *, max_tokens: int = 256, stop=None):
        from rag.llm import Completion

        pieces = list(super().complete(messages, max_tokens=max_tokens, stop=stop))

        def slow():
            for piece in pieces:
                if isinstance(piece, str):
                    time.sleep(self.pause)
                yield piece

        return Completion(slow())


@pytest.fixture(scope="module")
def slow_url(served):
    """The bundled corpus again, answered by the slow echo model."""
    slow = Assistant(served.settings, embedder=served.embedder, llm=SlowEcho())
    with serving(slow) as url:
        yield url


def fresh(browser, url: str, device: dict | None = None, **context):
    """A new context (own cookies and localStorage) with the CSP watch, at ``url``."""
    ctx = browser.new_context(**(device or DESKTOP), **context)
    page = ctx.new_page()
    page.add_init_script(WATCH_CSP)
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.goto(url + "/")
    return page


def answered(page, nth: int):
    answer = page.locator(".msg.assistant").nth(nth)
    answer.locator(".meta").wait_for(timeout=30_000)
    return answer


def no_horizontal_overflow(page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"horizontal overflow: {width} > {inner}"


def in_viewport(page, selector: str) -> bool:
    return page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
             return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth; }""",
        selector,
    )


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('button, textarea, input, a, summary, select')]
  .filter((e) => e.getClientRects().length)  // rendered
  .filter((e) => !(e.getAttribute('aria-label') || (e.labels && e.labels.length) || e.textContent.trim()))
  .map((e) => e.outerHTML.slice(0, 80))"""


def last_answer_json(page) -> dict:
    return page.evaluate("JSON.parse(localStorage.getItem('rag-abstracts.chat.v1')).turns.at(-1).answer")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_layout_and_screenshots(browser, slow_url, device, scheme):
    """The whole page at 390 and 1280 px, light and dark: no horizontal overflow at any
    step, the chat column usable on a phone, the dialog's title in view when it opens;
    a screenshot of each step goes to tests/server/screenshots/."""
    phone = device == "phone"
    page = fresh(browser, slow_url, PHONE if phone else DESKTOP)
    page.emulate_media(color_scheme=scheme)
    name = f"{device}-{scheme}"
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
    assert page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"
    no_horizontal_overflow(page)
    assert page.evaluate(UNNAMED_CONTROLS) == []
    shot(page, f"{name}-1-empty")

    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    answer = page.locator(".msg.assistant").first
    answer.locator(".text .cite").first.wait_for(timeout=30_000)  # the first verified sentence, answer still running
    writing = page.locator("#stop").is_visible()
    shot(page, f"{name}-2-answering")
    assert writing, "the answer finished before it could be photographed"
    no_horizontal_overflow(page)
    answered(page, 0)
    assert page.locator("#stop").is_hidden()
    assert page.evaluate("(h => h.scrollWidth <= h.clientWidth)(document.querySelector('h1'))"), "the title is cut"
    column = page.evaluate("document.getElementById('conversation').getBoundingClientRect().width")
    assert column >= (370 if phone else 800)  # the Sources panel no longer squeezes the chat
    no_horizontal_overflow(page)
    assert page.evaluate(UNNAMED_CONTROLS) == []
    shot(page, f"{name}-3-answered")

    cite = answer.locator(".cite").first
    if phone:  # a tap shows the quote; the popover's button opens the abstract
        cite.tap()
        page.locator("#cite-pop").wait_for(state="visible")
        assert page.locator("#cite-pop .pop-quote").inner_text().strip()
        assert in_viewport(page, "#cite-pop")
        shot(page, f"{name}-4-quote")
        page.locator("#cite-pop .pop-open").tap()
    else:
        cite.hover()
        page.locator("#cite-pop").wait_for(state="visible")
        shot(page, f"{name}-4-quote")
        cite.click()
    page.locator("#doc-dialog").wait_for(state="visible")
    page.locator("#doc-abstract mark").first.wait_for()
    assert in_viewport(page, "#doc-title")
    assert page.evaluate("document.getElementById('doc-body').scrollTop") == 0
    no_horizontal_overflow(page)
    shot(page, f"{name}-5-dialog")
    page.keyboard.press("Escape")
    page.locator("#doc-dialog").wait_for(state="hidden")

    if phone:  # Sources is a drawer
        assert page.locator("#sources").is_hidden()
        page.tap("#sources-toggle")
        page.locator("#sources").wait_for(state="visible")
        assert page.locator("#sources-toggle").get_attribute("aria-expanded") == "true"
        no_horizontal_overflow(page)
        shot(page, f"{name}-6-sources")
        page.keyboard.press("Escape")
        page.locator("#sources").wait_for(state="hidden")
    else:
        assert page.locator("#sources").is_visible() and page.locator("#sources-toggle").is_hidden()

    page.fill("#question", DECLINED + " " + "x" * 120)  # and a word longer than a phone is wide
    page.click("#send")
    declined = answered(page, 1)
    assert declined.locator(".closest-paper").count() >= 1
    no_horizontal_overflow(page)
    shot(page, f"{name}-7-decline")
    assert_no_policy_violations(page)
    assert page.console_errors == []  # nothing failed to load, nothing threw
    page.context.close()


ORDER = """() => {
  window.__order = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type !== 'childList' || !r.addedNodes.length) continue;
      const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (t.closest('.papers')) window.__order.push('papers');
      else if (t.closest('.text')) window.__order.push('sentence');
      else if (t.closest('.step')) window.__order.push('step:' + [...r.addedNodes].map((n) => n.textContent).join(''));
    }
  }).observe(document.getElementById('conversation'), { subtree: true, childList: true });
}"""


def sse(*events: tuple[str, dict]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


# Replaces the page's fetch of /chat with timed events (window.__script: [pause ms, event,
# data]...), so the contract's events arrive over time as a server would send them.
SCRIPTED_CHAT = """() => {
window.__script = null;
const realFetch = window.fetch;
window.fetch = function (input, init) {
  const url = typeof input === 'string' ? input : input.url;
  if (!window.__script || !url.endsWith('/chat')) return realFetch.call(this, input, init);
  const events = window.__script;
  const signal = init && init.signal;
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    async start(controller) {
      for (const [pause, name, data] of events) {
        await new Promise((resolve) => setTimeout(resolve, pause));
        if (signal && signal.aborted) return controller.error(new DOMException('aborted', 'AbortError'));
        controller.enqueue(encoder.encode(`event: ${name}\\ndata: ${JSON.stringify(data)}\\n\\n`));
      }
      controller.close();
    },
  });
  return Promise.resolve(new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } }));
};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_streaming_order_papers_then_steps_then_sentences(browser, base_url, served, device, scheme):
    """The contract's events, in its order and over time (the server's own are tested
    live below): the papers read come first, then one status line per step (with the
    queue position), then the sentences; an untitled paper is named by ``name``."""
    hits = served.search("speculative decoding LLM inference", k=2)
    papers = [
        {"doc_id": hits[0].doc_id, "title": "", "name": "Speculative decoding study (by its name)", "year": 2024, "source": hits[0].source, "n": 1},
        {"doc_id": hits[1].doc_id, "title": hits[1].title or "Second", "name": "x", "year": 2023, "source": hits[1].source, "n": 2},
    ]
    cites = [{**p, "quote": "Q.", "quotes": ["Q."], "authors": None} for p in papers]
    answer = {"question": QUESTION, "text": "One [1]. Two [2].", "citations": cites, "abstained": False, "backend": "fake",
              "model": "echo", "timings": {"total_s": 1.5}, "removed": [], "closest": []}
    script = [
        (0, "session", {"session_id": "scripted"}),
        (50, "queue", {"position": 2}),
        (300, "progress", {"step": "searching", "message": "Searching the abstracts…"}),
        (300, "progress", {"step": "reading", "message": "Reading 2 papers…", "papers": papers}),
        (200, "progress", {"step": "writing", "message": "Writing the answer…"}),
        (1200, "text", {"text": "One [1]. "}),
        (100, "progress", {"step": "checking", "message": "Checking each sentence…"}),
        (300, "text", {"text": "Two [2]. "}),
        (100, "answer", {"session_id": "scripted", "answer": answer, "references": cites}),
    ]
    page = fresh(browser, base_url, PHONE if device == "phone" else DESKTOP)
    page.emulate_media(color_scheme=scheme)
    page.evaluate(SCRIPTED_CHAT)
    page.evaluate("(s) => { window.__script = s; }", script)
    page.evaluate(ORDER)
    page.fill("#question", QUESTION)
    page.click("#send")
    msg = page.locator(".msg.assistant").first
    page.wait_for_function("() => document.querySelector('.msg.assistant .step').textContent === 'Writing the answer…'")
    assert msg.locator(".papers li").count() == 2 and msg.locator(".text").inner_text() == ""
    no_horizontal_overflow(page)
    shot(page, f"{device}-{scheme}-2-reading")
    msg = answered(page, 0)
    order = page.evaluate("window.__order")
    first_sentence = order.index("sentence")
    assert order.index("papers") < first_sentence
    steps = [o for o in order if o.startswith("step:")]
    assert "step:Waiting for the model: 2 answers ahead of yours…" in steps
    assert steps.index("step:Reading 2 papers…") > steps.index("step:Searching the abstracts…")
    assert order.index("step:Writing the answer…") < first_sentence
    titles = msg.locator(".papers li .paper").all_text_contents()  # folded: not rendered, still there
    assert titles == ["Speculative decoding study (by its name)", papers[1]["title"]]
    assert msg.locator(".papers summary").inner_text() == "Read 2 papers"  # folded once answered
    assert msg.locator(".step").is_hidden()
    assert msg.locator(".text").inner_text() == "One [1]. Two [2]."
    assert page.locator("#source-list li[data-n]").first.text_content() == "[1]Speculative decoding study (by its name) (2024)"
    # the Details toggle holds backend, model and seconds
    assert msg.locator("details.meta").get_attribute("open") is None
    msg.locator("details.meta summary").click()
    assert msg.locator("details.meta .numbers").inner_text() == "fake · echo · 1.5 s"
    assert_no_policy_violations(page)
    page.context.close()


def test_streaming_order_from_the_server(browser, slow_url):
    """The live server: the papers appear before the first sentence (once the server
    sends its ``progress`` events)."""
    page = fresh(browser, slow_url)
    page.evaluate(ORDER)
    page.fill("#question", QUESTION)
    page.click("#send")
    answered(page, 0)
    order = page.evaluate("window.__order")
    assert "sentence" in order
    assert_no_policy_violations(page)
    assert "papers" in order and order.index("papers") < order.index("sentence")


def test_the_highlight_is_exactly_the_citations_quotes(browser, base_url):
    page = fresh(browser, base_url)
    page.fill("#question", QUESTION)
    page.click("#send")
    msg = answered(page, 0)
    citations = last_answer_json(page)["citations"]
    assert len(citations) >= 2
    for c in citations:
        msg.locator(f".cite[data-n='{c['n']}']").first.click()
        page.locator("#doc-dialog").wait_for(state="visible")
        page.wait_for_function("(n) => document.getElementById('doc-title').textContent.startsWith(`[${n}]`)", arg=c["n"])
        abstract = page.locator("#doc-abstract").inner_text()
        marks = page.locator("#doc-abstract mark").all_inner_texts()
        assert sorted(marks, key=abstract.index) == sorted(c["quotes"], key=abstract.index)  # the quotes, nothing else
        source = c["source"].rsplit(":", 1)
        assert page.locator("#doc-source").inner_text().startswith(f"Source: {source[0]}, line {source[1]}")
        assert in_viewport(page, "#doc-title")
        page.click("#doc-close")
        page.locator("#doc-dialog").wait_for(state="hidden")
    assert_no_policy_violations(page)
    page.context.close()


def open_citation(page, cite, phone: bool) -> None:
    """A click opens the abstract; on a phone a tap shows the quote, whose button opens it."""
    if phone:
        cite.tap()
        page.locator("#cite-pop .pop-open").tap()
    else:
        cite.click()
    page.locator("#doc-dialog").wait_for(state="visible")


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_the_dialog_shows_authors_year_source_and_safe_links(browser, base_url, device):
    """What /documents adds (authors, venue, doi, arXiv id, url, also_in) is shown; links
    open in a new tab without the opener or a referrer; an address that is not http(s) is
    no link."""
    page = fresh(browser, base_url, PHONE if device == "phone" else DESKTOP)
    page.fill("#question", QUESTION)
    page.click("#send")
    msg = answered(page, 0)
    c = last_answer_json(page)["citations"][0]
    real = page.request.get(f"{base_url}/documents/{c['doc_id']}").json()
    extra = {"title": "", "name": "A paper known by its name", "authors": ["Ada Lovelace", "Alan Turing"], "year": 2021,
             "doi": "10.1234/abc.5", "url": "https://example.org/paper", "also_in": ["data/other.csv:7"],
             "arxiv_id": "2203.01234", "venue": "Journal of Things"}
    page.route(f"**/documents/{c['doc_id']}", lambda route: route.fulfill(json={**real, **extra}))
    open_citation(page, msg.locator(f".cite[data-n='{c['n']}']").first, device == "phone")
    page.wait_for_function("() => document.getElementById('doc-links').children.length === 3")
    shot(page, f"dialog-identifiers-{device}")
    no_horizontal_overflow(page)
    assert page.locator("#doc-title").inner_text() == f"[{c['n']}] A paper known by its name"
    assert page.locator("#doc-meta").inner_text() == "Ada Lovelace, Alan Turing · Journal of Things · 2021"
    file, line = real["source"].rsplit(":", 1)
    assert page.locator("#doc-source").inner_text() == f"Source: {file}, line {line}; also in data/other.csv, line 7"
    links = page.locator("#doc-links a")
    assert [links.nth(i).get_attribute("href") for i in range(3)] == [
        "https://doi.org/10.1234/abc.5", "https://arxiv.org/abs/2203.01234", "https://example.org/paper"
    ]
    assert links.nth(1).inner_text() == "arXiv:2203.01234"
    for i in range(3):
        assert links.nth(i).get_attribute("target") == "_blank"
        assert links.nth(i).get_attribute("rel") == "noopener noreferrer"
    assert page.locator("#doc-abstract mark").all_inner_texts() == c["quotes"]
    page.keyboard.press("Escape")
    page.unroute(f"**/documents/{c['doc_id']}")
    page.route(
        f"**/documents/{c['doc_id']}",
        lambda route: route.fulfill(json={**real, "url": "javascript:alert(1)", "doi": "not a doi", "arxiv_id": "javascript:x"}),
    )
    open_citation(page, msg.locator(f".cite[data-n='{c['n']}']").first, device == "phone")
    page.wait_for_function("() => document.getElementById('doc-links').children.length === 0")  # times out if linked
    assert page.locator("#doc-title").inner_text().startswith(f"[{c['n']}] ")
    assert_no_policy_violations(page)
    page.context.close()


def test_stop_aborts_the_answer(browser, slow_url):
    page = fresh(browser, slow_url)
    page.fill("#question", QUESTION)
    page.click("#send")
    page.locator("#stop").wait_for(state="visible")
    page.locator(".msg.assistant .step").wait_for(state="visible")
    page.click("#stop")
    msg = page.locator(".msg.assistant").first
    msg.locator(".stopped").wait_for()
    assert msg.locator(".stopped").inner_text() == "Stopped."
    assert page.locator("#stop").is_hidden() and page.locator("#send").is_enabled()
    deadline = time.monotonic() + 5  # the server stops generating for nobody
    while (state := page.request.get(slow_url + "/health").json()["answers"]) != {"running": 0, "waiting": 0}:
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    page.reload()  # a stopped answer is remembered as stopped
    page.locator(".msg.assistant .stopped").wait_for()
    assert_no_policy_violations(page)
    page.context.close()


def test_history_survives_a_reload_and_new_chat_clears_it(browser, base_url):
    page = fresh(browser, base_url)
    page.fill("#question", QUESTION)
    page.click("#send")
    answered(page, 0)
    text = page.locator(".msg.assistant .text").first.inner_text()
    session = page.evaluate("JSON.parse(localStorage.getItem('rag-abstracts.chat.v1')).sessionId")
    sources = page.locator("#source-list li[data-n]").all_inner_texts()
    page.reload()
    assert page.locator(".msg.user").all_inner_texts() == [QUESTION]
    assert page.locator(".msg.assistant .text").first.inner_text() == text
    assert page.locator("#source-list li[data-n]").all_inner_texts() == sources
    page.locator(".msg.assistant .cite").first.click()  # citations still open their papers
    page.locator("#doc-abstract mark").first.wait_for()
    page.keyboard.press("Escape")
    page.fill("#question", "And how much faster is it?")  # the same server session goes on
    page.click("#send")
    answered(page, 1)
    assert page.evaluate("JSON.parse(localStorage.getItem('rag-abstracts.chat.v1')).sessionId") == session
    assert page.locator(".notice").count() == 0
    page.click("#new-session")
    assert page.locator(".msg").count() == 0 and page.locator("#welcome").is_visible()
    page.reload()
    assert page.locator(".msg").count() == 0
    assert_no_policy_violations(page)
    page.context.close()


def test_an_expired_session_starts_a_new_one_and_keeps_the_history(browser, base_url):
    page = fresh(browser, base_url)
    page.fill("#question", QUESTION)
    page.click("#send")
    answered(page, 0)
    page.evaluate("""() => { const s = JSON.parse(localStorage.getItem('rag-abstracts.chat.v1'));
                             s.sessionId = 'expired-long-ago'; localStorage.setItem('rag-abstracts.chat.v1', JSON.stringify(s)); }""")
    page.reload()
    page.fill("#question", "What is TinyBERT?")
    page.click("#send")
    answered(page, 1)
    assert page.locator(".notice").count() == 1 and "expired" in page.locator(".notice").inner_text()
    assert page.locator(".msg.user").count() == 2  # the earlier turn is still on the page
    assert page.evaluate("JSON.parse(localStorage.getItem('rag-abstracts.chat.v1')).sessionId") != "expired-long-ago"
    assert_no_policy_violations(page)
    page.context.close()


def test_a_decline_names_the_closest_papers(browser, base_url):
    page = fresh(browser, base_url)
    page.fill("#question", DECLINED)
    page.click("#send")
    msg = answered(page, 0)
    a = last_answer_json(page)
    assert a["abstained"] and a["closest"]
    assert "declined" in msg.get_attribute("class")
    assert msg.locator(".why").inner_text().startswith("Why: ")
    buttons = msg.locator(".closest-paper")
    assert buttons.count() == len(a["closest"])
    buttons.first.click()
    page.locator("#doc-dialog").wait_for(state="visible")
    page.wait_for_function("() => document.getElementById('doc-abstract').textContent.length > 0")
    title = a["closest"][0]["title"] or a["closest"][0].get("name")
    if title:
        assert page.locator("#doc-title").inner_text() == title
    assert page.locator("#doc-abstract mark").count() == 0  # not evidence: nothing highlighted
    assert_no_policy_violations(page)
    page.context.close()


def test_errors_say_what_happened_and_what_to_do(browser, base_url):
    page = fresh(browser, base_url)
    problem = page.locator(".msg.assistant .problem")

    page.route("**/chat", lambda route: route.abort("connectionrefused"))
    page.fill("#question", QUESTION)
    page.click("#send")
    problem.nth(0).wait_for()
    assert problem.nth(0).inner_text() == f"Cannot reach the server at {base_url}: is rag serve running?"
    assert problem.nth(0).locator("code").inner_text() == "rag serve"
    page.unroute("**/chat")

    page.route("**/chat", lambda route: route.fulfill(status=401, json={"error": "authorization: missing or wrong API key"}))
    page.fill("#question", QUESTION)
    page.click("#send")
    problem.nth(1).wait_for()
    assert problem.nth(1).inner_text() == "This server needs its API key: log in."
    assert problem.nth(1).locator("a").get_attribute("href") == "/"
    page.unroute("**/chat")

    calls = []

    def busy_once(route):
        calls.append(1)
        if len(calls) == 1:
            route.fulfill(status=503, headers={"Retry-After": "1"}, json={"error": "the model is busy"})
        else:
            route.continue_()

    page.route("**/chat", busy_once)
    page.evaluate(ORDER)
    page.fill("#question", QUESTION)
    page.click("#send")
    answered(page, 2)
    assert len(calls) == 2
    assert "step:The model is busy; retrying in 1 s" in page.evaluate("window.__order")
    page.unroute("**/chat")

    failure = sse(("session", {"session_id": "x"}), ("error", {"error": "llm: the model server stopped answering", "status": 503}))
    page.route("**/chat", lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=failure))
    page.fill("#question", QUESTION)
    page.click("#send")
    problem.nth(2).wait_for()
    assert problem.nth(2).inner_text() == "Error: llm: the model server stopped answering"
    assert page.locator("#send").is_enabled()
    assert_no_policy_violations(page)
    page.context.close()


def test_copy_the_answer_with_its_references(browser, base_url):
    page = fresh(browser, base_url)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page.fill("#question", QUESTION)
    page.click("#send")
    msg = answered(page, 0)
    msg.locator(".copy").click()
    page.wait_for_function("() => document.querySelector('.copy').textContent === 'Copied'")
    copied = page.evaluate("navigator.clipboard.readText()")
    a = last_answer_json(page)
    assert copied.startswith(f"**Q:** {QUESTION}\n\n{a['text'].strip()}\n\nReferences:\n[1] ")
    assert f"> {a['citations'][0]['quotes'][0]}" in copied
    assert_no_policy_violations(page)
    page.context.close()


def test_export_the_references_as_bibtex_and_ris(browser, base_url):
    page = fresh(browser, base_url)
    page.fill("#question", QUESTION)
    page.click("#send")
    answered(page, 0)
    for button, start in (("#export-bibtex", "@"), ("#export-ris", "TY  -")):
        with page.expect_download() as info:
            page.click(button)
        path = info.value.path()
        assert Path(path).read_text(encoding="utf-8").lstrip("\ufeff").startswith(start)
    assert_no_policy_violations(page)
    page.context.close()


def test_keyboard_enter_sends_shift_enter_breaks_the_line_escape_closes(browser, base_url):
    page = fresh(browser, base_url)
    page.focus("#question")
    page.keyboard.type("How much smaller")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("and faster than BERT is TinyBERT?")
    assert page.input_value("#question") == "How much smaller\nand faster than BERT is TinyBERT?"
    page.keyboard.press("Enter")
    answered(page, 0)
    assert page.locator(".msg.user").inner_text() == "How much smaller\nand faster than BERT is TinyBERT?"
    page.locator(".msg.assistant .cite").first.focus()  # keyboard focus shows the quote
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    page.locator("#cite-pop").wait_for(state="visible")
    assert page.locator(".msg.assistant .cite").first.get_attribute("aria-expanded") == "true"
    page.keyboard.press("Escape")
    page.locator("#cite-pop").wait_for(state="hidden")
    page.keyboard.press("Enter")  # the focused [n] opens its paper
    page.locator("#doc-dialog").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "doc-close"  # the focus starts at the top
    assert page.locator("#doc-dialog").get_attribute("aria-labelledby") == "doc-title"
    page.keyboard.press("Escape")
    page.locator("#doc-dialog").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('cite')")  # focus goes back
    assert_no_policy_violations(page)
    page.context.close()


def test_the_favicon_is_served(browser, base_url):
    page = fresh(browser, base_url)
    res = page.request.get(base_url + "/static/favicon.svg")
    assert res.status == 200 and res.headers["content-type"].startswith("image/svg+xml")
    assert "<script" not in res.text() and "style" not in res.text()
    page.context.close()
