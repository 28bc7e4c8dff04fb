// The chat page: POST /chat with "stream": true, read the server-sent events, show the
// papers being read, the progress, then the verified sentences as they arrive; [n]
// markers show their quote and open the cited abstract. No framework, no build step.
// Text from answers and papers only ever becomes text nodes (never HTML): the server's
// Content-Security-Policy enforces Trusted Types, so assigning a string to innerHTML
// would be refused. Positions are set through the CSSOM (el.style.left), which the
// CSP allows; style attributes in markup would not be.
"use strict";

const STORE_KEY = "rag-abstracts.chat.v1";
const MAX_TURNS = 60; // kept in localStorage
const $ = (id) => document.getElementById(id);
const touch = window.matchMedia("(hover: none)");

const state = {
  sessionId: null,
  refs: new Map(), // n -> Citation: the session's bibliography (a paper keeps its number)
  turns: [], // {question, papers?, answer?, partial?, stopped?, error?}
  controller: null, // the AbortController of the answer being written
};

// --- small helpers ------------------------------------------------------------------------

// An element: props are DOM properties (className, textContent, type, ...), attrs are
// attributes (aria-*, data-*), children nodes or strings.
function el(tag, props = {}, children = [], attrs = {}) {
  const node = Object.assign(document.createElement(tag), props);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// A message that may name a command between backticks: those parts become <code>.
function withCode(text) {
  return String(text).split("`").map((part, i) => (i % 2 ? el("code", { textContent: part }) : part));
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("Stopped", "AbortError")); }, { once: true });
  });
}

// Papers without a title (scraped pages) are named by the server's `name`; failing
// that, by the start of their quoted evidence.
function paperLabel(p) {
  if (!p) return "(unknown paper)";
  const title = (p.title || "").trim() || (p.name || "").trim();
  if (title) return title;
  const q = (p.quote || "").trim();
  return q ? `(untitled) ${q.slice(0, 70)}${q.length > 70 ? "…" : ""}` : "(untitled paper)";
}

function yearSuffix(p) {
  return p && p.year ? ` (${p.year})` : "";
}

// "data/corpus/x.txt:12" -> "data/corpus/x.txt, line 12"
function sourceText(source) {
  if (!source) return "";
  const m = /^(.*):(\d+)$/.exec(source);
  return m ? `${m[1]}, line ${m[2]}` : source;
}

// Only web addresses become links (never javascript: or data: URLs from the data).
function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

function doiUrl(doi) {
  if (!doi) return null;
  const bare = String(doi).trim().replace(/^(https?:\/\/(dx\.)?doi\.org\/|doi:\s*)/i, "");
  return /^10\.\S+\/\S+$/.test(bare) ? `https://doi.org/${bare}` : null;
}

function arxivUrl(id) {
  const bare = String(id || "").trim();
  return /^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Za-z]{2})?\/\d{7})(v\d+)?$/i.test(bare) ? `https://arxiv.org/abs/${bare}` : null;
}

function externalLink(href, text) {
  return el("a", { href, textContent: text, target: "_blank", rel: "noopener noreferrer" });
}

// --- the server -----------------------------------------------------------------------------

class Problem extends Error {
  constructor(kind, message, extra = {}) {
    super(message);
    this.kind = kind; // offline | auth | busy | expired | http | stream | cut
    Object.assign(this, extra);
  }
}

// fetch with the page's error wording: every failure is a Problem saying what happened.
async function request(path, options = {}) {
  let res;
  try {
    res = await fetch(path, { credentials: "same-origin", ...options });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Problem("offline", `Cannot reach the server at ${location.origin}: is \`rag serve\` running?`);
  }
  if (res.ok) return res;
  const body = await res.json().catch(() => ({}));
  const message = typeof body.error === "string" ? body.error : `the server answered HTTP ${res.status}`;
  if (res.status === 401) throw new Problem("auth", "This server needs its API key", { status: 401 });
  if (res.status === 503) {
    const after = parseInt(res.headers.get("Retry-After") || "", 10);
    throw new Problem("busy", message, { status: 503, retryAfter: Number.isFinite(after) && after >= 0 ? Math.min(after, 60) : 5 });
  }
  if (res.status === 400 && /unknown or expired session/i.test(message)) throw new Problem("expired", message, { status: 400 });
  throw new Problem("http", message, { status: res.status });
}

