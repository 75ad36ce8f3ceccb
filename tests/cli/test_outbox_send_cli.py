"""Real delivery from the command line, as a user meets it: the outreach recipe with --send
against aiosmtpd, `hunter outbox send` with suppression, caps, a crashed `sending` message
and --force-unknown, and no secret in any output."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, update

from hunter_cli.db.engine import Database
from hunter_cli.db.models import OutboxMessage
from hunter_cli.db.types import utcnow
from tests import channel_servers
from tests.channel_servers import SMTP_PASSWORD, SMTP_USER

smtp_server = channel_servers.smtp_server  # a fixture

LEADS_CSV = (
    "name,title,email,company,domain,score,tier\n"
    "Ann Lee,CEO,ann@northwind.example,Northwind,northwind.example,91,A\n"
    "Bob Stone,CTO,bob@brightsmile.example,Bright Smile,brightsmile.example,88,A\n"
    "Cy Park,Founder,cy@caninecare.example,Canine Care,caninecare.example,85,A\n"
)


@pytest.fixture
def mail_ws(workspace, cli, smtp_server, monkeypatch, tmp_path):
    """A seeded workspace whose hunter.toml sends e-mail to aiosmtpd, with three tier-A
    leads stored."""
    monkeypatch.setenv("SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    config = workspace / "hunter.toml"
    config.write_text(
        config.read_text()
        + "\n[channels.email]\n"
        + f'host = "{smtp_server.host}"\nport = {smtp_server.port}\nsecurity = "none"\n'
        + 'unsubscribe_mailto = "unsubscribe@acme.example"\n'
        + 'unsubscribe_url = "https://acme.example/unsubscribe?e={email}"\n'
    )
    assert cli("seed").exit_code == 0
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV)
    assert cli("leads", "import", str(leads), "--json").exit_code == 0
    return workspace


def _db() -> Database:
    import os

    return Database(os.environ["HUNTER_DATABASE_URL"])


def test_the_outreach_recipe_with_send_delivers_through_smtp(mail_ws, cli, smtp_server):
    result = cli("run", "outreach", "--tier", "A", "--limit", "3", "--send", "--json")
    data = result.ok()
    assert data["status"] == "success"
    send = next(step for step in data["steps"] if step["id"] == "send")
    assert (send["output"]["sent"], send["output"]["dry_run"]) == (3, False)
    assert SMTP_PASSWORD not in result.stdout

    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "ann@northwind.example",
        "bob@brightsmile.example",
        "cy@caninecare.example",
    ]
    mail = smtp_server.to("ann@northwind.example")[0]
    headers = mail.message
    assert mail.login == SMTP_USER
    assert headers["From"] == "Acme Growth <growth@acme.example>"
    assert headers["Reply-To"] == "hello@acme.example"
    assert headers["Message-ID"].endswith("@acme.example>")
    assert "<mailto:unsubscribe@acme.example?subject=unsubscribe>" in headers["List-Unsubscribe"]
    assert (
        "<https://acme.example/unsubscribe?e=ann%40northwind.example>"
        in (headers["List-Unsubscribe"])
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Subject"]
    assert "Acme Corp, 1 Demo Street, Springfield" in mail.text()

    listed = cli("outbox", "list", "--json").ok()
    assert {(r["status"], r["delivered"]) for r in listed} == {("sent", True)}
    shown = cli("outbox", "show", listed[0]["id"][:8])
    assert "provider id:" in shown.stdout and "attempts:" in shown.stdout
    audit = cli("audit", "list", "--action", "delivery.sent", "--json").ok()
    assert len(audit) == 3
    for output in (shown.stdout, json.dumps(audit), json.dumps(listed)):
        assert SMTP_PASSWORD not in output

    # Running delivery again finds nothing left to send.
    again = cli("outbox", "send", "--all-queued", "--json")
    assert again.ok()["messages"] == [] and len(smtp_server.received) == 3


def test_outbox_send_delivers_reviewed_messages_and_honours_suppression(mail_ws, cli, smtp_server):
    dry = cli("run", "outreach", "--tier", "A", "--limit", "3", "--json").ok()
    assert dry["outputs"]["queued"] == 3 and smtp_server.received == []
    listed = cli("outbox", "list", "--json").ok()
    human = cli("outbox", "list")
    assert "nothing is sent until" in " ".join(human.stdout.split())

    # Reviewed: Bob's company asked us never to write again.
    assert cli("suppress", "add", "brightsmile.example", "--reason", "asked").exit_code == 0
    result = cli("outbox", "send", "--all-queued", "--json")
    data = result.ok()
    by_to = {m["recipient"]: m for m in data["messages"]}
    assert by_to["bob@brightsmile.example"]["status"] == "skipped"
    assert by_to["bob@brightsmile.example"]["reason"] == (
        "suppressed: domain brightsmile.example is on the suppression list (asked)"
    )
    assert data["counts"] == {"sent": 2, "skipped": 1}
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "ann@northwind.example",
        "cy@caninecare.example",
    ]

    # A sent message is not sent again, by id either.
    ann = next(r for r in listed if r["recipient"] == "ann@northwind.example")
    refused = cli("outbox", "send", ann["id"][:8])
    assert refused.exit_code == 1
    assert "already sent" in refused.stdout
    assert len(smtp_server.received) == 2


def test_a_crashed_sending_message_needs_force_unknown(mail_ws, cli, smtp_server):
    cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").ok()
    (message,) = cli("outbox", "list", "--json").ok()
    db = _db()
    with db.session() as session:  # the process died after claiming it
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == uuid.UUID(message["id"]))
            .values(status="sending", sending_at=utcnow(), attempts=1)
        )
    db.dispose()

    human = cli("outbox", "list")
    words = human.stdout.split()  # the table folds cells at the test terminal's width
    assert "sending" in words and "(unknown)" in words
    shown = cli("outbox", "show", message["id"][:8]).stdout
    assert "outcome unknown" in shown
    assert cli("outbox", "send", "--all-queued", "--json").ok()["messages"] == []

    refused = cli("outbox", "send", message["id"][:8], "--json")
    assert refused.exit_code == 1
    (outcome,) = refused.json()["data"]["messages"]
    assert outcome["status"] == "not_deliverable" and "--force-unknown" in outcome["reason"]
    assert smtp_server.received == []

    forced = cli("outbox", "send", message["id"][:8], "--force-unknown")
    assert forced.exit_code == 0, forced.stdout + forced.stderr
    assert "may already have been delivered" in forced.stderr
    assert len(smtp_server.received) == 1


def test_the_daily_cap_keeps_the_rest_queued(mail_ws, cli, smtp_server):
    config = mail_ws / "hunter.toml"
    config.write_text(config.read_text() + "\n[customers.acme.daily_caps]\nemail = 1\n")
    cli("run", "outreach", "--tier", "A", "--limit", "3", "--json").ok()
    data = cli("outbox", "send", "--all-queued", "--json").ok()
    assert data["counts"] == {"sent": 1, "queued": 2}
    assert all(
        m["reason"].startswith("daily cap reached: 1 email message(s) a day for acme")
        for m in data["messages"]
        if m["status"] == "queued"
    )
    assert len(smtp_server.received) == 1
    human = cli("outbox", "send", "--all-queued")
    assert human.exit_code == 0 and "daily cap reached" in " ".join(human.stdout.split())


def test_usage_and_configuration_errors(mail_ws, cli):
    assert cli("outbox", "send", "--json").error(2)["message"] == (
        "give message IDs or --all-queued (one of the two)"
    )
    assert cli("outbox", "send", "abcdef", "--all-queued", "--json").error(2)
    assert (
        "needs the messages named by ID"
        in (cli("outbox", "send", "--all-queued", "--force-unknown", "--json").error(2)["message"])
    )
    assert cli("outbox", "send", "--all-queued", "--channel", "fax", "--json").error(2)

    cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").ok()
    config = mail_ws / "hunter.toml"
    config.write_text(config.read_text().replace("[channels.email]", "[channels.unused]"))
    line = cli("outbox", "send", "--all-queued").one_line(2)
    assert "needs [channels.email] host" in line
    assert {r["status"] for r in cli("outbox", "list", "--json").ok()} == {"queued"}


def test_send_help_explains_exactly_once(workspace, cli):
    result = cli("outbox", "send", "--help")
    assert result.exit_code == 0
    words = " ".join(result.stdout.split())
    assert "--force-unknown" in words and "daily cap" in words


def test_a_named_message_of_another_customer_is_refused_by_default(mail_ws, cli):
    """Regression: `outbox send ID` sent another customer's message although the help says
    with IDs each must be the (default) customer's."""
    cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").ok()
    [message] = cli("outbox", "list", "--json").ok()
    config = mail_ws / "hunter.toml"
    config.write_text(config.read_text().replace('"acme"', '"global"', 1))
    line = cli("outbox", "send", message["id"][:8]).one_line(2)
    assert "belongs to another customer, not global (the default customer): pass --customer" in line
    assert cli("outbox", "show", message["id"][:8], "--json").ok()["status"] == "queued"


def test_a_misspelt_daily_cap_stops_sending_instead_of_meaning_no_cap(mail_ws, cli, smtp_server):
    cli("run", "outreach", "--tier", "A", "--limit", "3", "--json").ok()
    config = mail_ws / "hunter.toml"
    config.write_text(config.read_text() + "\n[limits.daily_caps]\nemails = 1\n")
    line = cli("outbox", "send", "--all-queued").one_line(2)
    assert "hunter.toml:" in line and "unknown channel 'emails' in [limits.daily_caps]" in line
    assert smtp_server.received == []
    with _db().session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"queued"}
