"""The api_call action against a real HTTP server on 127.0.0.1: auth from the environment,
JSON in and out, extraction, errors, retries and timeouts through the real runner, and the
secret kept out of every record."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from hunter_cli.components.actions.api_call import ApiCall, HttpTransientError, parse_retry_after
from hunter_cli.components.base import StepError, StepTimeout
from hunter_cli.config import load_settings
from hunter_cli.db.models import AuditLog, Execution
from hunter_cli.engine.runner import Runner
from hunter_cli.recipe import load_and_validate
from tests.components.test_data_processing import make_ctx
from tests.servers import LoopbackServer, RecordedRequest, Reply

SECRET = "sk_live_s3cr3t+/value=="  # characters that change when URL- or base64-encoded


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def secret(monkeypatch) -> str:
    monkeypatch.setenv("TEST_API_KEY", SECRET)
    return SECRET


def call(settings=None, **params):
    ctx = make_ctx()
    if settings is not None:
        ctx.settings = settings
    output = ApiCall().run(params, ctx)
    return output, ctx


# --- direct calls -----------------------------------------------------------------------------


def test_get_with_query_and_bearer_auth(server, secret):
    def search(request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {SECRET}":
            return Reply(status=401, json={"error": "bad key"})
        return Reply(
            json={
                "data": {"results": [{"name": "Acme", "domain": "acme.com"}]},
                "total": 1,
                "q": request.arg("q"),
                "page": request.arg("page"),
            }
        )

    server.route("GET", "/v1/search", search)
    output, ctx = call(
        url=f"{server.url}/v1/search",
        query={"q": "saas crm", "page": 2, "skip": None},
        auth={"type": "bearer", "env": "TEST_API_KEY"},
        extract={"first": "data.results[0].name", "total": "total", "nope": "data.results[5].name"},
    )
    assert output["status"] == 200
    assert output["data"]["q"] == "saas crm" and output["data"]["page"] == "2"
    assert output["extracted"] == {"first": "Acme", "total": 1, "nope": None}
    # A path that finds nothing is null, and said: it may be a misspelt path.
    assert ctx.warnings == [
        "step process: extract found nothing at nope (data.results[5].name) in the response "
        "(`hunter executions show ID --step process` shows it)"
    ]
    assert output["headers"]["content-type"] == "application/json"
    assert "text" not in output
    request = server.requests[0]
    assert "skip" not in request.query  # null query values are left out
    assert ctx.meta["http"]["status"] == 200
    assert ctx.meta["http"]["request"] == f"GET {server.url}/v1/search"


def test_post_json_with_headers(server):
    server.route(
        "POST",
        "/items",
        lambda r: Reply(status=201, json={"got": r.json(), "ua": r.headers.get("x-app")}),
    )
    output, _ = call(
        method="post",
        url=f"{server.url}/items",
        json={"name": "Acme", "tags": ["a", "b"], "n": 1.5},
        headers={"X-App": "hunter"},
    )
    assert output["status"] == 201
    assert output["data"] == {"got": {"name": "Acme", "tags": ["a", "b"], "n": 1.5}, "ua": "hunter"}
    assert server.requests[0].headers["content-type"] == "application/json"


def test_text_response_is_returned_truncated(server):
    server.route("GET", "/page", Reply(body="x" * 20_000, headers={"Content-Type": "text/html"}))
    output, _ = call(url=f"{server.url}/page", extract={"a": "b"})
    assert output["data"] is None
    assert len(output["text"]) == 10_000
    assert output["extracted"] == {"a": None}


@pytest.mark.parametrize("kind", ["basic", "header", "query"])
def test_other_auth_types(server, monkeypatch, kind):
    monkeypatch.setenv("TEST_API_KEY", "user:" + SECRET)
    server.route("GET", "/me", lambda r: Reply(json={"ok": True}))
    auth = {"type": kind, "env": "TEST_API_KEY"}
    if kind != "basic":
        auth["name"] = "X-Api-Key" if kind == "header" else "api_key"
    output, ctx = call(url=f"{server.url}/me", auth=auth)
    assert output["data"] == {"ok": True}
    request = server.requests[0]
    if kind == "basic":
        token = base64.b64encode(f"user:{SECRET}".encode()).decode()
        assert request.headers["authorization"] == f"Basic {token}"
    elif kind == "header":
        assert request.headers["x-api-key"] == "user:" + SECRET
    else:
        assert request.arg("api_key") == "user:" + SECRET
    assert SECRET not in json.dumps(ctx.meta)


def test_missing_secret_names_the_variable(server, monkeypatch):
    monkeypatch.delenv("TEST_MISSING_KEY", raising=False)
    with pytest.raises(StepError, match="environment variable TEST_MISSING_KEY is not set"):
        call(url=f"{server.url}/x", auth={"type": "bearer", "env": "TEST_MISSING_KEY"})
    assert server.requests == []


def test_client_error_is_permanent_and_scrubbed(server, secret):
    server.route(
        "GET",
        "/lookup",
        lambda r: Reply(
            status=403, json={"error": "key rejected", "key": r.headers["authorization"]}
        ),
    )
    with pytest.raises(StepError) as raised:
        call(url=f"{server.url}/lookup", auth={"type": "bearer", "env": "TEST_API_KEY"})
    assert not isinstance(raised.value, HttpTransientError)
    message = raised.value.message
    assert message.startswith(f"HTTP 403 Forbidden from GET {server.url}/lookup: ")
    assert "key rejected" in message
    assert SECRET not in message and "[REDACTED]" in message


def test_429_and_5xx_are_transient_with_retry_after(server):
    server.route("GET", "/busy", Reply(status=429, body="slow down", headers={"Retry-After": "7"}))
    server.route("GET", "/down", Reply(status=503, body=""))
    with pytest.raises(HttpTransientError) as busy:
        call(url=f"{server.url}/busy")
    assert busy.value.status == 429 and busy.value.retry_after == 7.0
    assert "(retry after 7 s): slow down" in busy.value.message
    with pytest.raises(HttpTransientError) as down:
        call(url=f"{server.url}/down")
    assert down.value.retry_after is None
    assert down.value.message.endswith("(empty body)")


def test_retry_after_as_a_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_connection_refused_is_transient():
    with LoopbackServer() as gone:
        url = f"{gone.url}/x"
    with pytest.raises(HttpTransientError, match="failed"):
        call(url=url)


def test_timeout_from_the_step_deadline(server):
    server.route("GET", "/slow", Reply(json={}, delay=2))
    ctx = make_ctx()
    ctx.deadline = time.monotonic() + 0.3
    started = time.monotonic()
    with pytest.raises(StepTimeout, match="timed out after 0.3"):
        ApiCall().run({"url": f"{server.url}/slow"}, ctx)
    assert time.monotonic() - started < 1.5


def test_bad_url():
    with pytest.raises(StepError, match="url must be an http:// or https:// URL"):
        call(url="ftp://example.com/x")


@pytest.mark.parametrize(("status", "pad"), [(400, 170), (503, 180), (200, 9_990)])
def test_a_secret_cut_by_an_excerpt_or_cap_does_not_survive_in_part(server, secret, status, pad):
    """Regression: the key was scrubbed only after the 200-character error excerpt or the
    10,000-character text cap had cut it in two, so its first part was stored for good."""
    server.route(
        "GET",
        "/echo",
        lambda r: Reply(
            status=status,
            body=("E" * pad + r.headers["authorization"]).encode(),
            headers={"content-type": "text/plain"},
        ),
    )
    try:
        output, _ = call(url=f"{server.url}/echo", auth={"type": "bearer", "env": "TEST_API_KEY"})
        shown = output["text"]
    except StepError as exc:
        shown = exc.message
    assert "Bearer" in shown and SECRET[:4] not in shown


def test_the_scrubber_removes_a_cut_off_piece_at_either_end():
    from hunter_cli.scrub import SecretScrubber

    scrubber = SecretScrubber([SECRET])
    assert scrubber.text(f"x {SECRET[:9]}") == "x [REDACTED]"
    assert scrubber.text(f"{SECRET[-9:]} y") == "[REDACTED] y"
    assert scrubber.text("x sk_") == "x sk_"  # under 8 characters: ordinary text
    # Regression: a message that began with a word the key ends in lost that word.
    groq = SecretScrubber(["gsk_SECRETgroq"])
    assert groq.text("groq could not be reached") == "groq could not be reached"
    assert groq.text("key gsk_SECRETg") == "key [REDACTED]"


def test_query_secret_kept_out_of_httpx_log(server, secret, caplog):
    server.route("GET", "/q", Reply(json={"echo": SECRET}))
    with caplog.at_level(logging.DEBUG):
        output, _ = call(
            url=f"{server.url}/q", auth={"type": "query", "env": "TEST_API_KEY", "name": "key"}
        )
    assert output["data"] == {"echo": "[REDACTED]"}  # an echoed key is scrubbed too
    assert "HTTP Request" in caplog.text
    assert SECRET not in caplog.text
    assert "s3cr3t" not in caplog.text


def test_plan(monkeypatch):
    monkeypatch.delenv("TEST_API_KEY", raising=False)
    plan = ApiCall().plan(
        {
            "method": "post",
            "url": "https://api.example.com:8443/v1/x?a=1",
            "auth": {"type": "bearer", "env": "TEST_API_KEY"},
        },
        make_ctx(),
    )
    assert plan == {
        "provider": "http:POST api.example.com:8443",
        "request": "POST https://api.example.com:8443/v1/x?a=1",
        "auth_env": {"name": "TEST_API_KEY", "set": False},
        "problem": "auth: environment variable TEST_API_KEY is not set",
    }


def test_plan_shows_the_whole_request_without_secrets() -> None:
    plan = ApiCall().plan(
        {
            "method": "POST",
            "url": "https://user:pa55@api.example.com/v1/search?q=dentists&api_key=abc123#top",
            "query": {"page": 2, "exact": True, "access_token": "t0k", "skip": None},
            "json": {"query": "dentists", "password": "hunter2", "limit": 5},
            "auth": {"type": "query", "env": "TEST_API_KEY", "name": "key"},
        },
        make_ctx(),
    )
    assert plan["request"] == (
        "POST https://user:[REDACTED]@api.example.com/v1/search?q=dentists&"
        "api_key=[REDACTED]&page=2&exact=true&access_token=[REDACTED]&key=[REDACTED]"
    )
    assert plan["body"] == '{"query": "dentists", "password": "[REDACTED]", "limit": 5}'
    for secret in ("pa55", "abc123", "t0k", "hunter2"):
        assert secret not in json.dumps(plan)
    # A URL only the run will know is shown as written.
    later = ApiCall().plan({"url": "{{ steps.a.output.next }}"}, make_ctx())
    assert later["request"] == "GET {{ steps.a.output.next }}"
    assert "body" not in later


# --- through the runner, on both backends -----------------------------------------------------


def run_recipe(db, tmp_path: Path, steps: list[dict], outputs: dict | None = None):
    recipe = {
        "slug": "api",
        "name": "API",
        "version": 1,
        "description": "api calls",
        "inputs": {"type": "object", "properties": {}},
        "steps": steps,
        "outputs": outputs or {},
    }
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    settings = load_settings(database_url=db.url, actor="tester", environ={})
    return Runner(db, settings).run(load_and_validate(str(path)), "acme", {})


def stored_steps(db, execution_id) -> list[dict]:
    with db.session() as session:
        return list(session.get(Execution, execution_id).steps)


def test_retry_succeeds_on_the_second_attempt(seeded, tmp_path, server):
    server.route("GET", "/flaky", Reply(status=500, body="oops"), Reply(json={"data": {"id": 42}}))
    result = run_recipe(
        seeded,
        tmp_path,
        [
            {
                "id": "call",
                "type": "action",
                "action": "api_call",
                "url": f"{server.url}/flaky",
                "extract": {"id": "data.id"},
                "retry": {"attempts": 3, "backoff": 0},
            },
        ],
        outputs={"id": "{{ steps.call.output.extracted.id }}"},
    )
    assert result.status == "success", result.error
    assert result.outputs == {"id": 42}
    assert len(server.requests) == 2
    [record] = stored_steps(seeded, result.execution_id)
    assert record["status"] == "ok" and record["attempts"] == 2


def test_a_retry_after_longer_than_max_backoff_is_not_waited_for(seeded, tmp_path, server):
    server.route("GET", "/busy", Reply(status=429, body="later", headers={"Retry-After": "3600"}))
    step = {
        "id": "call",
        "type": "action",
        "action": "api_call",
        "url": f"{server.url}/busy",
        "retry": {"attempts": 3, "backoff": 0, "max_backoff": 30},
    }
    started = time.monotonic()
    result = run_recipe(seeded, tmp_path, [step])
    assert time.monotonic() - started < 5
    assert result.status == "failed" and len(server.requests) == 1
    assert result.steps[0].error.endswith(
        "; the server asks to wait 60 min, more than this step's max_backoff (30 s), so it was "
        "not asked again"
    )


def test_not_found_fails_the_step_clearly(seeded, tmp_path, server):
    server.route("GET", "/other", Reply(json={}))
    result = run_recipe(
        seeded,
        tmp_path,
        [
            {
                "id": "call",
                "type": "action",
                "action": "api_call",
                "url": f"{server.url}/missing",
                "retry": {"attempts": 3, "backoff": 0},
            },
        ],
    )
    assert result.status == "failed"
    step = result.steps[0]
    assert step.status == "failed" and step.attempts == 1  # a 404 is not retried
    assert step.error.startswith(f"HTTP 404 Not Found from GET {server.url}/missing: ")
    assert result.error == f"step 'call' failed: {step.error}"


def test_timeout_control(seeded, tmp_path, server):
    server.route("GET", "/slow", Reply(json={}, delay=3))
    started = time.monotonic()
    result = run_recipe(
        seeded,
        tmp_path,
        [
            {
                "id": "call",
                "type": "action",
                "action": "api_call",
                "url": f"{server.url}/slow",
                "timeout": 0.5,
            },
        ],
    )
    assert time.monotonic() - started < 2.5
    assert result.status == "failed"
    assert "timed out after 0.5 s" in result.steps[0].error


def test_secret_never_reaches_the_records(seeded, tmp_path, server, secret):
    def echo(request: RecordedRequest) -> Reply:
        return Reply(
            json={
                "seen": request.headers.get("x-key") or request.arg("key"),
                "url": request.raw_path,
            }
        )

    server.route("GET", "/echo", echo)
    server.route("GET", "/deny", lambda r: Reply(status=401, body=f"bad key {r.arg('key')}"))
    server.route("GET", "/boom", lambda r: Reply(status=502, body=f"upstream saw {r.arg('key')}"))
    result = run_recipe(
        seeded,
        tmp_path,
        [
            {
                "id": "header",
                "type": "action",
                "action": "api_call",
                "url": f"{server.url}/echo",
                "auth": {"type": "header", "env": "TEST_API_KEY", "name": "X-Key"},
            },
            {
                "id": "query",
                "type": "action",
                "action": "api_call",
                "url": f"{server.url}/echo",
                "auth": {"type": "query", "env": "TEST_API_KEY", "name": "key"},
            },
            {
                "id": "deny",
                "type": "action",
                "action": "api_call",
                "url": f"{server.url}/deny",
                "auth": {"type": "query", "env": "TEST_API_KEY", "name": "key"},
                "on_error": "continue",
            },
            {
                "id": "boom",
                "type": "action",
                "action": "api_call",
                "url": f"{server.url}/boom",
                "auth": {"type": "query", "env": "TEST_API_KEY", "name": "key"},
                "retry": {"attempts": 2, "backoff": 0},
                "on_error": "continue",
            },
        ],
        outputs={"seen": "{{ steps.header.output.data.seen }}"},
    )
    assert result.status == "partial", result.error
    assert len(server.requests) == 5  # the secret really was sent each time
    assert all(SECRET in (r.headers.get("x-key") or r.arg("key") or "") for r in server.requests)
    assert result.outputs == {"seen": "[REDACTED]"}
    assert "bad key [REDACTED]" in result.steps[2].error
    assert "upstream saw [REDACTED]" in result.steps[3].error
    forms = [SECRET, "s3cr3t"]
    everything = json.dumps(result.to_dict())
    with seeded.session() as session:
        execution = session.get(Execution, result.execution_id)
        everything += json.dumps([execution.steps, execution.outputs, execution.error])
        audit = session.scalars(
            select(AuditLog.details).where(AuditLog.execution_id == result.execution_id)
        ).all()
        everything += json.dumps(list(audit))
    for form in forms:
        assert form not in everything


@pytest.mark.parametrize("with_query", [False, True])
def test_query_auth_and_query_keep_the_urls_own_query_string(server, secret, with_query):
    """Regression: auth of type query replaced the URL's ?x=1&y=2 with ?key=... alone."""
    server.route("GET", "/ok", Reply(json={"ok": True}))
    extra = {"query": {"page": 3, "y": "two"}} if with_query else {}
    output, _ = call(
        url=f"{server.url}/ok?x=1&y=2",
        auth={"type": "query", "env": "TEST_API_KEY", "name": "api_key"},
        **extra,
    )
    assert output["status"] == 200
    request = server.requests[0]
    expected = {"x": ["1"], "y": ["2"], "api_key": [SECRET]}
    if with_query:
        expected.update(page=["3"], y=["two"])  # the mapping's value wins over the URL's
    assert request.query == expected


