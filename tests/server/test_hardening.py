"""Web hardening: security headers, the Host check (DNS rebinding), the login form
that replaced ``/?key=``, and one JSON error line for every failure."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.responses import Response
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from rag import Settings
from rag.errors import one_line
from rag.server import create_app
from rag.server.app import STATIC

from .conftest import LOOPBACK, client_for

QUESTION = "How much smaller and faster than BERT is TinyBERT at inference?"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def keyed(served) -> TestClient:
    return client_for(served, api_key=SecretStr("s3cret"))


def assert_security_headers(response) -> None:
    h = response.headers
    csp = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in h["content-security-policy"].split(";"))}
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "unsafe" not in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"


def assert_error_line(response, status: int, starts: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "\n" not in response.text.strip()
    body = response.json()
    assert set(body) <= {"error", "details"} and "detail" not in body, body
    assert body["error"].startswith(starts), body
    return body["error"]


# --- 1. security headers ------------------------------------------------------------------


def test_every_response_carries_the_security_headers(served, client):
    responses = [
        client.get("/"),
        client.get("/health"),
        client.get("/static/chat.js"),
        client.get("/static/chat.css"),
        client.get("/nope"),
        client.post("/search", json={"query": ""}),
        client.post("/ask", content=b"{", headers=JSON),
        client_for(served, max_request_bytes=1024).post("/ask", json={"question": "x" * 2000}),  # 413, from middleware
        TestClient(create_app(served)).get("/health"),  # Host: testserver, refused by the Host check
        client_for(served, api_key=SecretStr("k")).get("/info"),  # 401
    ]
    with client.stream("POST", "/ask", json={"question": QUESTION, "stream": True}) as streamed:
        streamed.read()
    responses.append(streamed)
    for r in responses:
        assert_security_headers(r)
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 404, 422, 400, 413, 400, 401, 200]


def test_the_pages_need_no_inline_script_or_style():
    """What the CSP forbids, the pages do not use (the browser test runs them under it)."""
    for name in ("index.html", "login.html"):
        html = (STATIC / name).read_text()
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert all("src=" in s for s in scripts), name
        assert "<style" not in html and " style=" not in html, name
        assert not re.search(r"\son[a-z]+\s*=", html), name  # no inline event handlers
        assert "javascript:" not in html, name
    js = (STATIC / "chat.js").read_text()
    assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", js)  # Trusted Types refuse these
    assert "eval(" not in js and "new Function" not in js


def test_a_security_header_a_route_sets_itself_is_kept_not_doubled(served):
    app = create_app(served)

    @app.get("/own")
    def own() -> Response:
        return Response("x", headers={"Referrer-Policy": "same-origin"})

    r = TestClient(app, base_url=LOOPBACK).get("/own")
    assert r.headers.get_list("referrer-policy") == ["same-origin"]
    assert len(r.headers.get_list("content-security-policy")) == 1


# --- 2. the Host check ----------------------------------------------------------------------


def test_only_loopback_hosts_are_answered_by_default(client):
    for host in ("localhost", "127.0.0.1", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST:80"):
        assert client.get("/health", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "testserver", "localhost.evil.example"):
        error = assert_error_line(client.get("/health", headers={"Host": host}), 400, "host: ")
        assert "RAG_ALLOWED_HOSTS" in error


def test_a_refused_host_gets_json_before_anything_else(served, client):
    """The check comes first: no body is read, no key is asked for."""
    r = client_for(served, api_key=SecretStr("k"), max_request_bytes=1024).post(
        "/ask", json={"question": "x" * 5000}, headers={"Host": "rebound.example"}
    )
    assert_error_line(r, 400, "host: 'rebound.example' is not an allowed host name")
    assert r.json() == {"error": r.json()["error"]}


def test_the_serve_host_and_configured_hosts_are_answered(served):
    client = client_for(served, serve_host="10.1.2.3", allowed_hosts=["rag.example.org", "*.lab.example", "fd00::7"])
    for host in ("10.1.2.3:8080", "rag.example.org", "gpu1.lab.example", "[fd00::7]:80", "localhost"):
        assert client.get("/health", headers={"Host": host}).status_code == 200, host
    for host in ("example.org", "lab.example.evil", "10.1.2.4"):
        assert client.get("/health", headers={"Host": host}).status_code == 400, host


def test_a_star_allows_any_host_and_bind_all_addresses_are_not_names(served):
    anyone = client_for(served, allowed_hosts=["*"])
    assert anyone.get("/health", headers={"Host": "whatever.example"}).status_code == 200
    bound_to_all = client_for(served, serve_host="0.0.0.0")
    assert bound_to_all.get("/health", headers={"Host": "0.0.0.0"}).status_code == 400
    assert bound_to_all.get("/health", headers={"Host": "127.0.0.1"}).status_code == 200


def test_allowed_hosts_setting_reads_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("RAG_ALLOWED_HOSTS", " rag.example.org, *.Lab.example ,::1,")
    assert Settings(_env_file=None).allowed_hosts == ["rag.example.org", "*.lab.example", "::1"]
    monkeypatch.setenv("RAG_ALLOWED_HOSTS", '["a.example", "*"]')
    assert Settings(_env_file=None).allowed_hosts == ["a.example", "*"]
    monkeypatch.delenv("RAG_ALLOWED_HOSTS")
    assert Settings(_env_file=None).allowed_hosts == []
    for bad, reason in (
        ("rag.example.org:8080", "without a port"),
        ("https://rag.example.org", "host name only"),
        ("rag.*.example", "wildcard"),
        ("*example.org", "wildcard"),
    ):
        monkeypatch.setenv("RAG_ALLOWED_HOSTS", bad)
        with pytest.raises(ValidationError) as caught:
            Settings(_env_file=None)
        message = one_line(caught.value.errors(), env_prefix="RAG_")
        assert message.startswith("RAG_ALLOWED_HOSTS: ") and reason in message, message


# --- 3. the login form ----------------------------------------------------------------------


def test_the_page_shows_a_login_form_that_posts_the_key(keyed):
    page = keyed.get("/")
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert '<form id="login-form" method="post" action="/login">' in page.text
    assert 'name="key" type="password"' in page.text and "Wrong API key" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert keyed.get("/static/chat.css").status_code == 200  # the form's look needs no key
    assert keyed.get("/static/chat.js").status_code == 401
    assert keyed.get("/static/nope.js").status_code == 401  # no file names told before the key

    wrong = keyed.post("/login", data={"key": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "Wrong API key" in wrong.text and "set-cookie" not in wrong.headers
    assert keyed.get("/info").status_code == 401

    login = keyed.post("/login", data={"key": "s3cret"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    cookie = login.headers["set-cookie"].lower()
    assert cookie.startswith("rag_api_key=s3cret;") and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/" in cookie and "secure" not in cookie  # plain http on loopback: a Secure cookie would not come back
    page = keyed.get("/")
    assert page.status_code == 200 and 'id="ask-form"' in page.text
    assert keyed.get("/info").status_code == 200 and keyed.get("/static/chat.js").status_code == 200


def test_the_key_in_the_address_no_longer_logs_in(keyed):
    r = keyed.get("/?key=s3cret", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # out of the address bar
    assert "set-cookie" not in r.headers
    assert keyed.get("/").status_code == 401 and keyed.get("/info").status_code == 401
    assert keyed.get("/info?key=s3cret").status_code == 401


def test_login_takes_json_too_and_answers_json_errors(keyed):
    wrong = keyed.post("/login", json={"key": "guess"}, follow_redirects=False)
    assert_error_line(wrong, 401, "authorization: missing or wrong API key")
    for body in (b"[1]", b'{"key": 5}', b"{not json", b"[" * 5000):
        assert keyed.post("/login", content=body, headers=JSON, follow_redirects=False).status_code == 401
    assert keyed.post("/login", content=b"", follow_redirects=False).status_code == 401
    ok = keyed.post("/login", json={"key": "s3cret"}, follow_redirects=False)
    assert ok.status_code == 303 and keyed.get("/info").status_code == 200


def test_login_over_https_sets_a_secure_cookie(served):
    client = client_for(served, api_key=SecretStr("s3cret"))
    client.base_url = "https://localhost"
    login = client.post("/login", data={"key": "s3cret"}, follow_redirects=False)
    assert login.status_code == 303 and "secure" in login.headers["set-cookie"].lower()


def test_without_a_key_login_just_leads_to_the_page(client):
    r = client.post("/login", data={"key": "anything"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/" and "set-cookie" not in r.headers


# --- 5. one JSON error line for every failure ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "starts"),
    [
        (b'{"query": "caf\xe9"}', 400, "request body: not valid UTF-8"),
        (b'{"query": "\xc3\x28"}', 400, "request body: not valid UTF-8"),
        (b"[" * 60_000, 400, "request body: JSON nested too deeply"),
        (b'{"query": ' + b'{"a": ' * 5000, 400, "request body: JSON nested too deeply"),
        (b'{"query": "bert",}', 400, "request body: not valid JSON (Expecting property name enclosed in double quotes at character 17)"),
        (b"{not json", 400, "request body: not valid JSON (Expecting property name"),
        (b'"just a string"', 422, "body: Input should be a valid dictionary"),
    ],
    ids=["latin1", "broken-sequence", "deep-array", "deep-object", "trailing-comma", "not-json", "not-an-object"],
)
def test_unreadable_bodies_answer_one_error_line(client, body, status, starts):
    assert_error_line(client.post("/search", content=body, headers=JSON), status, starts)


def test_nesting_under_the_limit_is_an_ordinary_validation_error(client):
    depth = 500
    r = client.post("/search", content=b'{"query": ' + b"[" * depth + b"]" * depth + b"}", headers=JSON)
    assert_error_line(r, 422, "query: Input should be a valid string")


def test_no_route_and_wrong_method_answer_one_error_line(client, keyed):
    assert_error_line(client.get("/nope"), 404, "/nope: no such route")
    assert_error_line(client.get("/static/nope.js"), 404, "static: no file 'nope.js'")
    r = client.get("/search")
    assert_error_line(r, 405, "/search: method GET not allowed (allowed: POST)")
    assert r.headers["allow"] == "POST"
    assert_error_line(client.delete("/health"), 405, "/health: method DELETE not allowed (allowed: GET)")
    assert_error_line(client.put("/documents/x"), 405, "/documents/x: method PUT not allowed")
    assert_error_line(keyed.get("/nope"), 404, "/nope: no such route")  # an unknown path: nothing to guard
    assert_error_line(client.get("/" + "x" * 5000), 404, "/" + "x" * 199 + ": no such route")


def test_an_unexpected_failure_is_a_json_500(served):
    app = create_app(served)

    @app.get("/boom")
    def boom() -> None:
        raise ZeroDivisionError("secret internals")

    r = TestClient(app, base_url=LOOPBACK, raise_server_exceptions=False).get("/boom")
    assert_error_line(r, 500, "internal error")
    assert "secret" not in r.text
    assert_security_headers(r)


def test_error_bodies_are_single_json_lines(client):
    """Starlette's defaults ({"detail": ...}, plain text) never leak through."""
    for r in (
        client.get("/nope"),
        client.post("/ask", content=b"\x80", headers=JSON),
        client.post("/ask", json={"question": ""}),
        client.get("/health", headers={"Host": "evil.example"}),
    ):
        assert len(r.text.strip().splitlines()) == 1
        assert "detail" not in json.loads(r.text)
