"""The MCP server's stdio boundary, as a client that sends garbage sees it.

The SDK's client cannot send malformed messages, so these tests write raw lines to
``python -m rag.mcp_server`` in a real subprocess and read its raw replies: every
malformed request gets a one-line JSON-RPC error (with its id when one can be
recovered, ``null`` otherwise), malformed notifications get nothing, no error echoes a
long input, and the server keeps serving. The classification itself
(:func:`rag.mcp_stdio.check_line`) is tested in-process, without a server.

The server runs over an empty data dir (the tools then find nothing, which is all
these tests need) with the hashing embedder and the fake LLM: no model is loaded.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

import pytest

from rag.mcp_stdio import MESSAGE_CHARS, VALUE_CHARS, bounded, check_line, quote

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
MB = 1 << 20
DEEP = 100_000  # far beyond both Python's and the SDK's JSON parsers' nesting limits
TIMEOUT = 60  # seconds; the first tool call builds the Assistant
INITIALIZE = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}


def request(id_, method: str, params: dict | None = None) -> str:
    message: dict = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message)


def call(id_, tool: str, arguments) -> str:
    return request(id_, "tools/call", {"name": tool, "arguments": arguments})


# --- each kind of malformed request: (line, code, id of the reply) -------------------------
MALFORMED_REQUESTS = {
    "not JSON": ("hello", PARSE_ERROR, None),
    "binary garbage": ("\x00\x01\x02\ufffd", PARSE_ERROR, None),
    "truncated, id recoverable": ('{"jsonrpc": "2.0", "id": 7, "method": "tools/list"', PARSE_ERROR, 7),
    "truncated, string id": ('{"jsonrpc": "2.0", "id": "req-7", "method": "tools/li', PARSE_ERROR, "req-7"),
    "truncated inside the id": ('{"jsonrpc": "2.0", "id": 12', PARSE_ERROR, None),  # might have been 123
    "truncated before the id": ('{"jsonrpc": "2.0", "method": "tools/list", "params": {"a": [1, 2', PARSE_ERROR, None),
    "trailing garbage": (request(8, "ping") + "}", PARSE_ERROR, 8),
    "wrong jsonrpc version": ('{"jsonrpc": "1.0", "id": 9, "method": "tools/list"}', INVALID_REQUEST, 9),
    "no jsonrpc member": ('{"id": 10, "method": "tools/list"}', INVALID_REQUEST, 10),
    "params a string": ('{"jsonrpc": "2.0", "id": 11, "method": "tools/list", "params": "x"}', INVALID_REQUEST, 11),
    "params a number": ('{"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": 5}', INVALID_REQUEST, 12),
    "params an array": ('{"jsonrpc": "2.0", "id": 13, "method": "tools/call", "params": ["search"]}', INVALID_PARAMS, 13),
    "method a number": ('{"jsonrpc": "2.0", "id": 14, "method": 5}', INVALID_REQUEST, 14),
    "no method": ('{"jsonrpc": "2.0", "id": 15}', INVALID_REQUEST, 15),
    "id a float": ('{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}', INVALID_REQUEST, None),
    "id true": ('{"jsonrpc": "2.0", "id": true, "method": "ping"}', INVALID_REQUEST, None),
    "id null": ('{"jsonrpc": "2.0", "id": null, "method": "ping"}', INVALID_REQUEST, None),
    "an empty object": ("{}", INVALID_REQUEST, None),
    "a JSON number": ("42", INVALID_REQUEST, None),
    "a JSON string": ('"ping"', INVALID_REQUEST, None),
    "an empty batch": ("[]", INVALID_REQUEST, None),
    "a batch": ("[" + request(16, "ping") + "]", INVALID_REQUEST, 16),
    "deeply nested params": (
        '{"jsonrpc": "2.0", "id": 17, "method": "tools/list", "params": {"a": ' + "[" * DEEP + "]" * DEEP + "}}",
        PARSE_ERROR,
        17,
    ),
    "deeply nested array": ("[" * DEEP + "]" * DEEP, PARSE_ERROR, None),
    "nested past the SDK's parser": (  # Python's json reads it, the SDK's would drop it
        '{"jsonrpc": "2.0", "id": 18, "method": "tools/list", "params": {"a": ' + "[" * 300 + "]" * 300 + "}}",
        PARSE_ERROR,
        18,
    ),
    "truncated, deep and no id": ("{" + '"a": [' * DEEP, PARSE_ERROR, None),
    # not readable, so not known to be a notification: a parse error is answered with id null
    "a deeply nested notification": (
        '{"jsonrpc": "2.0", "method": "notifications/x", "params": {"a": ' + "[" * DEEP + "]" * DEEP + "}}",
        PARSE_ERROR,
        None,
    ),
    "a huge number": ('{"jsonrpc": "2.0", "id": 19, "method": "ping", "params": {"n": ' + "9" * 5000 + "}}", PARSE_ERROR, 19),
}

MALFORMED_NOTIFICATIONS = {
    "wrong jsonrpc version": '{"jsonrpc": "1.0", "method": "notifications/initialized"}',
    "params a string": '{"jsonrpc": "2.0", "method": "notifications/initialized", "params": "x"}',
    "params an array": '{"jsonrpc": "2.0", "method": "notifications/initialized", "params": [1]}',
    "method a number": '{"jsonrpc": "2.0", "method": 5}',
    "nested past the SDK's parser": '{"jsonrpc": "2.0", "method": "notifications/x", "params": {"a": ' + "[" * 300 + "]" * 300 + "}}",
    "a bad response": '{"jsonrpc": "1.0", "id": 3, "result": {}}',
    "a blank line": "   ",
}


# --- check_line, in-process ---------------------------------------------------------------------
@pytest.mark.parametrize("name", MALFORMED_REQUESTS)
def test_check_line_rejects_malformed_requests(name):
    line, code, id_ = MALFORMED_REQUESTS[name]
    rejection = check_line(line + "\n")
    assert rejection is not None
    assert (rejection.code, rejection.reply_to) == (code, (id_,))
    assert "\n" not in rejection.message and len(rejection.message) <= MESSAGE_CHARS
    prefix = {PARSE_ERROR: "Parse error: ", INVALID_REQUEST: "Invalid Request: ", INVALID_PARAMS: "Invalid params: "}[code]
    assert rejection.message.startswith(prefix)


@pytest.mark.parametrize("name", MALFORMED_NOTIFICATIONS)
def test_check_line_answers_no_malformed_notification(name):
    rejection = check_line(MALFORMED_NOTIFICATIONS[name] + "\n")
    assert rejection is not None and rejection.reply_to == ()


def test_check_line_answers_every_request_of_a_batch():
    batch = "[" + ",".join([request(1, "ping"), request("two", "ping"), '{"jsonrpc": "2.0", "method": "n"}']) + "]"
    rejection = check_line(batch)
    assert rejection is not None and (rejection.code, rejection.reply_to) == (INVALID_REQUEST, (1, "two"))
    assert [reply.id for reply in rejection.replies()] == [1, "two"]


@pytest.mark.parametrize(
    "line",
    [
        request(1, "ping"),
        request("a", "tools/call", {"name": "search", "arguments": {"query": "x"}}),
        request(2, "tools/list", None),
        '{"jsonrpc": "2.0", "method": "notifications/initialized"}',
        '{"jsonrpc": "2.0", "id": 3, "result": {}}',
        '{"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}',
        '  {"jsonrpc": "2.0", "id": 4, "method": "ping", "params": null}  ',
    ],
)
def test_check_line_passes_valid_messages(line):
    assert check_line(line + "\n") is None


def test_quote_and_bounded_never_echo_a_long_value():
    assert quote("abc") == "'abc'"
    long = quote("x" * MB)
    assert long.endswith("…' (1048576 characters)") and len(long) < VALUE_CHARS + 30
    message = bounded("k: must be between 1 and 200, got " + "9" * 4000)
    assert message.startswith("k: must be between 1 and 200, got 999") and message.endswith("… (4000 characters)")
    assert len(message) < 160
    assert bounded("a\n  b\nc") == "a b c"
    assert len(bounded("word " * MB)) <= MESSAGE_CHARS + 1
    assert bounded(f"unknown tool {long}") == f"unknown tool {long}"  # a quoted value is left as it is


# --- the real server over stdio ----------------------------------------------------------------
class RawClient:
    """Lines in, lines out; a thread reads the server's stdout so reads can time out."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8", "surrogatepass") + b"\n")
        self.proc.stdin.flush()

    def receive(self) -> tuple[dict, int]:
        """The next message and its length on the wire."""
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no reply within {TIMEOUT} s")
        assert line is not None, "the server closed stdout (did it exit?)"
        return json.loads(line), len(line)

    def ask(self, line: str) -> dict:
        return self.ask_sized(line)[0]

    def ask_sized(self, line: str) -> tuple[dict, int]:
        """The reply to ``line`` and its length on the wire."""
        self.send(line)
        return self.receive()

    def assert_serving(self, id_="ping") -> None:
        """The server answers a valid request, and that answer is the next line it writes:
        nothing (a reply to a notification, say) came before it."""
        assert self.ask(request(id_, "ping")) == {"jsonrpc": "2.0", "id": id_, "result": {}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One server process for the module. Nothing of the developer's RAG_* settings leaks in."""
    root = tmp_path_factory.mktemp("mcp-protocol")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_DATA_DIR=str(root / "data"), RAG_EMBED_BACKEND="hashing", RAG_LLM_BACKEND="fake")
    with (root / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.mcp_server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=root
        )
        try:
            raw = RawClient(proc)
            init = raw.ask(request(0, "initialize", INITIALIZE))
            assert init["result"]["serverInfo"]["name"] == "rag-abstracts", init
            raw.send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')
            yield raw
            assert proc.poll() is None, "the server died"
            proc.stdin.close()  # type: ignore[union-attr]
            assert proc.wait(timeout=TIMEOUT) == 0  # a clean exit at EOF
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def assert_error(reply: dict, code: int, id_) -> str:
    """The reply is a JSON-RPC error ``code`` for ``id_``; returns its one-line message."""
    assert reply["jsonrpc"] == "2.0" and "result" not in reply, reply
    assert reply["id"] == id_ and reply["error"]["code"] == code, reply
    message = reply["error"]["message"]
    assert message and "\n" not in message and len(message) <= MESSAGE_CHARS + 1, message
    return message


