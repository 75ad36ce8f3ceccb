"""The SMTP e-mail provider against aiosmtpd on loopback: the headers bulk-mail rules ask
for, text and HTML parts with the footer, AUTH, STARTTLS, refusals and unreachable servers,
and configuration errors that name variables, never values."""

from __future__ import annotations

import uuid

import pytest

from hunter_cli.providers.channels import ChannelConfigError, DeliveryError, build_provider
from hunter_cli.providers.channels.base import OutgoingMessage
from hunter_cli.providers.channels.smtp_email import SmtpEmailProvider
from tests import channel_servers
from tests.channel_servers import SMTP_PASSWORD, SMTP_USER

# Fixtures used here (assigned, not imported, so they read as used).
smtp_server = channel_servers.smtp_server
smtp_relay = channel_servers.smtp_relay
smtp_tls_server = channel_servers.smtp_tls_server
tls_files = channel_servers.tls_files

ENV = {"SMTP_USERNAME": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD}
SENDER = {
    "from": "Acme Growth <growth@acme.example>",
    "reply_to": "hello@acme.example",
    "postal_address": "Acme Corp, 1 Demo Street, Springfield",
}


def config(server, **extra) -> dict:
    return {
        "email": {
            "host": server.host,
            "port": server.port,
            "security": "none",
            "timeout": 5,
            "unsubscribe_mailto": "unsubscribe@acme.example",
            "unsubscribe_url": "https://acme.example/u?e={email}&c={customer}",
            **extra,
        }
    }


def message(to: str = "ann@example.com", **extra) -> OutgoingMessage:
    fields = {
        "id": uuid.uuid4(),
        "message_key": f"x:mail:email:{to}",
        "channel": "email",
        "recipient": to,
        "subject": "Hello Ann",
        "body": "Dear Ann,\nshort note.",
        "html": "<html><body><p>Dear Ann</p></body></html>",
        "payload": {**SENDER, "to_name": "Ann Lee"},
        "customer": "acme",
        **extra,
    }
    return OutgoingMessage(**fields)


