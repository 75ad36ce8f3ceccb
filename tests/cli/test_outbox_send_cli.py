"""Real delivery from the command line, as a user meets it: the outreach recipe with --send
against aiosmtpd, `hunter outbox send` with suppression, caps, a crashed `sending` message
and --force-unknown, and no secret in any output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import select, update

from hunter_cli.db.engine import Database
from hunter_cli.db.models import OutboxMessage
from hunter_cli.db.types import utcnow
from hunter_cli.outbox import queued_ids
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


def test_a_send_run_that_leaves_messages_undelivered_exits_partial(mail_ws, cli, smtp_server):
    """Cron reads the exit code: outreach whose emails the server refused is not a success."""
    smtp_server.refuse.add("bob@brightsmile.example")
    smtp_server.rcpt_try_later["cy@caninecare.example"] = 99
    config = mail_ws / "hunter.toml"
    config.write_text(config.read_text() + "backoff = 0\n")  # into [channels.email]
    result = cli("run", "outreach", "--tier", "A", "--limit", "3", "--send", "--json")
    assert result.exit_code == 5, result.stdout + result.stderr
    document = result.json()
    assert document["status"] == "error"
    assert document["error"] == {
        "code": "run_partial",
        "message": "step 'send': 2 email message(s) not delivered (1 failed, 1 left queued)",
    }
    assert document["data"]["status"] == "partial"
    assert [m.rcpt_tos[0] for m in smtp_server.received] == ["ann@northwind.example"]

    # What was left queued is `outbox send`'s to deliver, with its own exit code.
    smtp_server.rcpt_try_later.clear()
    assert cli("outbox", "send", "--all-queued").exit_code == 0
    assert [m.rcpt_tos[0] for m in smtp_server.received][1:] == ["cy@caninecare.example"]


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
    # Nothing to send, but a message waits on a person's decision: said, not hidden.
    nothing = " ".join(cli("outbox", "send", "--all-queued").stdout.split())
    assert "1 message(s) are in `sending` with their outcome unknown" in nothing

    refused = cli("outbox", "send", message["id"][:8], "--json")
    assert refused.exit_code == 1
    (outcome,) = refused.json()["data"]["messages"]
    assert outcome["status"] == "not_deliverable" and "--force-unknown" in outcome["reason"]
    assert smtp_server.received == []

    forced = cli("outbox", "send", message["id"][:8], "--force-unknown")
    assert forced.exit_code == 0, forced.stdout + forced.stderr
    assert "may already have been delivered" in forced.stderr
    assert len(smtp_server.received) == 1


MORE_LEADS_CSV = (
    "name,title,email,company,domain,score,tier\n"
    "Dee Fox,COO,dee@dunes.example,Dunes,dunes.example,84,A\n"
    "Eve Ray,CMO,eve@evergreen.example,Evergreen,evergreen.example,83,A\n"
)


def _five_leads(cli, tmp_path) -> None:
    more = tmp_path / "more.csv"
    more.write_text(MORE_LEADS_CSV)
    assert cli("leads", "import", str(more), "--json").exit_code == 0


def _hunter(mail_ws, *args: str) -> subprocess.Popen:
    """The real `hunter` in a process of its own (the test's database and SMTP variables)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hunter_cli", *args],
        cwd=mail_ws,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_send_run_mid_delivery(mail_ws, cli, smtp_server, tmp_path, stall: str) -> str:
    """`hunter run outreach --tier A --limit 5 --send` in a process of its own, killed (-9)
    while the server holds `stall`'s message unanswered; returns the execution id."""
    _five_leads(cli, tmp_path)
    held = smtp_server.hold(stall)
    proc = _hunter(mail_ws, "run", "outreach", "--tier", "A", "--limit", "5", "--send")
    try:
        assert held.arrived.wait(60), proc.stderr.read() if proc.poll() else "never held"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    (execution,) = cli("executions", "list", "--json").ok()
    assert (execution["status"], execution["process_alive"]) == ("running", False)
    return execution["id"]


def test_resuming_a_killed_send_run_without_send_delivers_the_rest(
    mail_ws, cli, smtp_server, tmp_path
):
    """kill -9 mid-delivery, then `executions resume ID` (no --send): the run was started
    with --send, so its resumption delivers what was left queued; the message the process
    was sending when it died is unknown (never sent again by itself), not a duplicate."""
    stalled = "cy@caninecare.example"  # third of five, by score
    execution = _kill_send_run_mid_delivery(mail_ws, cli, smtp_server, tmp_path, stalled)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "ann@northwind.example",
        "bob@brightsmile.example",
    ]

    result = cli("executions", "resume", execution[:8], "--json")
    # The message cut off needs a person's decision: the run is partial, not a success.
    assert result.exit_code == 5, result.stdout + result.stderr
    assert result.json()["error"]["message"] == (
        "step 'send': 1 email message(s) not delivered (1 of unknown outcome)"
    )
    data = result.json()["data"]
    assert data["status"] == "partial"
    output = next(s for s in data["steps"] if s["id"] == "send")["output"]
    assert (output["sent"], output["unknown"], output["duplicates"]) == (2, 1, 2)
    assert (output["queued"], output["failed"], output["dry_run"]) == (0, 0, False)
    by_to = {m["recipient"]: m for m in output["messages"]}
    assert by_to[stalled]["status"] == "unknown"
    assert "earlier attempt of this step" in by_to[stalled]["reason"]
    assert "--force-unknown" in by_to[stalled]["reason"]
    assert "earlier run" not in json.dumps(output)
    assert by_to["ann@northwind.example"]["reason"] == (
        "already sent by an earlier attempt of this step"
    )
    assert any(
        "1 email message(s) may or may not have been delivered (see `hunter outbox list "
        "--status sending`)" in w
        for w in data["warnings"]
    )
    # Each delivered once; the one cut off never reached the server, nor is sent again.
    received = [m.rcpt_tos[0] for m in smtp_server.received]
    assert sorted(received) == [
        "ann@northwind.example",
        "bob@brightsmile.example",
        "dee@dunes.example",
        "eve@evergreen.example",
    ]
    statuses = {r["recipient"]: r["status"] for r in cli("outbox", "list", "--json").ok()}
    assert statuses[stalled] == "sending" and list(statuses.values()).count("sent") == 4
    # Nothing left for a second resume to do, and nothing for `outbox send` to pick up.
    assert cli("executions", "resume", execution[:8], "--json").error(2)
    assert cli("outbox", "send", "--all-queued", "--json").ok()["messages"] == []
    assert data["send"] is True
    assert cli("executions", "show", execution[:8], "--json").ok()["send"] is True