@pytest.mark.parametrize("env", ["GROQ_API_KEY", "SMTP_PASSWORD", "HUNTER_DATABASE_URL", "MY_PG"])
def test_hunters_own_credentials_are_not_sent_by_a_recipe(server, monkeypatch, tmp_path, env):
    """Regression: a shared recipe's `auth: {env: GROQ_API_KEY}` posted the AI key (or the
    SMTP password, the database URL...) to the host of the recipe's choosing."""
    from hunter_cli.config import load_settings

    config = tmp_path / "hunter.toml"
    config.write_text('[channels.email]\nhost = "x"\npassword_env = "MY_PG"\n')
    monkeypatch.setenv(env, "the-secret")
    settings = load_settings(config=str(config), environ={})
    server.route("GET", "/collect", lambda r: Reply(json={}))
    auth = {"type": "header", "name": "X-Key", "env": env}
    with pytest.raises(StepError, match=f"auth.env {env} holds one of hunter's own credentials"):
        call(url=f"{server.url}/collect", auth=auth, settings=settings)
    assert server.requests == []
    # The plan says so before anything runs.
    ctx = make_ctx()
    ctx.settings = settings
    plan = ApiCall().plan({"url": f"{server.url}/collect", "auth": auth}, ctx)
    assert plan["auth_env"]["refused"] is True and "(refused: " in plan["request"]
    # Listed in [http] allow_env, it may be sent.
    config.write_text(config.read_text() + f'[http]\nallow_env = ["{env}"]\n')
    allowed = load_settings(config=str(config), environ={})
    output, _ = call(url=f"{server.url}/collect", auth=auth, settings=allowed)
    assert output["status"] == 200 and server.requests[0].headers["x-key"] == "the-secret"


