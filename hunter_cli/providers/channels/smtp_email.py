"""E-mail over SMTP (smtplib): STARTTLS, implicit TLS, or plain for a loopback relay.

Every message carries what bulk-mail rules ask of a sender: From and Reply-To from the
customer's settings, a Message-ID in the sender's domain, `List-Unsubscribe` in its mailto
and https forms with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), and the
sender's postal address in the footer when the customer has one.
"""

from __future__ import annotations

import contextlib
import html as html_lib
import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from urllib.parse import quote, urlsplit

from hunter_cli.providers.channels.base import (
    ChannelConfig,
    ChannelConfigError,
    DeliveryError,
    DeliveryReceipt,
    OutgoingMessage,
    RetryPolicy,
    pause_between_attempts,
    scrub,
)
from hunter_cli.text_hygiene import control_character

SECURITY_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
ONE_CLICK = "List-Unsubscribe=One-Click"
# Placeholders an unsubscribe template may use, with sample values to check it by.
_TEMPLATE_SAMPLE = {"email": "a%40b.example", "id": "0" * 32, "customer": "acme"}


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _to_header(name: str | None, address: str) -> str:
    """The To header. formataddr refuses an address beyond ASCII (josé@): that one is written
    as is, its display name quoted, and goes out as UTF-8 with SMTPUTF8 (RFC 6532)."""
    if address.isascii():
        return formataddr((name, address))
    from email.utils import quote as escaped

    return f'"{escaped(name)}" <{address}>' if name else address


def _one_line(text: str | None) -> str:
    """Header values cannot hold line breaks (that would let a template inject headers)."""
    return " ".join((text or "").split())