def test_a_resumed_send_run_says_it_delivers(mail_ws, cli, smtp_server, tmp_path):
    execution = _kill_send_run_mid_delivery(
        mail_ws, cli, smtp_server, tmp_path, "ann@northwind.example"
    )
    human = cli("executions", "show", execution[:8])
    assert "(delivering: --send or send = true)" in human.stdout
    resumed = cli("executions", "resume", execution[:8])
    # Partial: the message cut off mid-send may or may not have gone (see the test above).
    assert resumed.exit_code == 5, resumed.stdout + resumed.stderr
    words = " ".join(resumed.stdout.split())
    assert "Messages were delivered, not only queued: this execution was started with --send" in (
        words
    )
    assert "Status: partial" in words
    assert len(smtp_server.received) == 4


def test_two_overlapping_outbox_sends_deliver_each_message_once_and_neither_fails(
    mail_ws, cli, smtp_server, tmp_path
):
    """A message queued when one sender listed it but claimed by the other before it got
    there is `taken`: not a failure, no advice to --force-unknown, exit 0 for both."""
    _five_leads(cli, tmp_path)
    cli("run", "outreach", "--tier", "A", "--limit", "5", "--json").ok()
    db = _db()
    with db.session() as session:
        order = [session.get(OutboxMessage, i).recipient for i in queued_ids(session)]
    db.dispose()
    first, third = smtp_server.hold(order[0]), smtp_server.hold(order[2])

    one = _hunter(mail_ws, "outbox", "send", "--all-queued", "--json")
    try:
        assert first.arrived.wait(60), "the first sender never reached the server"
        # The second lists the other four, and is held on the third message.
        two = _hunter(mail_ws, "outbox", "send", "--all-queued", "--json")
        try:
            assert third.arrived.wait(60), "the second sender never reached the server"
            first.release.set()  # the first goes on: two it meets are the second's
            one_out, one_err = one.communicate(timeout=60)
            third.release.set()
            two_out, two_err = two.communicate(timeout=60)
        finally:
            two.kill()
    finally:
        one.kill()

    assert (one.returncode, two.returncode) == (0, 0), one_out + one_err + two_out + two_err
    one_data, two_data = json.loads(one_out)["data"], json.loads(two_out)["data"]
    assert one_data["counts"] == {"sent": 3, "taken": 2}
    assert two_data["counts"] == {"sent": 2, "taken": 2}
    reasons = {m["recipient"]: m["reason"] for m in one_data["messages"]}
    assert reasons[order[1]] == "sent by another process"
    assert reasons[order[2]] == "being sent by another process"
    assert "--force-unknown" not in one_out + two_out
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == sorted(order)


