"""Real servers on loopback for the delivery channels: an SMTP server (aiosmtpd) that keeps
what it receives, and fake Twilio, ntfy and webhook receivers built on tests/servers.py that
check what a real one would (basic auth and form fields, bearer tokens, Standard Webhooks
signatures with the `standardwebhooks` package).

Fixtures: `smtp_server` (plain, AUTH allowed without TLS), `smtp_relay` (plain, no AUTH
offered), `smtp_tls_server` (STARTTLS required, self-signed certificate; skipped without
openssl), `twilio`, `ntfy`, `webhook_receiver`. Import them into a test module, or list this
module in `pytest_plugins`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import LoopbackServer, RecordedRequest, Reply

__all__ = [
    "NTFY_TOKEN",
    "SMTP_PASSWORD",
    "SMTP_USER",
    "TWILIO_SID",
    "TWILIO_TOKEN",
    "WEBHOOK_SECRET",
    "FakeNtfy",
    "FakeTwilio",
    "ReceivedMail",
    "SmtpServer",
    "WebhookReceiver",
    "ntfy",
    "smtp_relay",
    "smtp_server",
    "smtp_tls_server",
    "twilio",
    "webhook_receiver",
]

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-pa55-s3cret"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-t0ken-s3cret"
NTFY_TOKEN = "tk_ntfy5ecret0token"
# A Standard Webhooks secret: whsec_ + base64 of the key bytes.
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-signing-key-s3cret-bytes").decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None  # the user that authenticated, if any

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    def text(self) -> str:
        """The plain-text part, with the wire's CRLF line ends made \n again."""
        part = self.message.get_body(("plain",))
        return part.get_content().replace("\r\n", "\n") if part is not None else ""

    def html(self) -> str | None:
        part = self.message.get_body(("html",))
        return part.get_content().replace("\r\n", "\n") if part is not None else None


@dataclass
class Hold:
    """A message the SMTP server holds unanswered (see SmtpServer.hold)."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.server.refuse:
            return "550 5.1.1 mailbox unavailable"
        if self.server.later(self.server.rcpt_try_later, address):
            return "451 4.3.0 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if any(self.server.later(self.server.data_try_later, a) for a in envelope.rcpt_tos):
            return "451 4.3.0 try later"
        holds = self.server.holds
        for hold in [holds[a] for a in envelope.rcpt_tos if a in holds]:
            if hold.arrived.is_set():
                continue  # held once: later messages to the address go through
            # Unanswered until the test releases it: the sender is left mid-delivery.
            hold.arrived.set()
            while not hold.release.is_set():
                await asyncio.sleep(0.02)
            if server.transport is None or server.transport.is_closing():
                return "421 4.4.2 the sender has gone"  # never kept: the sender died
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        with self.server.lock:
            self.server.received.append(
                ReceivedMail(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                    login,
                )
            )
        return "250 2.0.0 Ok: queued"


class SmtpServer:
    """aiosmtpd on 127.0.0.1: received mail in `received`; `refuse` holds addresses the
    server answers 550 for, `rcpt_try_later`/`data_try_later` a 451 count per address, and
    `hold(address)` holds a message unanswered; login with SMTP_USER / SMTP_PASSWORD."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        offer_auth: bool = True,
        smtputf8: bool = True,
    ) -> None:
        self.received: list[ReceivedMail] = []
        self.refuse: set[str] = set()
        self.logins: list[str] = []
        self.lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = _free_port()
        # offer_auth=False is `python -m aiosmtpd -n`: AUTH only over TLS, and no TLS.
        options: dict[str, Any] = {
            "authenticator": self._authenticate,
            "auth_require_tls": tls_context is not None or not offer_auth,
            # RFC 6531: internationalised addresses (josé@x.example), as Postfix offers.
            "enable_SMTPUTF8": smtputf8,
        }
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        self.controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10, **options
        )
        # address -> how many more times to answer 451 "try later" at RCPT or after DATA.
        self.rcpt_try_later: dict[str, int] = {}
        self.data_try_later: dict[str, int] = {}
        self.holds: dict[str, Hold] = {}

    def hold(self, address: str) -> Hold:
        """Leave the next message to address unanswered until `release` is set (then it is
        kept, unless its sender has gone); `arrived` is set when it comes."""
        self.holds[address] = hold = Hold()
        return hold

    def later(self, replies: dict[str, int], address: str) -> bool:
        """Whether to answer "try later" to address now (counting it down)."""
        with self.lock:
            left = replies.get(address, 0)
            if left:
                replies[address] = left - 1
            return left > 0

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        for hold in self.holds.values():
            hold.release.set()
        self.controller.stop()

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.received if address in m.rcpt_tos]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_relay() -> Iterator[SmtpServer]:
    """A relay that takes mail without a login and offers no AUTH (`python -m aiosmtpd -n`)."""
    server = SmtpServer(offer_auth=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],  # fmt: skip
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def smtp_tls_server(tls_files) -> Iterator[SmtpServer]:
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SmtpServer(tls_context=context).start()
    server.cert = cert  # type: ignore[attr-defined]
    yield server
    server.stop()


