"""SMS through Twilio's Messages API.

POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json with the form fields To,
From (or MessagingServiceSid) and Body, HTTP basic auth of account SID and auth token; the
201 answer's `sid` (SM...) is the provider message id. Errors come back as JSON
{code, message, more_info, status}.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx

from hunter_cli.providers.channels.base import (
    ChannelConfig,
    ChannelConfigError,
    DeliveryError,
    DeliveryReceipt,
    OutgoingMessage,
    scrub,
)
from hunter_cli.providers.channels.http import RetryPolicy, error_text, post_with_retries

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617)


class TwilioSmsProvider:
    name = "twilio"
    # The keys its [channels.*] table may hold; any other is a typo.
    config_keys = frozenset(
        (
            "from",
            "messaging_service_sid",
            "account_sid_env",
            "auth_token_env",
            "base_url",
            "timeout",
            "max_attempts",
            "backoff",
            "max_backoff",
            "opt_out_text",
        )
    )

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = "https://api.twilio.com",
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        opt_out_text: str | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.opt_out_text = opt_out_text
        self._client = httpx.Client(
            timeout=timeout, auth=(account_sid, auth_token), follow_redirects=False
        )

    @classmethod
    def from_config(cls, config: ChannelConfig) -> TwilioSmsProvider:
        sid = config.secret(
            "account_sid_env", "TWILIO_ACCOUNT_SID", required=True, purpose="a Twilio account SID"
        )
        token = config.secret(
            "auth_token_env", "TWILIO_AUTH_TOKEN", required=True, purpose="a Twilio auth token"
        )
        assert sid and token
        sender = config.text("from")
        service = config.text("messaging_service_sid")
        if not (sender or service):
            raise ChannelConfigError(
                'sms delivery needs [channels.sms] from = "+15005550006" (your Twilio number, '
                "E.164) or messaging_service_sid in hunter.toml"
            )
        if sender and not E164.match(sender):
            raise ChannelConfigError(
                f"[channels.sms] from must be an E.164 number like +15005550006, not {sender!r}"
            )
        return cls(
            account_sid=sid,
            auth_token=token,
            from_number=sender,
            messaging_service_sid=service,
            base_url=config.text("base_url", "https://api.twilio.com") or "https://api.twilio.com",
            timeout=config.number("timeout", 30.0, minimum=0.1),
            retry=RetryPolicy.from_config(config, attempts=3, retry_timeouts=False),
            opt_out_text=config.text("opt_out_text"),
        )

    def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        to = message.recipient
        if not E164.match(to):
            raise DeliveryError(f"not an E.164 phone number: {to!r} (e.g. +4930123456)")
        body = (message.body or "").strip()
        if self.opt_out_text:
            body = f"{body}\n{self.opt_out_text}" if body else self.opt_out_text
        if not body:
            raise DeliveryError("empty SMS body")
        if len(body) > MAX_BODY:
            raise DeliveryError(f"SMS body is {len(body)} characters; Twilio takes {MAX_BODY}")
        form = {"To": to, "Body": body}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        if self.from_number:
            form["From"] = self.from_number
        url = (
            f"{self.base_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/Messages.json"
        )
        try:
            response = post_with_retries(
                self._client,
                url,
                lambda: {"data": form},
                policy=self.retry,
                where="Twilio",
                down_when_unreachable=True,
            )
        except DeliveryError as exc:
            exc.message = self._clean(exc.message)
            raise
        if response.status_code in (200, 201):
            try:
                sid = response.json().get("sid")
            except (ValueError, AttributeError):
                sid = None
            return DeliveryReceipt(self.name, str(sid) if sid else None)
        reason = self._clean(error_text(response, "message", "detail"))
        code = _json_field(response, "code")
        suffix = f" (Twilio error {code})" if code else ""
        if response.status_code in (401, 403):
            raise DeliveryError(
                f"Twilio refused the credentials ({response.status_code}): {reason}{suffix}; "
                "check the variables named by [channels.sms] account_sid_env / auth_token_env",
                channel_down=True,
            )
        raise DeliveryError(
            f"Twilio refused the message ({response.status_code}): {reason}{suffix}"
        )

    def close(self) -> None:
        self._client.close()

    def _clean(self, text: str) -> str:
        return scrub(text, [self._auth_token])


def _json_field(response: httpx.Response, key: str) -> object:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(key) if isinstance(data, dict) else None