def test_a_send_run_beside_an_outbox_send_delivers_each_once_and_reports_taken(
    mail_ws, cli, smtp_server, tmp_path
):
    _five_leads(cli, tmp_path)
    held = smtp_server.hold("bob@brightsmile.example")  # the second, by score
    proc = _hunter(mail_ws, "run", "outreach", "--tier", "A", "--limit", "5", "--send", "--json")
    try:
        assert held.arrived.wait(60), "the run never reached the server"
        # The run is held on its second message; `outbox send` takes the three after it.
        other = cli("outbox", "send", "--all-queued", "--json").ok()
        assert other["counts"] == {"sent": 3}
        held.release.set()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    data = json.loads(out)["data"]
    output = next(s for s in data["steps"] if s["id"] == "send")["output"]
    assert (output["sent"], output["taken"], output["duplicates"]) == (2, 3, 0)
    taken = [m for m in output["messages"] if m["status"] == "taken"]
    assert {m["reason"] for m in taken} == {"sent by another process"}
    assert not [w for w in data["warnings"] if "step send" in w]  # no failure, nothing left
    assert len(smtp_server.received) == 5
    assert len({m.rcpt_tos[0] for m in smtp_server.received}) == 5


def test_a_temporary_refusal_stays_queued_and_retry_failed_with_all_queued_takes_failed_ones(
    mail_ws, cli, smtp_server
):
    config = mail_ws / "hunter.toml"  # [channels.email] is its last table
    config.write_text(config.read_text() + "max_attempts = 2\nbackoff = 0\n")
    cli("run", "outreach", "--tier", "A", "--limit", "3", "--json").ok()
    smtp_server.rcpt_try_later["ann@northwind.example"] = 2  # both attempts
    smtp_server.refuse.add("bob@brightsmile.example")

    result = cli("outbox", "send", "--all-queued", "--json")
    assert result.exit_code == 5, result.stdout  # one sent, two not delivered
    document = result.json()
    assert document["error"]["code"] == "partial"
    assert document["data"]["counts"] == {"queued": 1, "failed": 1, "sent": 1}
    by_to = {m["recipient"]: m for m in document["data"]["messages"]}
    assert by_to["ann@northwind.example"]["status"] == "queued"
    assert by_to["ann@northwind.example"]["reason"].startswith(
        "the SMTP server refused it for now: 451 4.3.0 try later (a temporary refusal, 2 "
    )
    statuses = {r["recipient"]: r["status"] for r in cli("outbox", "list", "--json").ok()}
    assert statuses == {
        "ann@northwind.example": "queued",
        "bob@brightsmile.example": "failed",
        "cy@caninecare.example": "sent",
    }

    # Later: the queued one goes; the failed one only with --retry-failed.
    smtp_server.refuse.clear()
    assert cli("outbox", "send", "--all-queued", "--json").ok()["counts"] == {"sent": 1}
    assert "No queued messages to send." in cli("outbox", "send", "--all-queued").stdout
    retried = cli("outbox", "send", "--all-queued", "--retry-failed", "--json").ok()
    assert [(m["recipient"], m["status"]) for m in retried["messages"]] == [
        ("bob@brightsmile.example", "sent")
    ]
    done = cli("outbox", "send", "--all-queued", "--retry-failed")
    assert done.exit_code == 0 and "No queued or failed messages to send." in done.stdout
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == [
        "ann@northwind.example",
        "bob@brightsmile.example",
        "cy@caninecare.example",
    ]


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
    text = config.read_text()
    # The host left out: a misspelt [channels.emial] table is refused as hunter.toml loads.
    config.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("host = "))
    )
    line = cli("outbox", "send", "--all-queued").one_line(2)
    assert "needs [channels.email] host" in line
    assert {r["status"] for r in cli("outbox", "list", "--json").ok()} == {"queued"}
    config.write_text(text.replace("[channels.email]", "[channels.emial]"))
    line = cli("outbox", "send", "--all-queued").one_line(2)
    assert "unknown channel [channels.emial] (did you mean email?)" in line
    config.write_text(text)
    assert {r["status"] for r in cli("outbox", "list", "--json").ok()} == {"queued"}