// A minimal server-sent events reader over fetch (EventSource cannot POST).
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (!data.length) continue; // a comment or a ping
        let parsed;
        try {
          parsed = JSON.parse(data.join("\n"));
        } catch {
          continue; // not ours to read
        }
        yield { event, data: parsed };
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// --- history (localStorage) ------------------------------------------------------------------

function save() {
  try {
    const turns = state.turns.slice(-MAX_TURNS).map((t) => ({
      question: t.question, papers: t.papers, answer: t.answer, partial: t.partial, stopped: t.stopped, error: t.error,
    }));
    localStorage.setItem(STORE_KEY, JSON.stringify({ v: 1, sessionId: state.sessionId, refs: [...state.refs.values()], turns }));
  } catch {
    // storage full or disabled: the conversation still works, it just won't survive a reload
  }
}

function load() {
  let saved;
  try {
    saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
  } catch {
    return;
  }
  if (!saved || saved.v !== 1 || !Array.isArray(saved.turns)) return;
  state.sessionId = typeof saved.sessionId === "string" ? saved.sessionId : null;
  for (const c of Array.isArray(saved.refs) ? saved.refs : []) if (c && Number.isInteger(c.n) && c.doc_id) state.refs.set(c.n, c);
  state.turns = saved.turns.filter((t) => t && typeof t.question === "string");
  state.turns.forEach((turn, i) => {
    const view = addTurn(turn, i);
    if (turn.papers) view.showPapers(turn.papers, false);
    if (turn.answer) view.done(turn);
    else if (turn.stopped) view.stopped(turn.partial);
    else if (turn.error) view.fail(turn.error);
    else view.stopped(turn.partial, "Interrupted: the page was closed before this answer finished.");
  });
  showSources();
  const last = $("conversation").lastElementChild;
  if (last && state.turns.length) last.scrollIntoView({ block: "end" });
}

// --- rendering an answer -----------------------------------------------------------------------

// Answer text with each [n] turned into a button showing and opening paper n. A
// sentence's last word, its markers and the punctuation after them are kept on one
// line (a marker alone at the start of a line reads as belonging to the next sentence).
function citeButton(n) {
  return el("button", { type: "button", className: "cite", textContent: `[${n}]` },
    [], { "data-n": n, "aria-label": `Source ${n}`, "aria-expanded": "false" });
}

function renderText(target, text) {
  const parts = String(text).split(/\[(\d+)\]/); // odd indices are the captured numbers
  const out = [];
  let glue = null; // the no-wrap span being filled
  parts.forEach((part, i) => {
    if (i % 2) {
      if (!glue) {
        const prev = typeof out[out.length - 1] === "string" ? out.pop() : "";
        const tail = (/\S{1,24}\s*$/.exec(prev) || [""])[0];
        if (prev.length > tail.length) out.push(prev.slice(0, prev.length - tail.length));
        glue = el("span", { className: "glue" }, tail ? [tail] : []);
        out.push(glue);
      }
      glue.append(citeButton(part));
    } else if (glue && part === "") {
      // between two markers: [1][2]
    } else if (glue) {
      const stop = (/^[^\s\w]{0,3}/.exec(part) || [""])[0]; // "." or ".”" right after the markers
      if (stop) glue.append(stop);
      if (part.length > stop.length) out.push(part.slice(stop.length));
      glue = null;
    } else if (part) out.push(part);
  });
  target.replaceChildren(...out);
}

const STEPS = {
  searching: () => "Searching the abstracts…",
  reading: (d) => (d.papers && d.papers.length ? `Reading ${d.papers.length} paper${d.papers.length === 1 ? "" : "s"}…` : "Reading the papers…"),
  writing: () => "Writing the answer…",
  checking: () => "Checking each sentence against its paper…",
};

function seconds(x) {
  return typeof x === "number" && Number.isFinite(x) ? `${x < 10 ? x.toFixed(1) : Math.round(x)} s` : null;
}

function turnIndex(node) {
  const msg = node.closest(".msg.assistant");
  return msg ? Number(msg.dataset.turn) : -1;
}