class SmtpEmailProvider:
    """Sends through one SMTP connection, opened on first use and kept for the batch."""

    name = "smtp"
    # The keys its [channels.*] table may hold; any other is a typo.
    config_keys = frozenset(
        (
            "host",
            "port",
            "security",
            "timeout",
            "username_env",
            "password_env",
            "unsubscribe_mailto",
            "unsubscribe_url",
            "ca_file",
            "helo",
            "max_attempts",
            "backoff",
            "max_backoff",
        )
    )

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str = "starttls",
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        username: str | None = None,
        password: str | None = None,
        unsubscribe_mailto: str | None = None,
        unsubscribe_url: str | None = None,
        ca_file: str | None = None,
        helo: str | None = None,
        username_env: str | None = "SMTP_USERNAME",
        username_named: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.username = username
        self._password = password
        self.unsubscribe_mailto = unsubscribe_mailto
        self.unsubscribe_url = unsubscribe_url
        self.ca_file = ca_file
        self.helo = helo
        # Where the user name came from, for messages: the variable, and whether
        # hunter.toml named it (else it is the default SMTP_USERNAME, found set).
        self.username_env = username_env
        self.username_named = username_named
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_config(cls, config: ChannelConfig) -> SmtpEmailProvider:
        host = config.text("host")
        if not host:
            raise ChannelConfigError(
                "email delivery needs [channels.email] host (your SMTP server) in hunter.toml"
            )
        security = config.choice("security", "starttls", SECURITY_MODES)
        port = config.integer("port", DEFAULT_PORTS[security], minimum=1)
        assert port is not None
        username = config.secret(
            "username_env", "SMTP_USERNAME", required=False, purpose="an SMTP user name"
        )
        password = None
        if username:
            password = config.secret(
                "password_env", "SMTP_PASSWORD", required=True, purpose="the SMTP password"
            )
            if security == "none" and not _is_loopback(host):
                raise ChannelConfigError(
                    f"refusing to send the SMTP password unencrypted to {host}: set "
                    '[channels.email] security = "starttls" or "tls"'
                )
        mailto = config.text("unsubscribe_mailto")
        url = config.text("unsubscribe_url")
        if not (mailto or url):
            # Bulk-mail rules (and the law in many places) want a working opt-out in every
            # commercial e-mail: refuse to send without one rather than send non-compliant mail.
            raise ChannelConfigError(
                "email delivery needs an unsubscribe address: set [channels.email] "
                'unsubscribe_url (e.g. "https://example.com/u?e={email}") and/or '
                "unsubscribe_mailto in hunter.toml"
            )
        for key, template in (("unsubscribe_mailto", mailto), ("unsubscribe_url", url)):
            if template:
                try:
                    template.format_map(_TEMPLATE_SAMPLE)
                except (KeyError, ValueError, IndexError) as exc:
                    raise ChannelConfigError(
                        f"{config.where(key)}: bad placeholder {exc} (use {{email}}, {{id}} "
                        "or {customer})"
                    ) from None
        if url and urlsplit(url).scheme.lower() != "https":
            raise ChannelConfigError(
                f"{config.where('unsubscribe_url')} must be an https URL (RFC 8058 one-click)"
            )
        return cls(
            host=host,
            port=port,
            security=security,
            timeout=config.number("timeout", 30.0, minimum=0.1),
            retry=RetryPolicy.from_config(config, attempts=3, retry_timeouts=False),
            username=username,
            password=password,
            unsubscribe_mailto=mailto,
            unsubscribe_url=url,
            ca_file=config.text("ca_file"),
            helo=config.text("helo"),
            username_env=config.env_name("username_env", "SMTP_USERNAME"),
            username_named="username_env" in config.values,
        )

    # -- composing ---------------------------------------------------------------------------
    def unsubscribe_links(self, message: OutgoingMessage) -> tuple[str | None, str | None]:
        """(mailto URI, https URL) for this recipient, from the configured templates."""
        values = {
            "email": quote(message.recipient, safe=""),
            "id": message.id.hex,
            "customer": quote(message.customer or "", safe=""),
        }
        mailto = url = None
        if self.unsubscribe_mailto:
            mailto = self.unsubscribe_mailto.format_map(values)
            if not mailto.lower().startswith("mailto:"):
                mailto = "mailto:" + mailto
            if "?" not in mailto:
                mailto += "?subject=unsubscribe"
        if self.unsubscribe_url:
            url = self.unsubscribe_url.format_map(values)
        return mailto, url

    def build_message(self, message: OutgoingMessage) -> EmailMessage:
        """The RFC 5322 message for one outbox e-mail. DeliveryError if it has no sender."""
        payload = message.payload or {}
        _refuse_control_characters(message)
        from_header = payload.get("from")
        from_name, from_address = parseaddr(str(from_header or ""))
        if "@" not in from_address:
            raise DeliveryError(
                "no From address: set from_email in the customer's settings "
                "(`hunter customers list` shows them)"
            )
        domain = from_address.rsplit("@", 1)[1]
        mailto, url = self.unsubscribe_links(message)

        email = EmailMessage()
        email["From"] = formataddr((_one_line(from_name), from_address))
        email["To"] = _to_header(_one_line(payload.get("to_name")), message.recipient)
        if payload.get("reply_to"):
            email["Reply-To"] = _one_line(str(payload["reply_to"]))
        email["Subject"] = _one_line(message.subject)
        email["Date"] = formatdate(usegmt=True)
        # Short enough not to be folded onto a second header line (some parsers keep the
        # fold's space); the outbox row links it to our message id.
        email["Message-ID"] = make_msgid(domain=domain)
        email["List-Unsubscribe"] = ", ".join(f"<{link}>" for link in (mailto, url) if link)
        if url:  # RFC 8058: one-click needs the https form
            email["List-Unsubscribe-Post"] = ONE_CLICK

        postal = _one_line(payload.get("postal_address")) or None
        opt_out = url or (mailto.split(":", 1)[1].split("?", 1)[0] if mailto else None)
        email.set_content(_text_with_footer(message.body, postal, opt_out))
        if message.html:
            email.add_alternative(_html_with_footer(message.html, postal, url or mailto), "html")
        return email

    # -- sending -----------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        """Deliver one message. A 4xx reply (greylisting, "try later", a full mailbox) means
        nothing was accepted: the same message is tried again within the retry policy, and
        then left to a later send (DeliveryError with retry_later), never failed for good."""
        email = self.build_message(message)
        from_address = parseaddr(str(email["From"]))[1]
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return self._send_once(email, from_address, message.recipient)
            except _TryLater as later:
                if attempt == self.retry.attempts:
                    raise DeliveryError(
                        self._clean(
                            f"the SMTP server refused it for now: {later.reply} (a temporary "
                            f"refusal, {attempt} attempt(s)); it stays queued for a later "
                            "`hunter outbox send`"
                        ),
                        retry_later=True,
                    ) from None
                pause_between_attempts(self.retry.wait(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _send_once(self, email: EmailMessage, from_address: str, to: str) -> DeliveryReceipt:
        smtp = self._connection()
        try:
            smtp.send_message(email, from_addr=from_address, to_addrs=[to])
        except smtplib.SMTPNotSupportedError:
            # An address beyond ASCII (josé@) needs SMTPUTF8, which this server does not offer.
            raise DeliveryError(
                self._clean(
                    f"the SMTP server does not accept internationalised addresses (it offers no "
                    f"SMTPUTF8), and {to} is one"
                )
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()), (0, b""))
            if _temporary(code):
                raise _TryLater(f"{code} {_decode(reason)}") from None
            raise DeliveryError(
                self._clean(f"the SMTP server refused the recipient: {code} {_decode(reason)}")
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise DeliveryError(
                self._clean(
                    f"the SMTP server closed the connection mid-message ({exc}): it may "
                    "or may not have accepted it"
                ),
                outcome_unknown=True,
            ) from None
        except smtplib.SMTPResponseException as exc:
            if _temporary(exc.smtp_code):  # MAIL FROM or DATA answered 4xx: nothing accepted
                raise _TryLater(f"{exc.smtp_code} {_decode(exc.smtp_error)}") from None
            raise DeliveryError(
                self._clean(
                    f"the SMTP server refused the message: {exc.smtp_code} "
                    f"{_decode(exc.smtp_error)}"
                )
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            # A timeout or reset once the message was on its way: it may have been accepted.
            self._drop()
            raise DeliveryError(
                self._clean(
                    f"lost the SMTP connection while sending ({type(exc).__name__}: "
                    f"{exc}): the server may or may not have accepted it"
                ),
                outcome_unknown=True,
            ) from None
        except BaseException:
            # Ctrl-C or SIGTERM mid-message: the session is mid-transaction, so close() must
            # not wait on a QUIT the server cannot answer in turn (it held the process for
            # the whole timeout).
            self._drop()
            raise
        return DeliveryReceipt(self.name, str(email["Message-ID"]))

    def close(self) -> None:
        if self._smtp is not None:
            # Already gone is fine: nothing is pending once send() has returned.
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._drop()

    def _connection(self) -> smtplib.SMTP:
        """The open connection, checked with NOOP, or a new one. Failing to connect or log in
        means nothing was sent: DeliveryError with channel_down, so the batch stops."""
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()
        where = f"{self.host}:{self.port}"
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            smtp: smtplib.SMTP
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.helo,
                    timeout=self.timeout,
                    context=context,
                )
            else:
                smtp = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.helo, timeout=self.timeout
                )
            try:
                smtp.ehlo()
                if self.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise _down(
                            f"the SMTP server {where} does not offer STARTTLS: set "
                            '[channels.email] security = "tls" (or "none" for a loopback relay)'
                        )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username:
                    if not smtp.has_extn("auth"):
                        raise _down(self._no_auth(where, smtp))
                    smtp.login(self.username, self._password or "")
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise _down(
                self._clean(
                    f"the SMTP server {where} refused the login ({exc.smtp_code}): check "
                    "the user name and password variables named in [channels.email]"
                )
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _down(
                self._clean(f"cannot reach the SMTP server {where}: {type(exc).__name__}: {exc}")
            ) from None
        self._smtp = smtp
        return smtp

    def _no_auth(self, where: str, smtp: smtplib.SMTP) -> str:
        """Why login cannot happen: the server offers no AUTH (a relay that needs no login)."""
        text = f"the SMTP server {where} does not offer AUTH (login), "
        if self.username_named:
            text += (
                "but [channels.email] username_env/password_env ask for one: for a relay that "
                "needs no login, remove them"
            )
        else:  # the default variable is set, so hunter logs in without being told to
            text += (
                f"but {self.username_env} is set in the environment, so hunter logs in: for a "
                "relay that needs no login, unset it"
            )
        if self.security == "none" and smtp.has_extn("starttls"):
            # Many servers offer AUTH only once the connection is encrypted.
            text += '; if it needs one, set security = "starttls" (it offers STARTTLS)'
        return text

    def _drop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError):
                self._smtp.close()
        self._smtp = None

    def _clean(self, text: str) -> str:
        return scrub(text, [self._password])


class _TryLater(Exception):
    """A 4xx reply: the server took nothing and asks for another try later."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