def test_send_help_explains_exactly_once(workspace, cli):
    result = cli("outbox", "send", "--help")
    assert result.exit_code == 0
    words = " ".join(result.stdout.split())
    assert "--force-unknown" in words and "daily cap" in words
    assert "with --all-queued every failed message of the customer" in words
    assert "reported `taken`" in words


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


@pytest.mark.parametrize(
    ("key", "value"),
    [("from_name", "Evil\r\nBcc: victim@x.example"), ("from_name", "Acme\r\nX-Evil: 1")],
)
def test_a_sender_setting_with_a_line_break_fails_the_step_and_sends_nothing(
    mail_ws, cli, smtp_server, key, value
):
    """Regression: a from_name with CRLF (stored before `customers add` refused it) went out
    as `From: victim@x.example`, envelope sender included; or every message failed with "no
    From address" and the run exited 0."""
    from hunter_cli.db.models import Customer

    db = _db()
    with db.session() as session:
        acme = session.scalars(select(Customer).where(Customer.slug == "acme")).one()
        acme.settings = {**(acme.settings or {}), key: value}
    db.dispose()
    result = cli("run", "outreach", "--tier", "A", "--limit", "3", "--send", "--json")
    assert result.exit_code == 1
    error = result.json()["error"]
    assert error["code"] == "run_failed"
    assert (
        f"customer acme's {key} setting contains a line break (CR), which would change the "
        "e-mail's headers: nothing was queued; fix it with `hunter customers update acme "
        f"--{key.replace('_', '-')} ...`"
    ) in error["message"]
    assert smtp_server.received == []
    assert cli("outbox", "list", "--json").ok() == []


def test_a_message_queued_with_a_line_break_in_its_from_is_refused_not_sent(
    mail_ws, cli, smtp_server
):
    """Defence in depth: a message already queued with such a From never reaches the
    headers or the SMTP envelope."""
    cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").ok()
    (queued,) = cli("outbox", "list", "--json").ok()
    db = _db()
    with db.session() as session:
        message = session.get(OutboxMessage, uuid.UUID(queued["id"]))
        assert message is not None
        message.payload = {
            **(message.payload or {}),
            "from": '"Evil\r\nBcc: victim@x.example" <growth@acme.example>',
        }
    db.dispose()
    result = cli("outbox", "send", "--all-queued", "--json")
    assert result.exit_code == 1
    (sent,) = result.json()["data"]["messages"]
    assert sent["status"] == "failed"
    assert "the message's From" in sent["reason"] and "a line break (CR)" in sent["reason"]
    assert "`hunter customers update acme --from-name/--from-email ...`" in sent["reason"]
    assert smtp_server.received == []


def test_retry_failed_skips_a_message_whose_recipient_a_later_run_reached(
    mail_ws, cli, smtp_server
):
    """Regression: a hard bounce (550), the server fixed, the recipe run again (it wrote to
    ann once more, and that went), then `--all-queued --retry-failed` e-mailed ann twice."""
    smtp_server.refuse.add("ann@northwind.example")
    first = cli("run", "outreach", "--tier", "A", "--limit", "3", "--send", "--json")
    assert first.exit_code == 5, first.stdout
    smtp_server.refuse.clear()
    second = cli("run", "outreach", "--tier", "A", "--limit", "3", "--send", "--json")
    assert second.exit_code == 0, second.stdout
    assert [m.rcpt_tos[0] for m in smtp_server.received].count("ann@northwind.example") == 1

    result = cli("outbox", "send", "--all-queued", "--retry-failed", "--json")
    assert result.exit_code == 0, result.stdout
    data = result.json()["data"]
    assert data["counts"] == {"duplicate": 1}
    (message,) = data["messages"]
    assert message["recipient"] == "ann@northwind.example"
    assert message["reason"].startswith(
        "duplicate: already sent to this recipient by a later run of this step (message "
    )
    assert [m.rcpt_tos[0] for m in smtp_server.received].count("ann@northwind.example") == 1
    shown = cli("outbox", "show", message["id"][:8], "--json").ok()
    assert (shown["status"], shown["error"]) == ("skipped", message["reason"])
    # Nothing is left for a later retry to pick up.
    assert cli("outbox", "send", "--all-queued", "--retry-failed", "--json").ok()["messages"] == []