// The citation [n] of the answer holding `node`: that turn's own citation (its quotes
// support that turn's claims), else the session's reference, else the paper as read.
function citationFor(node, n) {
  n = Number(n);
  const turn = state.turns[turnIndex(node)];
  const own = turn && turn.answer && (turn.answer.citations || []).find((c) => c.n === n);
  if (own) return { ...(state.refs.get(n) || {}), ...own };
  if (state.refs.has(n)) return state.refs.get(n);
  const read = turn && (turn.papers || []).find((p) => Number(p.n) === n);
  return read ? { ...read, n } : null;
}

class AnswerView {
  constructor(index) {
    this.papers = el("details", { className: "papers", open: true, hidden: true });
    this.step = el("p", { className: "step working", hidden: true });
    this.text = el("div", { className: "text" });
    this.extra = el("div", { className: "extra" });
    this.foot = el("div", { className: "answer-foot", hidden: true });
    this.msg = el("article", { className: "msg assistant" }, [this.papers, this.step, this.text, this.extra, this.foot],
      { "data-turn": String(index), "aria-label": "Answer" });
  }

  showPapers(papers, live) {
    const n = papers.length;
    const summary = el("summary", { textContent: live ? `Reading ${n} paper${n === 1 ? "" : "s"}` : `Read ${n} paper${n === 1 ? "" : "s"}` });
    const items = papers.map((p, i) => el("li", Number.isInteger(p.n) ? { value: p.n } : {}, [
      el("button", { type: "button", className: "paper", textContent: paperLabel(p) }, [], { "data-paper": String(i) }),
      p.year ? el("span", { className: "year", textContent: ` (${p.year})` }) : null,
    ]));
    this.papers.replaceChildren(summary, el("ol", {}, items));
    this.papers.open = live;
    this.papers.hidden = n === 0;
  }

  setStep(message, working = true) {
    this.step.textContent = message;
    this.step.classList.toggle("working", working);
    this.step.hidden = !message;
  }

  setText(text) {
    renderText(this.text, text);
  }

  done(turn) {
    const a = turn.answer;
    this.setStep("");
    if (turn.papers) this.showPapers(turn.papers, false);
    this.setText(a.text || "");
    this.msg.classList.toggle("declined", Boolean(a.abstained));
    this.extra.replaceChildren();
    if (a.abstained) {
      if (a.abstain_reason) this.extra.append(el("p", { className: "why", textContent: `Why: ${a.abstain_reason}.`.replace(/\.\.$/, ".") }));
      const closest = Array.isArray(a.closest) ? a.closest.filter((p) => p && p.doc_id) : [];
      if (closest.length) {
        this.extra.append(el("div", { className: "closest" }, [
          el("p", { textContent: "The closest papers (not evidence for an answer), to read for yourself:" }),
          el("ul", {}, closest.map((p, i) => el("li", {}, [
            el("button", { type: "button", className: "closest-paper", textContent: `${paperLabel(p)}${yearSuffix(p)}` },
              [], { "data-closest": String(i), "aria-label": `Open the abstract: ${paperLabel(p)}` }),
          ]))),
        ]));
      }
    }
    this.foot.replaceChildren(...footer(turn));
    this.foot.hidden = false;
  }

  stopped(partial, why = "Stopped.") {
    this.setStep("");
    this.setText(partial || "");
    this.extra.replaceChildren(el("p", { className: "stopped", textContent: why }));
  }

  fail(problem) {
    this.setStep("");
    this.msg.classList.add("error");
    this.extra.replaceChildren(el("p", { className: "problem" }, problemNodes(problem)));
  }
}

// What went wrong, with what to do: a log-in link for a missing key.
function problemNodes(problem) {
  const kind = problem.kind || "";
  if (kind === "auth") return ["This server needs its API key: ", el("a", { href: "/", textContent: "log in" }), "."];
  if (kind === "offline") return withCode(problem.message);
  const message = problem.message || String(problem);
  return withCode(/^(error|the |cannot|this )/i.test(message) ? message : `Error: ${message}`);
}