def test_a_body_that_only_claims_to_be_json_is_text_and_said(server):
    """Regression: `Content-Type: application/json` with `{"a": 1,` gave data null, status
    ok and no word of why."""
    server.route(
        "GET",
        "/broken",
        lambda r: Reply(body=b'{"a": 1,', headers={"content-type": "application/json"}),
    )
    output, ctx = call(url=f"{server.url}/broken")
    assert output["data"] is None and output["text"] == '{"a": 1,'
    [warning] = ctx.warnings
    assert warning.startswith(f"step process: GET {server.url}/broken answered 'application/json")
    assert warning.endswith("but the body is not JSON: it is in output.text")


# --- response size ----------------------------------------------------------------------------


def test_a_response_larger_than_the_cap_is_refused_not_stored(server, monkeypatch):
    """Regression: a 50 MB JSON answer was kept whole in the execution's record (a 105 MB
    workspace database after one run). Over the cap is a clear error, under it is data."""
    import hunter_cli.components.actions.api_call as api_call

    monkeypatch.setattr(api_call, "MAX_RESPONSE_BYTES", 1000)  # a constant, not our logic
    server.route("GET", "/big", Reply(json={"rows": ["x" * 50] * 40}))
    server.route("GET", "/small", Reply(json={"rows": ["x" * 50] * 10}))
    with pytest.raises(
        StepError, match="the response is larger than 1,000 bytes, the most a step keeps"
    ):
        call(url=f"{server.url}/big")
    output, _ = call(url=f"{server.url}/small")
    assert len(output["data"]["rows"]) == 10


