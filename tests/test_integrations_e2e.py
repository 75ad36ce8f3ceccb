"""The three bundled recipes end to end through the real CLI against a fake of every service
hunter talks to (Groq through the `groq` SDK, Hunter.io, Apollo, SMTP with AUTH, Twilio,
a Standard Webhooks receiver, ntfy), on SQLite and PostgreSQL; then a search for every
secret in every database row, the audit trail, every CLI output, every execution's details
and every log record."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import MetaData, create_engine, select

from tests import channel_servers
from tests.ai_server import FakeChatServer, rate_limited
from tests.channel_servers import FakeNtfy, FakeTwilio, SmtpServer, WebhookReceiver
from tests.conftest import CliResult
from tests.lead_servers import FakeApollo, FakeHunter
from tests.servers import LoopbackServer, RecordedRequest, Reply

GROQ_KEY = "gsk_SECRET_groq_7f3a9c"
HUNTER_KEY = "hunter_SECRET_key_51bd"
APOLLO_KEY = "apollo_SECRET_key_77"
SMTP_USERNAME = "mailer-e2e"  # a user name, not a secret
SMTP_PASSWORD = "smtp_SECRET_pw_c0ffee"
TWILIO_SID = channel_servers.TWILIO_SID  # the fake Twilio's account; an id, not a secret
TWILIO_TOKEN = "twilio_SECRET_tok_9e2d"
NTFY_TOKEN = "ntfy_SECRET_tok_aa11"
# A valid Standard Webhooks secret whose base64 body itself reads as a marker (any run of
# base64 characters whose length is a multiple of 4 decodes to a key).
WEBHOOK_MARKER = "WhkSECRETmarker9d4e"
WEBHOOK_BODY = WEBHOOK_MARKER + "Q" * 25  # 44 characters: a 33-byte key
WEBHOOK_SECRET = "whsec_" + WEBHOOK_BODY
# Keys the services refuse: the failure paths must not leak them either.
WRONG_GROQ_KEY = "gsk_SECRET_wrong_groq_b4"
WRONG_HUNTER_KEY = "hunter_SECRET_wrong_key_e8"
WRONG_SMTP_PASSWORD = "smtp_SECRET_wrong_pw_dd"

ENVIRONMENT = {
    "GROQ_API_KEY": GROQ_KEY,
    "HUNTER_API_KEY": HUNTER_KEY,
    "APOLLO_API_KEY": APOLLO_KEY,
    "SMTP_USERNAME": SMTP_USERNAME,
    "SMTP_PASSWORD": SMTP_PASSWORD,
    "TWILIO_ACCOUNT_SID": TWILIO_SID,
    "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "WEBHOOK_SECRET": WEBHOOK_SECRET,
    "NTFY_TOKEN": NTFY_TOKEN,
}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_forms() -> dict[str, str]:
    """Every form a secret could leak in -> a label for the failure message."""
    values = [
        GROQ_KEY,
        HUNTER_KEY,
        APOLLO_KEY,
        SMTP_PASSWORD,
        TWILIO_TOKEN,
        NTFY_TOKEN,
        WRONG_GROQ_KEY,
        WRONG_HUNTER_KEY,
        WRONG_SMTP_PASSWORD,
    ]
    forms: dict[str, str] = {}
    for value in values:
        forms[value] = value
        forms[quote(value, safe="")] = f"url-encoded {value}"
        forms[quote_plus(value)] = f"url-encoded {value}"
    forms[WEBHOOK_SECRET] = "the whsec_ webhook secret"
    forms[WEBHOOK_BODY] = "the webhook secret's base64 body"
    forms[WEBHOOK_MARKER] = "the webhook secret's marker"
    # Basic auth (Twilio), SMTP AUTH PLAIN ("\0user\0password") and LOGIN (each alone).
    forms[_b64(f"{TWILIO_SID}:{TWILIO_TOKEN}")] = "Twilio basic-auth credentials"
    for password in (SMTP_PASSWORD, WRONG_SMTP_PASSWORD):
        forms[_b64(f"\0{SMTP_USERNAME}\0{password}")] = "SMTP AUTH PLAIN credentials"
        forms[_b64(password)] = "an SMTP AUTH LOGIN password"
    return forms


def leaks(where: str, text: str) -> list[str]:
    return [f"{label} in {where}" for form, label in secret_forms().items() if form in text]


# --- the fake services with this module's credentials ----------------------------------------


class SecretSmtpServer(SmtpServer):
    """The aiosmtpd fixture server, accepting this module's SMTP user and password."""

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USERNAME
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            self.logins.append(SMTP_USERNAME)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SecretTwilio(FakeTwilio):
    """The fake Twilio, checking basic auth with this module's token, then answering as the
    fixture does (it checks its own token, so it is handed that one)."""

    def __init__(self, server: LoopbackServer) -> None:
        super().__init__(server)
        self.authorizations: list[str | None] = []

    def _answer(self, request: RecordedRequest) -> Reply:
        given = request.headers.get("authorization")
        self.authorizations.append(given)
        if given != f"Basic {_b64(f'{TWILIO_SID}:{TWILIO_TOKEN}')}":
            return super()._answer(dataclasses.replace(request, headers={}))
        own = f"Basic {_b64(f'{TWILIO_SID}:{channel_servers.TWILIO_TOKEN}')}"
        return super()._answer(
            dataclasses.replace(request, headers={**request.headers, "authorization": own})
        )