@pytest.mark.parametrize(
    ("signum", "how", "what"),
    [
        (signal.SIGTERM, "stopped by SIGTERM", "SIGTERM"),
        (signal.SIGINT, "interrupted (Ctrl-C)", "interrupted"),
    ],
)
def test_a_signal_mid_delivery_says_what_was_sent_and_leaves_the_cut_off_one_unknown(
    mail_ws, cli, smtp_server, signum, how, what
):
    """Regression: `timeout 2 hunter outbox send --all-queued --json` died with exit 143, no
    JSON, and the message it was sending left in `sending` without a reason; Ctrl-C gave
    exit 130 but only {"code": "interrupted"}, not what had been sent before it."""
    cli("run", "outreach", "--tier", "A", "--limit", "3", "--json").ok()
    db = _db()
    with db.session() as session:
        order = [session.get(OutboxMessage, i).recipient for i in queued_ids(session)]
    db.dispose()
    held = smtp_server.hold(order[1])
    proc = _hunter(mail_ws, "outbox", "send", "--all-queued", "--json")
    try:
        assert held.arrived.wait(60), "the sender never reached the server"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        held.release.set()
        proc.kill()
    assert proc.returncode == 130, out + err
    document = json.loads(out)
    assert document["status"] == "error"
    assert document["error"] == {
        "code": "interrupted",
        "message": f"{how}: 1 message(s) sent before it stopped, 1 cut off mid-delivery "
        "(outcome unknown: left in `sending`), 1 not attempted (left as they were)",
        "details": {"sent": 1, "unknown": 1, "not_attempted": 1},
    }
    data = document["data"]
    assert data["counts"] == {"sent": 1, "unknown": 1}
    assert [(m["recipient"], m["status"]) for m in data["messages"]] == [
        (order[0], "sent"),
        (order[1], "unknown"),
    ]
    reason = f"outcome unknown: delivery stopped mid-call ({what})"
    assert data["messages"][1]["reason"] == reason
    statuses = {
        r["recipient"]: (r["status"], r["error"]) for r in cli("outbox", "list", "--json").ok()
    }
    assert statuses == {
        order[0]: ("sent", None),
        order[1]: ("sending", reason),
        order[2]: ("queued", None),
    }
    assert "Traceback" not in err


def test_a_refused_login_counts_every_message_it_left_queued(
    mail_ws, cli, smtp_server, monkeypatch
):
    """Regression: with the login refused and two messages queued, `outbox send --json` said
    "1 message(s) not delivered" beside counts.queued = 2."""
    cli("run", "outreach", "--tier", "A", "--limit", "2", "--json").ok()
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-" + SMTP_PASSWORD)
    result = cli("outbox", "send", "--all-queued", "--json")
    assert result.exit_code == 1, result.stdout
    document = result.json()
    assert document["data"]["counts"] == {"queued": 2}
    assert document["error"] == {
        "code": "delivery_failed",
        "message": "2 message(s) not delivered",
    }
    first, second = document["data"]["messages"]
    assert "refused the login" in first["reason"]
    assert second["reason"].startswith("not attempted: ")
    assert smtp_server.received == []