def test_a_response_without_a_length_is_cut_off_as_it_arrives(monkeypatch):
    """A server that sends no Content-Length (the body ends when it closes) is read only up
    to the cap, not to the end."""
    import socket
    import threading

    import hunter_cli.components.actions.api_call as api_call

    monkeypatch.setattr(api_call, "MAX_RESPONSE_BYTES", 64 * 1024)
    listener = socket.create_server(("127.0.0.1", 0))
    sent = []

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            conn.sendall(b"Connection: close\r\n\r\n[")
            try:
                for _ in range(1000):  # 16 MB if read to the end
                    conn.sendall(b'"' + b"x" * 16380 + b'",')
                    sent.append(1)
            except OSError:  # the client stopped reading and closed
                pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    with pytest.raises(StepError, match="the response is larger than"):
        call(url=f"http://127.0.0.1:{port}/stream")
    thread.join(10)
    listener.close()
    assert len(sent) < 1000


def test_a_redirect_is_a_success_with_a_warning(server, secret):
    """A 3xx is not followed (the auth would go along) and stays a success, but the recipe
    hears of it: a warning naming the status and where it points (without its query)."""
    server.route(
        "GET",
        "/old",
        Reply(status=301, headers={"Location": "https://new.example/api?token=abc"}),
    )
    output, ctx = call(url=server.url + "/old", auth={"type": "bearer", "env": "TEST_API_KEY"})
    assert output["status"] == 301 and output["data"] is None
    assert output["headers"]["location"] == "https://new.example/api?token=abc"
    assert ctx.warnings == [
        f"step process: GET {server.url}/old answered HTTP 301 Moved Permanently, a redirect to "
        "https://new.example/api, which was not followed (output.headers.location has it)"
    ]
    assert len(server.requests) == 1