@pytest.mark.parametrize("name", MALFORMED_REQUESTS)
def test_malformed_requests_get_an_error_reply_and_the_server_goes_on(client, name):
    line, code, id_ = MALFORMED_REQUESTS[name]
    assert_error(client.ask(line), code, id_)
    client.assert_serving()


def test_malformed_notifications_get_no_reply_and_the_server_goes_on(client):
    for line in MALFORMED_NOTIFICATIONS.values():
        client.send(line)
    client.assert_serving()  # the next line the server writes is this answer: nothing before it


def test_a_batch_gets_one_error_per_request(client):
    client.send("[" + ",".join([request(21, "ping"), '{"jsonrpc": "2.0", "method": "n"}', request("22", "tools/list")]) + "]")
    replies = [client.receive()[0] for _ in range(2)]
    assert [r["id"] for r in replies] == [21, "22"]
    for reply in replies:
        assert_error(reply, INVALID_REQUEST, reply["id"])
    client.assert_serving()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"query": "BERT", "k": "abc"}, "k: Input should be a valid integer, unable to parse string as an integer"),
        ({}, "query: Field required"),
        ({"query": "BERT", "year_min": [2020]}, "year_min: Input should be a valid integer"),
        ({"query": ["BERT"]}, "query: Input should be a valid string"),
    ],
)
def test_bad_tool_arguments_are_invalid_params_of_one_line(client, arguments, expected):
    assert assert_error(client.ask(call(30, "search", arguments)), INVALID_PARAMS, 30) == expected
    client.assert_serving()