@dataclass
class Services:
    ai: FakeChatServer
    hunter: FakeHunter
    apollo: FakeApollo
    smtp: SecretSmtpServer
    twilio: SecretTwilio
    webhook: WebhookReceiver
    ntfy: FakeNtfy


@pytest.fixture
def services() -> Iterator[Services]:
    with LoopbackServer() as ai_http, LoopbackServer() as leads_http, LoopbackServer() as out:
        smtp = SecretSmtpServer().start()
        try:
            ntfy = FakeNtfy(out, token=NTFY_TOKEN)
            ntfy.topic("leads-acme")
            yield Services(
                ai=FakeChatServer(ai_http, api_key=GROQ_KEY),
                hunter=FakeHunter(leads_http, key=HUNTER_KEY),
                apollo=FakeApollo(leads_http, key=APOLLO_KEY),
                smtp=smtp,
                twilio=SecretTwilio(out),
                webhook=WebhookReceiver(out, secret=WEBHOOK_SECRET),
                ntfy=ntfy,
            )
        finally:
            smtp.stop()


def hunter_toml(s: Services) -> str:
    return f"""
[workspace]
default_customer = "acme"

[ai]
provider = "groq"
base_url = "{s.ai.url}"
api_key_env = "GROQ_API_KEY"
model = "openai/gpt-oss-120b"
timeout = 10
retry_backoff = 0

[providers.hunter_io]
base_url = "{s.hunter.server.url}"
api_key_env = "HUNTER_API_KEY"
backoff = 0
page_size = 10

[providers.apollo]
base_url = "{s.apollo.server.url}"
api_key_env = "APOLLO_API_KEY"
backoff = 0

[channels.email]
host = "{s.smtp.host}"
port = {s.smtp.port}
security = "none"
timeout = 5
username_env = "SMTP_USERNAME"
password_env = "SMTP_PASSWORD"
unsubscribe_mailto = "unsubscribe@acme.example"
unsubscribe_url = "https://acme.example/unsubscribe?e={{email}}"

[channels.sms]
from = "+15005550006"
base_url = "{s.twilio.url}"
account_sid_env = "TWILIO_ACCOUNT_SID"
auth_token_env = "TWILIO_AUTH_TOKEN"
backoff = 0

[channels.webhook]
secret_env = "WEBHOOK_SECRET"
backoff = 0

[channels.push]
server = "{s.ntfy.url}"
token_env = "NTFY_TOKEN"
backoff = 0
"""


def alerts_recipe(webhook_url: str) -> str:
    """A workspace recipe for the channels outreach does not use: SMS, webhook and push."""
    return f"""
slug: alerts
name: Alerts
version: 1
description: Tell the team about a lead by SMS, webhook and push.
inputs:
  type: object
  properties:
    phone: {{type: string}}
    email: {{type: string}}
  required: [phone, email]
steps:
  - id: text
    type: correspondence
    channel: sms
    to: "{{{{ inputs.phone }}}}"
    body: "A lead is ready: {{{{ inputs.email }}}}"
  - id: hook
    type: correspondence
    channel: webhook
    url: "{webhook_url}"
    topic: lead.ready
    payload: {{email: "{{{{ inputs.email }}}}"}}
  - id: notify
    type: correspondence
    channel: push
    topic: leads-acme
    subject: Lead ready
    body: "{{{{ inputs.email }}}}"
"""