def test_a_message_has_every_header_and_part_bulk_mail_rules_ask_for(smtp_server):
    provider = build_provider("email", config(smtp_server), ENV)
    outgoing = message()
    receipt = provider.send(outgoing)
    provider.close()

    assert len(smtp_server.received) == 1
    mail = smtp_server.received[0]
    assert mail.login == SMTP_USER  # AUTH over plain loopback
    assert (mail.mail_from, mail.rcpt_tos) == ("growth@acme.example", ["ann@example.com"])
    headers = mail.message
    assert headers["From"] == "Acme Growth <growth@acme.example>"
    assert headers["To"] == "Ann Lee <ann@example.com>"
    assert headers["Reply-To"] == "hello@acme.example"
    assert headers["Subject"] == "Hello Ann"
    assert headers["Date"]
    message_id = headers["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith("@acme.example>")
    assert receipt.provider == "smtp" and receipt.provider_message_id == message_id
    assert headers["List-Unsubscribe"] == (
        "<mailto:unsubscribe@acme.example?subject=unsubscribe>, "
        "<https://acme.example/u?e=ann%40example.com&c=acme>"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text = mail.text()
    assert text.startswith("Dear Ann,\nshort note.\n\n-- \n")
    assert "Acme Corp, 1 Demo Street, Springfield" in text
    assert "To unsubscribe: https://acme.example/u?e=ann%40example.com&c=acme" in text
    html = mail.html()
    assert html is not None and html.startswith("<html><body><p>Dear Ann</p><p ")
    assert "Acme Corp, 1 Demo Street, Springfield" in html
    assert html.rstrip().endswith("</body></html>")
    assert headers.get_content_type() == "multipart/alternative"


def test_plain_text_only_without_postal_address_or_https_link(smtp_server):
    cfg = config(smtp_server, unsubscribe_url=None)
    del cfg["email"]["unsubscribe_url"]
    provider = build_provider("email", cfg, {})  # no SMTP_USERNAME: no login
    payload = {"from": "sales@global.example"}
    provider.send(message(html=None, payload=payload, subject="Line one\r\nBcc: evil@x.example"))
    provider.close()

    mail = smtp_server.received[0]
    assert mail.login is None
    headers = mail.message
    assert headers.get_content_type() == "text/plain"
    assert headers["Subject"] == "Line one Bcc: evil@x.example"  # no header injection
    assert headers["Bcc"] is None and mail.rcpt_tos == ["ann@example.com"]
    assert headers["Reply-To"] is None
    assert headers["List-Unsubscribe"] == "<mailto:unsubscribe@acme.example?subject=unsubscribe>"
    assert headers["List-Unsubscribe-Post"] is None  # RFC 8058 needs the https form
    assert mail.text().endswith("-- \nTo unsubscribe: unsubscribe@acme.example\n")


def test_one_connection_serves_a_batch_and_a_refused_recipient_fails_alone(smtp_server):
    smtp_server.refuse.add("gone@example.com")
    provider = build_provider("email", config(smtp_server), ENV)
    provider.send(message("ann@example.com"))
    with pytest.raises(DeliveryError) as refused:
        provider.send(message("gone@example.com"))
    provider.send(message("bob@example.com"))
    provider.close()

    assert "550" in refused.value.message and "refused the recipient" in refused.value.message
    assert not refused.value.outcome_unknown and not refused.value.channel_down
    assert [m.rcpt_tos for m in smtp_server.received] == [["ann@example.com"], ["bob@example.com"]]
    assert smtp_server.logins == [SMTP_USER]  # logged in once for the batch


def test_a_4xx_is_tried_again_then_left_for_later_never_failed(smtp_server):
    """451 "try later" (greylisting, a busy server) at RCPT or after DATA: nothing was taken,
    so the same message is tried again within max_attempts, then handed back as
    retry_later (queued again by the outbox), not as a permanent failure."""
    provider = build_provider("email", config(smtp_server, backoff=0), ENV)
    smtp_server.rcpt_try_later["ann@example.com"] = 2
    receipt = provider.send(message())  # the third attempt goes through
    assert len(smtp_server.received) == 1
    assert receipt.provider_message_id == smtp_server.received[0].message["Message-ID"]

    smtp_server.data_try_later["bob@example.com"] = 99
    with pytest.raises(DeliveryError) as raised:
        provider.send(message("bob@example.com"))
    error = raised.value
    assert (error.retry_later, error.outcome_unknown, error.channel_down) == (True, False, False)
    assert error.message.startswith("the SMTP server refused it for now: 451 4.3.0 try later")
    assert "3 attempt(s)" in error.message
    assert smtp_server.data_try_later["bob@example.com"] == 96  # three tries, no more
    # A permanent refusal is still one, and not tried again.
    smtp_server.refuse.add("cy@example.com")
    with pytest.raises(DeliveryError) as refused:
        provider.send(message("cy@example.com"))
    assert not refused.value.retry_later and "550" in refused.value.message
    provider.close()
    assert len(smtp_server.received) == 1

    once = build_provider("email", config(smtp_server, max_attempts=1), ENV)
    smtp_server.rcpt_try_later["dee@example.com"] = 1
    with pytest.raises(DeliveryError, match="1 attempt"):
        once.send(message("dee@example.com"))
    once.close()


def test_starttls_with_a_private_ca(smtp_tls_server):
    cfg = config(smtp_tls_server, security="starttls", ca_file=str(smtp_tls_server.cert))
    provider = build_provider("email", cfg, ENV)
    provider.send(message())
    provider.close()
    assert smtp_tls_server.received[0].login == SMTP_USER

    # Without the CA the certificate is not trusted: nothing is sent, the channel is down.
    untrusted = build_provider("email", config(smtp_tls_server, security="starttls"), ENV)
    with pytest.raises(DeliveryError) as failed:
        untrusted.send(message())
    assert failed.value.channel_down and "CERTIFICATE_VERIFY_FAILED" in failed.value.message
    # A server that requires STARTTLS refuses mail from a client that does not use it.
    plain = build_provider("email", config(smtp_tls_server), {})
    with pytest.raises(DeliveryError):
        plain.send(message())
    assert len(smtp_tls_server.received) == 1


def test_unreachable_server_and_refused_login_stop_the_channel(smtp_server):
    closed_port = config(smtp_server, port=1)
    with pytest.raises(DeliveryError) as unreachable:
        build_provider("email", closed_port, ENV).send(message())
    assert unreachable.value.channel_down and "cannot reach the SMTP server" in (
        unreachable.value.message
    )

    wrong = {"SMTP_USERNAME": SMTP_USER, "SMTP_PASSWORD": "wrong-" + SMTP_PASSWORD}
    with pytest.raises(DeliveryError) as refused:
        build_provider("email", config(smtp_server), wrong).send(message())
    assert refused.value.channel_down and "refused the login" in refused.value.message
    assert SMTP_PASSWORD not in refused.value.message
    assert smtp_server.received == []


def test_a_customer_without_from_email_cannot_send(smtp_server):
    provider = build_provider("email", config(smtp_server), ENV)
    with pytest.raises(DeliveryError, match="no From address"):
        provider.send(message(payload={"from": None}))
    provider.close()
    assert smtp_server.received == []


@pytest.mark.parametrize(
    ("key", "value", "header"),
    [
        ("from", '"Evil\r\nBcc: victim@x.example" <growth@acme.example>', "From"),
        ("from", '"Acme\r\nX-Evil: 1" <growth@acme.example>', "From"),
        ("reply_to", "hello@acme.example\r\nBcc: victim@x.example", "Reply-To"),
    ],
)
def test_a_sender_with_a_line_break_is_refused_not_parsed(smtp_server, key, value, header):
    """Regression: parseaddr read the first From as victim@x.example, which became the From
    header and the SMTP envelope's MAIL FROM."""
    provider = build_provider("email", config(smtp_server), ENV)
    with pytest.raises(DeliveryError, match=f"refused: the message's {header} ") as refused:
        provider.send(message(payload={**SENDER, key: value}))
    provider.close()
    assert "contains a line break (CR)" in refused.value.message
    assert "hunter customers update acme" in refused.value.message
    assert smtp_server.received == []


@pytest.mark.parametrize(
    ("change", "env", "problem"),
    [
        ({"host": None}, ENV, "needs [channels.email] host"),
        (
            {"unsubscribe_url": None, "unsubscribe_mailto": None},
            ENV,
            "needs an unsubscribe address",
        ),
        ({"unsubscribe_url": "http://acme.example/u"}, ENV, "must be an https URL"),
        ({"unsubscribe_url": "https://acme.example/u?e={mail}"}, ENV, "bad placeholder"),
        ({"security": "ssl"}, ENV, "security must be one of starttls, tls, none"),
        ({"port": "587"}, ENV, "port must be an integer"),
        ({}, {"SMTP_USERNAME": SMTP_USER}, "set the environment variable SMTP_PASSWORD"),
        ({"username_env": "MAIL_USER"}, ENV, "set the environment variable MAIL_USER"),
        ({"password_env": "smtp password"}, ENV, "names an environment variable"),
        ({"host": "smtp.example.com"}, ENV, "refusing to send the SMTP password unencrypted"),
        ({"unsubscribe_link": "https://x.example"}, ENV, "unknown key 'unsubscribe_link'"),
    ],
)
def test_configuration_errors_name_the_key_or_variable(smtp_server, change, env, problem):
    cfg = config(smtp_server)
    for key, value in change.items():
        if value is None:
            cfg["email"].pop(key, None)
        else:
            cfg["email"][key] = value
    with pytest.raises(ChannelConfigError) as error:
        build_provider("email", cfg, env)
    assert problem in error.value.message
    assert SMTP_PASSWORD not in error.value.message


def test_defaults_follow_the_security_mode():
    env = {}
    base = {"host": "smtp.example.com", "unsubscribe_mailto": "u@example.com"}
    starttls = build_provider("email", {"email": base}, env)
    implicit = build_provider("email", {"email": {**base, "security": "tls"}}, env)
    assert isinstance(starttls, SmtpEmailProvider) and isinstance(implicit, SmtpEmailProvider)
    assert (starttls.security, starttls.port) == ("starttls", 587)
    assert (implicit.security, implicit.port) == ("tls", 465)


def test_a_relay_without_auth_is_named_as_such_not_as_missing_starttls(smtp_relay):
    """Regression: security = "none" with username_env against `python -m aiosmtpd -n` said
    the server does not offer STARTTLS and to set security = "none", which it already was."""
    cfg = config(smtp_relay, username_env="SMTP_USERNAME", password_env="SMTP_PASSWORD")
    with pytest.raises(DeliveryError) as failed:
        build_provider("email", cfg, ENV).send(message())
    assert failed.value.channel_down
    assert failed.value.message == (
        f"the SMTP server {smtp_relay.host}:{smtp_relay.port} does not offer AUTH (login), but "
        "[channels.email] username_env/password_env ask for one: for a relay that needs no "
        "login, remove them"
    )
    assert "STARTTLS" not in failed.value.message and SMTP_PASSWORD not in failed.value.message
    # Not named in hunter.toml, but the default variable is set: say which one to unset.
    with pytest.raises(DeliveryError, match="but SMTP_USERNAME is set in the environment"):
        build_provider("email", config(smtp_relay), ENV).send(message())
    assert smtp_relay.received == []

    # Without a login the relay takes the mail.
    provider = build_provider("email", config(smtp_relay), {})
    provider.send(message())
    provider.close()
    assert len(smtp_relay.received) == 1


def test_starttls_asked_of_a_server_without_it_says_so(smtp_relay):
    with pytest.raises(DeliveryError) as failed:
        build_provider("email", config(smtp_relay, security="starttls"), {}).send(message())
    assert failed.value.channel_down and "does not offer STARTTLS" in failed.value.message