# --- Twilio ----------------------------------------------------------------------------------


class FakeTwilio:
    """Twilio's Messages API as far as we use it: basic auth of SID and token, form fields
    To/From/Body, 201 with the message resource; 401 for bad credentials, 400 (code 21211)
    for a number it cannot use."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        self.sent: list[dict[str, str]] = []
        self.invalid: set[str] = set()
        server.route("POST", self.path, self._answer)

    @property
    def url(self) -> str:
        return self.server.url

    def _answer(self, request: RecordedRequest) -> Reply:
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Reply(
                status=401,
                json={
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                },
            )
        form = {k: v[0] for k, v in request.form.items()}
        if form.get("To") in self.invalid:
            return Reply(
                status=400,
                json={
                    "code": 21211,
                    "message": f"The 'To' number {form['To']} is not a valid phone number.",
                    "more_info": "https://www.twilio.com/docs/errors/21211",
                    "status": 400,
                },
            )
        sid = f"SM{len(self.sent):032x}"
        self.sent.append(form)
        return Reply(
            status=201,
            json={
                "sid": sid,
                "account_sid": TWILIO_SID,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "error_code": None,
                "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
            },
        )


@pytest.fixture
def twilio(http_server) -> FakeTwilio:
    return FakeTwilio(http_server)


# --- ntfy ------------------------------------------------------------------------------------


class FakeNtfy:
    """An ntfy server: POST /<topic> answers the published message as JSON; with `token`
    set, only `Authorization: Bearer <token>` may publish (401 otherwise)."""

    def __init__(self, server: LoopbackServer, token: str | None = NTFY_TOKEN) -> None:
        self.server = server
        self.token = token
        self.published: list[RecordedRequest] = []

    @property
    def url(self) -> str:
        return self.server.url

    def topic(self, name: str) -> None:
        self.server.route("POST", f"/{name}", self._answer)

    def _answer(self, request: RecordedRequest) -> Reply:
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(status=401, json={"code": 40101, "http": 401, "error": "unauthorized"})
        self.published.append(request)
        return Reply(
            json={
                "id": f"ntfy{len(self.published):04d}",
                "time": int(time.time()),
                "event": "message",
                "topic": request.path.lstrip("/"),
                "message": request.body.decode(),
            }
        )


@pytest.fixture
def ntfy(http_server) -> FakeNtfy:
    return FakeNtfy(http_server)


# --- webhooks --------------------------------------------------------------------------------


@dataclass
class WebhookReceiver:
    """An endpoint that verifies every request with the `standardwebhooks` package; answers
    from `replies` in turn (then 204), after checking the signature (401 when it is bad)."""

    server: LoopbackServer
    path: str = "/hooks/in"
    secret: str = WEBHOOK_SECRET
    verified: list[Any] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.route("POST", self.path, self._answer)

    @property
    def url(self) -> str:
        return self.server.url + self.path

    def _answer(self, request: RecordedRequest) -> Reply:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        try:
            data = Webhook(self.secret).verify(request.body, request.headers)
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return Reply(status=401, json={"error": "bad signature"})
        self.verified.append(data)
        with contextlib.suppress(IndexError):
            return self.replies.pop(0)
        return Reply(status=204)


@pytest.fixture
def webhook_receiver(http_server) -> WebhookReceiver:
    return WebhookReceiver(http_server)