def test_long_inputs_are_never_echoed(client):
    huge = "x" * MB

    reply, size = client.ask_sized(call(40, "get_document", {"doc_id": huge}))
    text = reply["result"]["content"][0]["text"]
    assert reply["result"]["isError"] and "no such document" in text, text
    assert f"'{'x' * (VALUE_CHARS - 4)}…' ({MB} characters)" in text
    assert size < 1000 and "\n" not in text

    reply, size = client.ask_sized(call(41, huge, {}))
    message = assert_error(reply, INVALID_PARAMS, 41)
    assert message.startswith("unknown tool 'xxx") and f"({MB} characters)" in message and "get_document" in message
    assert size < 1000

    reply, size = client.ask_sized(request(42, huge))  # the SDK's Method not found carries the name
    assert_error(reply, METHOD_NOT_FOUND, 42)
    assert size < 1000 and reply["error"]["data"].endswith(f"… ({MB} characters)")

    reply, size = client.ask_sized(call(43, "search", {"query": "BERT", "k": int("9" * 4000)}))
    assert reply["result"]["isError"] and size < 1000, reply
    assert "k: must be between 1 and 200, got 999" in reply["result"]["content"][0]["text"]

    client.assert_serving()


def test_valid_tool_calls_still_work(client):
    found = client.ask(call(50, "search", {"query": "BERT", "k": 2}))
    assert found["id"] == 50 and not found["result"].get("isError"), found
    assert found["result"]["structuredContent"]["hits"] == []  # the store is empty
    missing = client.ask(call(51, "get_document", {"doc_id": "0000000000000000"}))
    assert missing["result"]["isError"] and "'0000000000000000': no such document" in missing["result"]["content"][0]["text"]