function details(a) {
  const t = a.timings || {};
  const line = [a.backend, a.model].filter(Boolean);
  const total = seconds(t.total_s);
  if (total) line.push(total);
  const parts = [el("summary", { textContent: "Details" }), el("span", { className: "numbers", textContent: line.join(" · ") || "no details" })];
  const timing = [["search", t.retrieve_s], ["first sentence", t.first_text_s], ["model", t.llm_s]]
    .filter(([, v]) => typeof v === "number").map(([k, v]) => `${k} ${seconds(v)}`);
  if (timing.length) parts.push(el("div", { textContent: timing.join(" · ") }));
  if (a.standalone_question) parts.push(el("div", { textContent: `Searched for: ${a.standalone_question}` }));
  if (a.extractive) parts.push(el("div", { textContent: "Quoted from the abstracts: the model's own wording failed the check." }));
  const removed = Array.isArray(a.removed) ? a.removed : [];
  if (removed.length) {
    parts.push(el("div", { textContent: `${removed.length} sentence${removed.length === 1 ? "" : "s"} removed as unsupported:` }));
    parts.push(el("ul", { className: "removed" }, removed.map((r) => el("li", { textContent: `${r.text} (${r.reason})` }))));
  }
  return el("details", { className: "meta" }, parts);
}

function footer(turn) {
  const copy = el("button", { type: "button", className: "copy", textContent: "Copy" }, [],
    { "aria-label": "Copy this answer with its references" });
  return [copy, details(turn.answer)];
}

// The answer and its references as Markdown (which reads as plain text too).
function markdown(turn) {
  const a = turn.answer;
  const lines = [`**Q:** ${turn.question}`, "", (a.text || "").trim()];
  if (a.abstained && a.abstain_reason) lines.push("", `(Declined: ${a.abstain_reason}.)`);
  const cites = (a.citations || []).slice().sort((x, y) => x.n - y.n);
  if (cites.length) {
    lines.push("", "References:");
    for (const c of cites) {
      const ref = { ...(state.refs.get(c.n) || {}), ...c };
      const authors = Array.isArray(ref.authors) && ref.authors.length
        ? ` ${ref.authors.slice(0, 3).join(", ")}${ref.authors.length > 3 ? " et al." : ""}.` : "";
      const link = doiUrl(ref.doi) || arxivUrl(ref.arxiv_id) || safeUrl(ref.url || "");
      const where = link ? ` ${link}` : ref.source ? ` (${sourceText(ref.source)})` : "";
      lines.push(`[${c.n}] ${paperLabel(ref)}.${authors}${ref.year ? ` ${ref.year}.` : ""}${where}`);
      const quote = (ref.quotes && ref.quotes.length ? ref.quotes.join(" ") : ref.quote || "").trim();
      if (quote) lines.push(`    > ${quote}`);
    }
  }
  return lines.join("\n");
}

async function copyAnswer(button) {
  const turn = state.turns[turnIndex(button)];
  if (!turn || !turn.answer) return;
  let said;
  try {
    await navigator.clipboard.writeText(markdown(turn));
    said = "Copied";
  } catch {
    said = "Copy failed";
  }
  button.textContent = said;
  button.setAttribute("aria-label", said);
  clearTimeout(button.timer);
  button.timer = setTimeout(() => {
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy this answer with its references");
  }, 2000);
}

// --- the conversation ------------------------------------------------------------------------

function nearBottom() {
  const c = $("conversation");
  return c.scrollHeight - c.scrollTop - c.clientHeight < 120;
}

function follow(stick) {
  if (stick) { const c = $("conversation"); c.scrollTop = c.scrollHeight; }
}

function addTurn(turn, index) {
  $("welcome").hidden = true;
  const view = new AnswerView(index);
  $("conversation").append(el("div", { className: "msg user", textContent: turn.question }, [], { "aria-label": "Your question" }), view.msg);
  return view;
}

function notice(text, before) {
  const note = el("p", { className: "notice", textContent: text }, [], { role: "status" });
  $("conversation").insertBefore(note, before);
}

function setBusy(controller) {
  state.controller = controller;
  $("send").disabled = Boolean(controller);
  $("stop").hidden = !controller;
  if (!controller && document.activeElement === document.body) $("question").focus();
}