@dataclass
class Recorder:
    """The `cli` fixture, keeping every invocation's output for the leak search."""

    invoke: Callable[..., CliResult]
    outputs: list[tuple[str, CliResult]] = field(default_factory=list)

    def __call__(self, *args: str) -> CliResult:
        result = self.invoke(*args)
        self.outputs.append((" ".join(args), result))
        return result

    def ok(self, *args: str) -> Any:
        return self(*args, "--json").ok()


def database_text(url: str) -> list[tuple[str, str]]:
    """(table, text of every value of every row) for every table."""
    engine = create_engine(url)
    found = []
    try:
        metadata = MetaData()
        metadata.reflect(bind=engine)
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                parts = []
                for row in conn.execute(select(table)):
                    for value in row:
                        if isinstance(value, bytes | memoryview):
                            value = bytes(value).decode("utf-8", "replace")
                        elif isinstance(value, dict | list):
                            value = json.dumps(value, default=str)
                        parts.append(str(value))
                found.append((table.name, "\n".join(parts)))
    finally:
        engine.dispose()
    return found


# --- the scenario both tests run -------------------------------------------------------------

SEARCH = "/v2/domain-search"


@dataclass
class Scenario:
    """What a run of the scenario left to check."""

    run: Recorder
    chosen: list[dict[str, Any]]  # the leads intelligence ran on
    sent_ids: list[str]