def _refuse_control_characters(message: OutgoingMessage) -> None:
    """A From or Reply-To holding a line break: parseaddr read `"Evil\r\nBcc: v@x" <a@b>` as
    the address v@x, so it became the From header and the SMTP envelope's sender."""
    payload = message.payload or {}
    for key, header, options in (
        ("from", "From", "--from-name/--from-email"),
        ("reply_to", "Reply-To", "--reply-to"),
    ):
        what = control_character(str(payload.get(key) or ""))
        if what is None:
            continue
        customer = message.customer or "CUSTOMER"
        raise DeliveryError(
            f"refused: the message's {header} ({payload[key]!r}) contains {what}, which "
            f"would change its headers and sender; it was queued with customer {customer}'s "
            f"sender settings as they were then: fix them (`hunter customers update "
            f"{customer} {options} ...`) and run the recipe again to write it anew"
        )


def _temporary(code: int) -> bool:
    """SMTP's transient negative replies (RFC 5321 4.2.1): 4yz, e.g. 421, 450, 451, 452."""
    return 400 <= code < 500


def _down(text: str) -> DeliveryError:
    return DeliveryError(text, channel_down=True)


def _decode(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _text_with_footer(body: str | None, postal: str | None, opt_out: str | None) -> str:
    lines = [line for line in (postal, f"To unsubscribe: {opt_out}" if opt_out else None) if line]
    text = (body or "").rstrip()
    if lines:
        text = (text + "\n\n-- \n" if text else "-- \n") + "\n".join(lines)
    return text + "\n"


def _html_with_footer(html: str, postal: str | None, link: str | None) -> str:
    parts = []
    if postal:
        parts.append(html_lib.escape(postal))
    if link:
        href = html_lib.escape(link, quote=True)
        parts.append(f'<a href="{href}">Unsubscribe</a>')
    if not parts:
        return html
    footer = '<p style="font-size:12px;color:#666;margin-top:24px">' + "<br>".join(parts) + "</p>"
    lower = html.lower()
    at = lower.rfind("</body>")
    return html[:at] + footer + html[at:] if at != -1 else html + footer