async function ask(question) {
  if (state.controller) return;
  const turn = { question };
  state.turns.push(turn);
  const index = state.turns.length - 1;
  const view = addTurn(turn, index);
  view.setStep("Sending the question…");
  follow(true);
  save();
  const controller = new AbortController();
  setBusy(controller);
  let retriedBusy = false;
  let retriedSession = false;
  try {
    for (;;) {
      try {
        await answer(turn, view, controller.signal);
        break;
      } catch (err) {
        if (err.name === "AbortError") throw err;
        if (err.kind === "expired" && !retriedSession) {
          retriedSession = true;
          state.sessionId = null;
          notice("Your chat session had expired on the server, so a new one was started.", view.msg);
          continue;
        }
        if (err.kind === "busy" && !retriedBusy) {
          retriedBusy = true;
          for (let left = err.retryAfter; left > 0; left--) {
            view.setStep(`The model is busy; retrying in ${left} s`);
            await sleep(1000, controller.signal);
          }
          view.setStep("Retrying…");
          continue;
        }
        if (err.kind === "busy") err.message = `The model is still busy (${err.message}). Try again in a minute.`;
        throw err;
      }
    }
  } catch (err) {
    if (err.name === "AbortError") {
      turn.stopped = true;
      view.stopped(turn.partial);
    } else {
      turn.error = { kind: err.kind || "error", message: err.message || String(err) };
      view.fail(turn.error);
    }
  } finally {
    save();
    setBusy(null);
  }
}

// One attempt at the turn's answer: the events, in the order the server sends them.
async function answer(turn, view, signal) {
  const body = { question: turn.question, stream: true };
  if (state.sessionId) body.session_id = state.sessionId;
  const res = await request("/chat", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  let text = "";
  let progressed = false;
  view.setStep("Searching the abstracts…");
  for await (const { event, data } of readEvents(res)) {
    const stick = nearBottom();
    if (event === "session" && data.session_id) {
      state.sessionId = data.session_id;
      save();
    } else if (event === "queue") {
      const n = Number(data.position) || 0;
      view.setStep(n > 0 ? `Waiting for the model: ${n} answer${n === 1 ? "" : "s"} ahead of yours…` : "Waiting for the model…");
    } else if (event === "progress") {
      progressed = true;
      if (Array.isArray(data.papers) && data.papers.length && (data.step === "reading" || !turn.papers)) {
        turn.papers = data.papers.filter((p) => p && typeof p === "object");
        view.showPapers(turn.papers, true);
      }
      const step = STEPS[data.step];
      view.setStep(data.message || (step ? step(data) : "Working…"));
    } else if (event === "text" && typeof data.text === "string") {
      text += data.text;
      turn.partial = text;
      view.setText(text);
      if (!progressed) view.setStep("Writing the answer…");
    } else if (event === "error") {
      throw new Problem("stream", data.error || "the answer failed", { status: data.status });
    } else if (event === "answer") {
      const a = data.answer && typeof data.answer === "object" ? data.answer : data; // /chat wraps it, /ask does not
      if (data.session_id) state.sessionId = data.session_id;
      for (const c of Array.isArray(data.references) ? data.references : a.citations || []) if (c && Number.isInteger(c.n)) state.refs.set(c.n, c);
      turn.answer = a;
      delete turn.partial;
      view.done(turn);
      showSources();
      follow(stick);
      return;
    }
    follow(stick);
  }
  throw new Problem("cut", "The connection closed before the answer was finished. Ask again.");
}

// --- the Sources panel and its export ----------------------------------------------------------

function showSources() {
  const list = $("source-list");
  const refs = [...state.refs.values()].sort((a, b) => a.n - b.n);
  $("sources-count").textContent = refs.length ? String(refs.length) : "";
  $("export-bibtex").disabled = $("export-ris").disabled = !refs.length;
  if (!refs.length) {
    list.replaceChildren(el("li", { className: "muted", textContent: "Papers cited in this chat appear here." }));
    return;
  }
  list.replaceChildren(...refs.map((c) => el("li", {}, [
    el("button", { type: "button", className: "source" }, [
      el("span", { className: "n", textContent: `[${c.n}]` }),
      el("span", {}, [paperLabel(c), c.year ? el("span", { className: "year", textContent: ` (${c.year})` }) : null]),
    ], { "aria-label": `Open source ${c.n}: ${paperLabel(c)}` }),
  ], { "data-n": String(c.n) })));
}

function filename(res, format) {
  const cd = res.headers.get("Content-Disposition") || "";
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  const name = m ? decodeURIComponent(m[1]).replace(/[/\\]/g, "_") : "";
  return name || `references.${format === "bibtex" ? "bib" : "ris"}`;
}

async function exportRefs(format) {
  const status = $("export-status");
  const ids = [...state.refs.values()].sort((a, b) => a.n - b.n).map((c) => c.doc_id);
  if (!ids.length) return;
  status.textContent = "Preparing the file…";
  let res;
  try {
    res = await request("/export", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ doc_ids: ids, format }),
    });
  } catch (err) {
    if (err.kind === "auth") status.replaceChildren(...problemNodes(err));
    else if (err.status === 404 || err.status === 405) status.textContent = "This server cannot export references yet (no POST /export): update rag.";
    else status.replaceChildren(...problemNodes(err));
    return;
  }
  const blob = await res.blob();
  const name = filename(res, format);
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
  status.textContent = `Saved ${name} (${ids.length} reference${ids.length === 1 ? "" : "s"}).`;
}