def configure(workspace: Path, services: Services, monkeypatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    (workspace / "hunter.toml").write_text(hunter_toml(services))
    (workspace / "recipes").mkdir()
    webhook_url = services.webhook.url + "?token=t0k"
    (workspace / "recipes" / "alerts.yaml").write_text(alerts_recipe(webhook_url))


def run_every_recipe(run: Recorder, s: Services) -> Scenario:
    """seed, discovery through Hunter.io and Apollo, intelligence on the founders, outreach
    sent by SMTP, delivery tried again, and SMS / webhook / push; asserting what each service
    received, with which credentials."""
    assert run("seed").exit_code == 0

    # --- discovery through Hunter.io (after a 429 and a Groq 429: the retry paths log too) ---
    s.ai.then(rate_limited(retry_after="0"))
    s.hunter.fail(SEARCH, 429, retry_after="0")
    found = run.ok(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io",
        "--limit", "6",
    )  # fmt: skip
    assert found["status"] == "success", found
    assert found["outputs"]["new_leads"] == 6
    hunter_calls = s.hunter.calls(SEARCH)
    assert len(hunter_calls) == 3  # the 429, then two pages of 10 for the 12 asked for
    for call in hunter_calls:  # Hunter takes its key as the api_key query parameter only
        assert call.arg("api_key") == HUNTER_KEY and "authorization" not in call.headers

    # --- discovery through Apollo ----------------------------------------------------------------
    apollo_found = run.ok(
        "run", "discovery", "--query", "founders", "--provider", "apollo", "--limit", "2"
    )
    assert apollo_found["status"] == "success", apollo_found
    apollo_calls = [r for r in s.apollo.server.requests if r.path.startswith("/api/v1/")]
    assert apollo_calls
    for call in apollo_calls:  # Apollo takes its key in X-Api-Key only
        assert call.headers.get("x-api-key") == APOLLO_KEY and call.arg("api_key") is None

    # Each discovery asked Groq once (plus the 429), with the key as a bearer token.
    assert len(s.ai.requests) == 3
    assert {r.headers["authorization"] for r in s.ai.requests} == {f"Bearer {GROQ_KEY}"}

    # --- intelligence on the founders ---------------------------------------------------------
    leads = run.ok("leads", "list")
    assert len(leads) == 8
    # Founders reach a tier on the recipe's rules; one of them came from each provider.
    chosen = [lead for lead in leads if "Founder" in (lead["title"] or "")]
    assert {lead["source"]["provider"] for lead in chosen} == {"hunter_io", "apollo"}
    for lead in chosen:
        analysed = run.ok("run", "intelligence", "--lead", lead["email"])
        assert analysed["status"] == "success", analysed
        assert analysed["steps"][3]["meta"]["provider"] == "groq"
    assert len(s.ai.requests) == 3 + len(chosen)
    scored = {lead["email"]: lead for lead in run.ok("leads", "list")}
    tiers = [scored[lead["email"]]["tier"] for lead in chosen]
    assert None not in tiers, tiers
    tier = max(set(tiers), key=tiers.count)
    tier_leads = sorted(lead["email"] for lead in scored.values() if lead["tier"] == tier)

    # --- outreach, sent ---------------------------------------------------------------------------
    outreach = run.ok("run", "outreach", "--tier", tier, "--send")
    assert outreach["status"] == "success", outreach
    assert outreach["outputs"]["sent"] == len(tier_leads) > 0
    assert len(s.ai.requests) == 3 + len(chosen) + 2 * len(tier_leads)  # subject and body
    mails = list(s.smtp.received)
    assert sorted(m.rcpt_tos[0] for m in mails) == tier_leads
    # Every message came over a session authenticated with SMTP AUTH as our user.
    assert s.smtp.logins and {m.login for m in mails} == {SMTP_USERNAME}
    for mail in mails:
        message = mail.message
        unsubscribe = message["List-Unsubscribe"]
        assert "<mailto:unsubscribe@acme.example?subject=unsubscribe>" in unsubscribe
        assert f"<https://acme.example/unsubscribe?e={quote(mail.rcpt_tos[0], safe='')}>" in (
            unsubscribe
        )
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["From"] == "Acme Growth <growth@acme.example>"
        assert mail.text().strip()

    outbox = run.ok("outbox", "list", "--channel", "email")
    assert sorted(m["recipient"] for m in outbox) == tier_leads
    assert {m["status"] for m in outbox} == {"sent"}
    assert {m["execution_id"] for m in outbox} == {outreach["execution_id"]}
    sent_ids = [m["id"] for m in outbox]

    # Delivering the same messages again sends nothing twice: by id, then "all queued".
    again = run("outbox", "send", *sent_ids, "--json")
    assert again.exit_code == 1, again.stdout + again.stderr  # none sent, all refused
    # A non-zero exit comes with the error envelope (regression: it used to say "ok").
    assert again.json()["status"] == "error"
    assert again.json()["error"]["code"] == "delivery_failed"
    refused = again.json()["data"]
    assert refused["counts"] == {"not_deliverable": len(sent_ids)}
    assert {m["reason"] for m in refused["messages"]} == {"already sent"}
    everything = run("outbox", "send", "--all-queued", "--json")
    assert everything.exit_code == 0, everything.stdout + everything.stderr
    assert len(s.smtp.received) == len(mails)
    assert {m["status"] for m in run.ok("outbox", "list")} == {"sent"}

    # --- SMS, webhook and push through a workspace recipe -----------------------------------
    with_phone = next(lead for lead in scored.values() if lead.get("phone"))
    alerted = run.ok(
        "run", "alerts", "--phone", with_phone["phone"], "--email", with_phone["email"], "--send"
    )
    assert alerted["status"] == "success", alerted
    assert [step["output"]["sent"] for step in alerted["steps"]] == [1, 1, 1]
    assert [form["To"] for form in s.twilio.sent] == [with_phone["phone"]]
    assert s.twilio.authorizations == [f"Basic {_b64(f'{TWILIO_SID}:{TWILIO_TOKEN}')}"]
    assert len(s.webhook.verified) == 1 and not s.webhook.rejected  # signed with our secret
    assert s.webhook.verified[0] == {"email": with_phone["email"]}
    assert [r.headers.get("authorization") for r in s.ntfy.published] == [f"Bearer {NTFY_TOKEN}"]
    return Scenario(run, chosen, sent_ids)


# --- the tests ---------------------------------------------------------------------------------


def test_three_recipes_end_to_end_against_every_service(
    workspace: Path, cli, services: Services, monkeypatch
):
    configure(workspace, services, monkeypatch)
    scenario = run_every_recipe(Recorder(cli), services)
    run = scenario.run

    executions = run.ok("executions", "list", "--limit", "1000")
    assert len(executions) == 4 + len(scenario.chosen)
    assert {e["status"] for e in executions} == {"success"}
    assert run("audit", "verify").exit_code == 0
    assert run("credits", "check").exit_code == 0


def test_no_secret_leaks_anywhere(
    workspace: Path, cli, services: Services, db_url: str, monkeypatch, caplog
):
    configure(workspace, services, monkeypatch)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "groq", "smtplib", "hunter_cli"):
        caplog.set_level(logging.DEBUG, logger=name)
    run = Recorder(cli)
    scenario = run_every_recipe(run, services)

    # The failure paths too: a refused key at Groq, at Hunter.io and at the SMTP server.
    monkeypatch.setenv("GROQ_API_KEY", WRONG_GROQ_KEY)
    # (a query not asked before: the AI response cache would answer a repeated one)
    failed = run("run", "discovery", "--query", "fintech founders", "--json")
    assert failed.exit_code == 1 and "GROQ_API_KEY" in failed.stdout, failed.stdout
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    monkeypatch.setenv("HUNTER_API_KEY", WRONG_HUNTER_KEY)
    failed = run(
        "run", "discovery", "--query", "northwind.example", "--provider", "hunter_io", "--json"
    )
    assert failed.exit_code == 1 and "HUNTER_API_KEY" in failed.stdout, failed.stdout
    monkeypatch.setenv("SMTP_PASSWORD", WRONG_SMTP_PASSWORD)
    mailed = {m.rcpt_tos[0] for m in services.smtp.received}
    # Someone outreach already wrote to is not written to again by another run of it...
    again = run.ok("run", "outreach", "--lead-ids", scenario.chosen[0]["id"], "--send")
    assert again["outputs"]["queued"] == 0 and len(services.smtp.received) == len(mailed)
    # ...so the refused login is met by a message to someone it has not written to.
    fresh = next(lead for lead in scenario.chosen if lead["email"] not in mailed)
    queued = run.ok("run", "outreach", "--lead-ids", fresh["id"])
    assert queued["outputs"]["queued"] == 1
    refused = run("outbox", "send", "--all-queued", "--json")
    assert refused.exit_code == 1, refused.stdout + refused.stderr
    (kept,) = refused.json()["data"]["messages"]
    assert kept["status"] == "queued" and "refused the login (535)" in kept["reason"]
    assert len(services.smtp.received) == len(scenario.sent_ids)

    assert run("audit", "verify").exit_code == 0
    assert run("credits", "check").exit_code == 0

    # (a) every value of every row of every table
    problems: list[str] = []
    tables = database_text(db_url)
    assert any(scenario.chosen[0]["email"] in text_ for _, text_ in tables)  # it reads rows
    for table, text_ in tables:
        problems += leaks(f"table {table}", text_)
    # (b) the whole audit trail, (d) every execution in full, and every outbox message
    audit = run("audit", "list", "--limit", "100000", "--json")
    assert audit.exit_code == 0 and len(audit.json()["data"]) > 50
    executions = run.ok("executions", "list", "--limit", "1000")
    assert len(executions) == 8 + len(scenario.chosen)
    for execution in executions:
        assert run("executions", "show", execution["id"], "--json").exit_code == 0
        assert run("executions", "show", execution["id"]).exit_code == 0
    for message in run.ok("outbox", "list", "--limit", "1000"):
        assert run("outbox", "show", message["id"], "--json").exit_code == 0
    # (c) every command's stdout and stderr (including the ones above)
    for command, result in run.outputs:
        problems += leaks(f"stdout of `hunter {command}`", result.stdout)
        problems += leaks(f"stderr of `hunter {command}`", result.stderr)
    # and every file the workspace holds
    for path in workspace.rglob("*"):
        if path.is_file():
            problems += leaks(f"file {path}", path.read_bytes().decode("utf-8", "replace"))
    # (e) every log record of the HTTP clients, the SDK and hunter, at DEBUG
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text  # the logs were captured
    assert "Request options" in caplog.text  # the groq SDK's DEBUG records too
    problems += leaks("the log", caplog.text)
    assert not problems, "\n".join(problems)


def test_the_leak_search_finds_every_form():
    """The search above would see a secret in any of the forms it looks for."""
    for form, label in secret_forms().items():
        assert leaks("probe", f"...{form}...") != [], label