def test_a_run_delivering_because_of_send_true_says_send_true(mail_ws, cli, smtp_server):
    """Regression: a run that delivered because `[customers.acme] send = true` reported
    "send": false in its JSON and in `executions list/show`."""
    config = mail_ws / "hunter.toml"
    config.write_text(config.read_text() + "\n[customers.acme]\nsend = true\n")
    data = cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").ok()
    assert data["send"] is True and len(smtp_server.received) == 1
    (listed,) = cli("executions", "list", "--json").ok()
    assert listed["send"] is True
    assert cli("executions", "show", data["execution_id"][:8], "--json").ok()["send"] is True
    human = cli("executions", "show", data["execution_id"][:8])
    assert "(delivering: --send or send = true)" in human.stdout


def test_a_send_run_stopped_mid_delivery_says_what_it_had_sent(mail_ws, cli, smtp_server, tmp_path):
    """Regression: Ctrl-C (or cron's `timeout`) while a `run --send` was delivering gave a
    summary of the finished steps only: nothing said that two emails had gone out, one was
    cut off mid-send and two were still queued."""
    import signal

    _five_leads(cli, tmp_path)
    held = smtp_server.hold("cy@caninecare.example")  # third of five, by score
    proc = _hunter(mail_ws, "run", "outreach", "--tier", "A", "--limit", "5", "--send", "--json")
    try:
        assert held.arrived.wait(60), proc.stderr.read() if proc.poll() else "never held"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    data = json.loads(out)["data"]
    execution = data["execution_id"][:8]
    assert (
        "messages of this run when it stopped: 2 sent, 1 of unknown outcome, 2 still queued "
        f"(`hunter outbox list --execution {execution}`)"
    ) in data["warnings"]
    # The resumption delivers the two left queued: it does not repeat what the stop said.
    resumed = cli("executions", "resume", execution, "--json").json()["data"]
    assert not any(
        w.startswith("messages of this run when it stopped") for w in resumed["warnings"]
    )


def test_force_unknown_never_takes_a_message_a_live_sender_is_delivering(mail_ws, cli, smtp_server):
    """Regression: a second `outbox send ID --force-unknown` started while the first was
    still delivering (a slow DATA) claimed the message again and sent it twice. The claim
    records its process; a live hunter sender's message is `taken`, not sent again."""
    cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").ok()
    (message,) = cli("outbox", "list", "--json").ok()
    db = _db()
    with db.session() as session:  # left by a sender that stopped: outcome unknown
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == uuid.UUID(message["id"]))
            .values(status="sending", sending_at=utcnow(), attempts=1, error="outcome unknown: x")
        )
    db.dispose()
    held = smtp_server.hold(message["recipient"])
    first = _hunter(mail_ws, "outbox", "send", message["id"][:8], "--force-unknown", "--json")
    try:
        assert held.arrived.wait(60), first.stderr.read() if first.poll() else "never held"
        second = cli("outbox", "send", message["id"][:8], "--force-unknown", "--json")
        assert second.exit_code == 0, second.stdout  # taken is no failure
        (outcome,) = second.json()["data"]["messages"]
        assert outcome["status"] == "taken"
        held.release.set()
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, out + err
    assert len(smtp_server.to(message["recipient"])) == 1


def test_a_stop_while_waiting_to_try_again_leaves_the_message_queued(mail_ws, cli, smtp_server):
    """Regression: SIGTERM while waiting out a "try later" (a 4xx, a 429) left the message
    `sending`, outcome unknown, so only --force-unknown would ever send it, though nothing
    had been taken. It goes back to the queue."""
    import signal
    import time

    config = mail_ws / "hunter.toml"
    config.write_text(config.read_text() + "backoff = 20\nmax_backoff = 30\n")  # [channels.email]
    cli("run", "outreach", "--tier", "A", "--limit", "1", "--json").ok()
    (message,) = cli("outbox", "list", "--json").ok()
    smtp_server.rcpt_try_later[message["recipient"]] = 5
    proc = _hunter(mail_ws, "outbox", "send", "--all-queued", "--json")
    try:
        deadline = time.monotonic() + 30
        while smtp_server.rcpt_try_later[message["recipient"]] == 5:
            assert time.monotonic() < deadline, "the server was never asked"
            time.sleep(0.05)
        time.sleep(0.3)  # into the wait before the second try
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    (row,) = cli("outbox", "list", "--json").ok()
    assert row["status"] == "queued"
    shown = cli("outbox", "show", row["id"][:8]).stdout
    assert "stopped while waiting to try again (nothing was sent)" in " ".join(shown.split())