// --- the abstract dialog ----------------------------------------------------------------------

// Where `needle` sits in `hay`: exactly, or else ignoring differences in white space.
function locate(hay, needle) {
  const exact = hay.indexOf(needle);
  if (exact >= 0) return [exact, exact + needle.length];
  const words = needle.trim().split(/\s+/).filter(Boolean);
  if (!words.length) return null;
  const map = []; // index in the squeezed text -> index in hay
  let squeezed = "";
  for (let i = 0; i < hay.length; i++) {
    if (/\s/.test(hay[i])) {
      if (squeezed.endsWith(" ") || !squeezed) continue;
      squeezed += " ";
    } else squeezed += hay[i];
    map.push(i);
  }
  const at = squeezed.indexOf(words.join(" "));
  if (at < 0) return null;
  const end = at + words.join(" ").length - 1;
  return [map[at], map[end] + 1];
}

// The abstract as text nodes with the quoted sentences in <mark>: found with indexOf,
// so no character of a quote is read as a pattern ($&, $', $` stay as written).
function highlighted(abstract, quotes) {
  const spans = [];
  const missing = [];
  for (const q of quotes) {
    const span = q && q.trim() ? locate(abstract, q) : null;
    if (span) spans.push(span);
    else if (q && q.trim()) missing.push(q);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const nodes = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (start < at) continue; // overlaps one already marked
    if (start > at) nodes.push(abstract.slice(at, start));
    nodes.push(el("mark", { textContent: abstract.slice(start, end) }));
    at = end;
  }
  if (at < abstract.length) nodes.push(abstract.slice(at));
  return { nodes, missing };
}

function quotesOf(c) {
  if (!c) return [];
  if (Array.isArray(c.quotes) && c.quotes.length) return c.quotes;
  return c.quote ? [c.quote] : [];
}

function authorsText(authors) {
  if (!Array.isArray(authors) || !authors.length) return "";
  return authors.length > 12 ? `${authors.slice(0, 10).join(", ")} and ${authors.length - 10} more` : authors.join(", ");
}

let opening = 0;

