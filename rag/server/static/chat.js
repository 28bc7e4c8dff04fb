// The chat page: POST /chat with "stream": true, read the server-sent events, show
// verified sentences as they arrive, then turn [n] markers into buttons that open
// the cited abstract. No framework, no build step. Text from answers and papers only
// ever becomes text nodes (never HTML): the server's Content-Security-Policy enforces
// Trusted Types, so assigning a string to innerHTML would be refused.
"use strict";

const state = { sessionId: null, refs: new Map() }; // n -> citation {n, doc_id, title, year, quote}
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// Answer text with each [n] turned into a button that opens paper n.
function renderText(target, text) {
  const parts = text.split(/\[(\d+)\]/); // odd indices are the captured numbers
  target.replaceChildren(...parts.map((part, i) => {
    if (i % 2 === 0) return part;
    const button = el("button", { type: "button", className: "cite", textContent: `[${part}]` });
    button.dataset.n = part;
    return button;
  }));
}

// The abstract with the quoted sentences marked: found with indexOf, so no character
// of the quote is read as a pattern ($&, $', $` stay as written).
function highlighted(abstract, sentences) {
  const spans = [];
  for (const s of sentences) {
    const start = abstract.indexOf(s);
    if (start >= 0) spans.push([start, start + s.length]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const nodes = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (start < at) continue; // overlaps one already marked
    nodes.push(abstract.slice(at, start), el("mark", { textContent: abstract.slice(start, end) }));
    at = end;
  }
  nodes.push(abstract.slice(at));
  return nodes;
}

function addMessage(kind, text) {
  const div = document.createElement("div");
  div.className = `msg ${kind}`;
  const body = document.createElement("div");
  body.className = "text";
  body.textContent = text || "";
  div.appendChild(body);
  $("conversation").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

// Some scraped papers have no title: name them by the start of their quoted evidence.
function label(c) {
  if (c.title) return c.title;
  const q = (c.quote || "").trim();
  return q ? `(untitled) ${q.slice(0, 70)}${q.length > 70 ? "…" : ""}` : "(untitled)";
}

function showSources() {
  const list = $("source-list");
  list.replaceChildren();
  if (!state.refs.size) {
    list.append(el("li", { className: "muted", textContent: "Papers cited in this session appear here." }));
    return;
  }
  for (const c of [...state.refs.values()].sort((a, b) => a.n - b.n)) {
    const li = document.createElement("li");
    li.value = c.n;
    li.dataset.n = c.n;
    li.textContent = `${label(c)}${c.year ? ` (${c.year})` : ""}`;
    list.appendChild(li);
  }
}

async function openCitation(n) {
  const c = state.refs.get(Number(n));
  if (!c) return; // its reference arrives with the final answer
  const res = await fetch(`/documents/${encodeURIComponent(c.doc_id)}`, { credentials: "same-origin" });
  const doc = res.ok ? await res.json() : { title: c.title, abstract: c.quote, doc_id: c.doc_id };
  $("doc-title").textContent = `[${c.n}] ${doc.title || label(c)}`;
  $("doc-meta").textContent = [doc.year, (doc.authors || []).join(", ")].filter(Boolean).join(" · ");
  const quoted = (c.quote || "").split(/(?<=[.!?])\s+/).filter((s) => s.length > 20);
  $("doc-abstract").replaceChildren(...highlighted(doc.abstract || "", quoted));
  $("doc-id").textContent = doc.doc_id;
  $("doc-dialog").showModal();
}

// Minimal SSE reader over fetch (EventSource cannot POST).
async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
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
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

async function ask(question) {
  addMessage("user", question);
  const msg = addMessage("assistant", "…");
  const textEl = msg.querySelector(".text");
  let text = "";
  $("send").disabled = true;
  try {
    const res = await fetch("/chat", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question, session_id: state.sessionId, stream: true }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      const hint = res.status === 401 ? " Reload the page to log in with the API key." : "";
      throw new Error((body.error || `HTTP ${res.status}`) + hint);
    }
    for await (const { event, data } of readEvents(res)) {
      if (event === "session") state.sessionId = data.session_id;
      else if (event === "text") { text += data.text; renderText(textEl, text); }
      else if (event === "error") throw new Error(data.error);
      else if (event === "answer") {
        state.sessionId = data.session_id;
        for (const c of data.references) state.refs.set(c.n, c);
        const a = data.answer;
        renderText(textEl, a.text);
        if (a.abstained) msg.classList.add("declined");
        const meta = document.createElement("div");
        meta.className = "meta";
        const secs = a.timings && a.timings.total_s ? ` · ${a.timings.total_s.toFixed(1)} s` : "";
        meta.textContent = `${a.backend}:${a.model}${secs}${a.removed.length ? ` · ${a.removed.length} unsupported sentence(s) removed` : ""}`;
        msg.appendChild(meta);
        showSources();
      }
    }
  } catch (err) {
    msg.classList.add("error");
    textEl.textContent = `Error: ${err.message}`;
  } finally {
    $("send").disabled = false;
    msg.scrollIntoView({ block: "end" });
  }
}

$("ask-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("question").value.trim();
  if (!q) return;
  $("question").value = "";
  ask(q);
});
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
});
$("conversation").addEventListener("click", (e) => {
  const b = e.target.closest(".cite");
  if (b) openCitation(b.dataset.n);
});
$("source-list").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-n]");
  if (li) openCitation(li.dataset.n);
});
$("doc-close").addEventListener("click", () => $("doc-dialog").close());
$("new-session").addEventListener("click", () => {
  state.sessionId = null;
  state.refs.clear();
  $("conversation").replaceChildren();
  showSources();
});