// Open paper `ref` ({doc_id, title?, name?, year?, source?, n?}) with `quotes` marked.
async function openDoc(ref, quotes = []) {
  if (!ref || !ref.doc_id) return;
  hidePop();
  const ticket = ++opening;
  let doc = null;
  let failure = null;
  try {
    doc = await (await request(`/documents/${encodeURIComponent(ref.doc_id)}`)).json();
  } catch (err) {
    failure = err;
  }
  if (ticket !== opening) return; // another paper was asked for meanwhile
  const paper = { ...ref, ...(doc || {}) };
  const number = ref.n ? `[${ref.n}] ` : "";
  $("doc-title").textContent = `${number}${paperLabel(paper)}`;
  $("doc-meta").textContent = [authorsText(paper.authors), paper.venue, paper.year].filter(Boolean).join(" · ");
  const also = Array.isArray(paper.also_in) && paper.also_in.length ? `; also in ${paper.also_in.map(sourceText).join("; ")}` : "";
  $("doc-source").textContent = paper.source ? `Source: ${sourceText(paper.source)}${also}` : "";
  const links = [];
  const doi = doiUrl(paper.doi);
  if (doi) links.push(externalLink(doi, `DOI ${String(paper.doi).replace(/^https?:\/\/(dx\.)?doi\.org\//i, "")}`));
  const arxiv = arxivUrl(paper.arxiv_id);
  if (arxiv) links.push(externalLink(arxiv, `arXiv:${paper.arxiv_id}`));
  const url = safeUrl(paper.url || "");
  if (url && url !== doi && url !== arxiv) links.push(externalLink(url, "Paper page"));
  $("doc-links").replaceChildren(...links);
  const abstract = doc && typeof doc.abstract === "string" ? doc.abstract : "";
  const { nodes, missing } = highlighted(abstract, quotes);
  $("doc-abstract").replaceChildren(...nodes);
  const quoteBox = $("doc-quote");
  if (failure) {
    quoteBox.replaceChildren(el("p", { className: "problem" }, ["The abstract could not be loaded: ", ...problemNodes(failure)]),
      ...quotes.map((q) => el("blockquote", { textContent: q })));
  } else if (missing.length) {
    quoteBox.replaceChildren(el("p", { className: "muted", textContent: "Quoted evidence not found word for word in the abstract:" }),
      ...missing.map((q) => el("blockquote", { textContent: q })));
  } else quoteBox.replaceChildren();
  quoteBox.hidden = !quoteBox.childElementCount;
  $("doc-id").textContent = `Document ${paper.doc_id}`;
  const dialog = $("doc-dialog");
  if (!dialog.open) dialog.showModal();
  $("doc-body").scrollTop = 0; // opens at its top: the title, then the abstract
  dialog.scrollTop = 0;
}

function openCitation(node) {
  const n = Number(node.dataset.n);
  const c = citationFor(node, n);
  if (!c) return;
  openDoc({ ...c, n }, quotesOf(c));
}

// --- the citation popover: the quote on hover, keyboard focus or tap ---------------------------

const pop = { box: $("cite-pop"), anchor: null, timer: 0 };

function showPop(button) {
  clearTimeout(pop.timer);
  if (pop.anchor && pop.anchor !== button) pop.anchor.setAttribute("aria-expanded", "false");
  const n = Number(button.dataset.n);
  const c = citationFor(button, n);
  const box = pop.box;
  box.querySelector(".pop-title").textContent = c ? `[${n}] ${paperLabel(c)}${yearSuffix(c)}` : `[${n}]`;
  const quotes = quotesOf(c);
  box.querySelector(".pop-quote").textContent = quotes.length ? quotes.join(" … ") : "";
  const open = box.querySelector(".pop-open");
  open.hidden = !c;
  if (!c) box.querySelector(".pop-title").textContent = `[${n}]: its paper is named when the answer is complete.`;
  pop.anchor = button;
  button.setAttribute("aria-expanded", "true");
  box.hidden = false;
  const r = button.getBoundingClientRect();
  const w = box.offsetWidth;
  const h = box.offsetHeight;
  const left = Math.max(8, Math.min(r.left - 16, window.innerWidth - w - 8));
  let top = r.bottom + 6;
  if (top + h > window.innerHeight - 8) top = Math.max(8, r.top - h - 6);
  box.style.left = `${left}px`;
  box.style.top = `${top}px`;
}

function hidePop() {
  clearTimeout(pop.timer);
  pop.box.hidden = true;
  if (pop.anchor) pop.anchor.setAttribute("aria-expanded", "false");
  pop.anchor = null;
}

function hideSoon() {
  clearTimeout(pop.timer);
  pop.timer = setTimeout(hidePop, 300);
}

// --- the Sources drawer (phones and narrow windows) -----------------------------------------------

const narrow = window.matchMedia("(max-width: 860px)");

function setDrawer(open, focus = true) {
  const sources = $("sources");
  sources.classList.toggle("open", open);
  $("sources-toggle").setAttribute("aria-expanded", String(open));
  if (focus) (open ? $("sources-close") : $("sources-toggle")).focus();
}

// --- wiring --------------------------------------------------------------------------------

function newChat() {
  if (state.controller) state.controller.abort();
  hidePop();
  state.sessionId = null;
  state.refs.clear();
  state.turns = [];
  try { localStorage.removeItem(STORE_KEY); } catch { /* nothing kept */ }
  $("conversation").replaceChildren($("welcome"));
  $("welcome").hidden = false;
  $("export-status").textContent = "";
  showSources();
  $("question").focus();
}

$("ask-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("question").value.trim();
  if (!q || state.controller) return;
  $("question").value = "";
  ask(q);
});
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    if (!state.controller) $("ask-form").requestSubmit();
  }
});
$("stop").addEventListener("click", () => {
  if (state.controller) state.controller.abort();
  $("question").focus();
});

$("conversation").addEventListener("click", (e) => {
  const example = e.target.closest(".example");
  if (example) { ask(example.textContent.trim()); return; }
  const cite = e.target.closest(".cite");
  if (cite) {
    if (touch.matches) { // a tap: show the quote first; the popover's button opens the paper
      if (pop.anchor === cite && !pop.box.hidden) hidePop();
      else showPop(cite);
    } else openCitation(cite);
    return;
  }
  const paper = e.target.closest(".paper");
  if (paper) {
    const turn = state.turns[turnIndex(paper)];
    const p = turn && turn.papers && turn.papers[Number(paper.dataset.paper)];
    if (p) openDoc(p.n && citationFor(paper, p.n) ? { ...citationFor(paper, p.n), n: p.n } : p);
    return;
  }
  const closest = e.target.closest(".closest-paper");
  if (closest) {
    const turn = state.turns[turnIndex(closest)];
    const p = turn && turn.answer && (turn.answer.closest || [])[Number(closest.dataset.closest)];
    if (p) openDoc(p);
    return;
  }
  const copy = e.target.closest(".copy");
  if (copy) copyAnswer(copy);
});
$("conversation").addEventListener("mouseover", (e) => {
  const cite = e.target.closest(".cite");
  if (cite && !touch.matches) showPop(cite);
});
$("conversation").addEventListener("mouseout", (e) => {
  if (e.target.closest(".cite") && !touch.matches) hideSoon();
});
$("conversation").addEventListener("focusin", (e) => {
  const cite = e.target.closest(".cite");
  if (cite && cite.matches(":focus-visible")) showPop(cite);
});
$("conversation").addEventListener("focusout", (e) => {
  if (e.target.closest(".cite") && !pop.box.contains(e.relatedTarget) && !touch.matches) hideSoon();
});
$("conversation").addEventListener("scroll", () => { if (!pop.box.hidden) hidePop(); }, { passive: true });
window.addEventListener("resize", () => { if (!pop.box.hidden) hidePop(); });
pop.box.addEventListener("mouseenter", () => clearTimeout(pop.timer));
pop.box.addEventListener("mouseleave", () => { if (!touch.matches) hideSoon(); });
pop.box.querySelector(".pop-open").addEventListener("click", () => { if (pop.anchor) openCitation(pop.anchor); });
document.addEventListener("pointerdown", (e) => {
  if (!pop.box.hidden && !pop.box.contains(e.target) && !e.target.closest(".cite")) hidePop();
  const sources = $("sources");
  if (narrow.matches && sources.classList.contains("open") && !sources.contains(e.target) && !e.target.closest("#sources-toggle")) setDrawer(false, false);
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || $("doc-dialog").open) return; // the dialog closes itself on Esc
  if (!pop.box.hidden) {
    const anchor = pop.anchor;
    hidePop();
    if (anchor) anchor.focus();
  } else if ($("sources").classList.contains("open")) setDrawer(false);
});

$("source-list").addEventListener("click", (e) => {
  const item = e.target.closest("li[data-n]");
  if (!item) return;
  const c = state.refs.get(Number(item.dataset.n));
  if (c) openDoc(c, quotesOf(c));
});
$("sources-toggle").addEventListener("click", () => setDrawer(!$("sources").classList.contains("open")));
$("sources-close").addEventListener("click", () => setDrawer(false));
$("export-bibtex").addEventListener("click", () => exportRefs("bibtex"));
$("export-ris").addEventListener("click", () => exportRefs("ris"));
$("doc-close").addEventListener("click", () => $("doc-dialog").close());
$("doc-dialog").addEventListener("click", (e) => {
  if (e.target === e.currentTarget) e.currentTarget.close(); // a click on the backdrop
});
$("new-session").addEventListener("click", newChat);
narrow.addEventListener("change", () => { if (!narrow.matches) setDrawer(false, false); });

load();
showSources();
