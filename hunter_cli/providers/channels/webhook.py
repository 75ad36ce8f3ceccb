"""Webhooks: a JSON POST signed per the Standard Webhooks spec.

Headers `webhook-id` (stable for the message, so a receiver can drop a repeat),
`webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`:
"v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>" keyed with the base64-decoded part of
the `whsec_...` secret. Retried with exponential backoff on 5xx, 429 and timeouts (the id
makes a repeat harmless), never on another 4xx.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from hunter_cli.providers.channels.base import (
    ChannelConfig,
    ChannelConfigError,
    DeliveryError,
    DeliveryReceipt,
    OutgoingMessage,
    display_url,
)
from hunter_cli.providers.channels.http import RetryPolicy, error_text, post_with_retries

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix is optional)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError("not a whsec_<base64> secret")
    return key


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_body(message: OutgoingMessage) -> bytes:
    """The JSON sent: the step's payload as written, or {type?, text} for a text-only one."""
    payload = message.payload or {}
    if "json" in payload:
        data: Any = payload["json"]
    else:
        data = {"text": message.body}
        if payload.get("event"):
            data = {"type": payload["event"], **data}
    # Compact and fixed: the signature covers these exact bytes.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookProvider:
    name = "webhook"
    # The keys its [channels.*] table may hold; any other is a typo.
    config_keys = frozenset(("secret_env", "timeout", "max_attempts", "backoff", "max_backoff"))

    def __init__(
        self,
        *,
        secret: str,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._key = decode_secret(secret)
        self.retry = retry or RetryPolicy(attempts=4, retry_timeouts=True)
        self._clock = clock
        self._sleep = sleep
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    @classmethod
    def from_config(cls, config: ChannelConfig) -> WebhookProvider:
        secret = config.secret(
            "secret_env", "WEBHOOK_SECRET", required=True, purpose="a signing secret (whsec_...)"
        )
        assert secret
        try:
            decode_secret(secret)
        except ValueError:
            name = config.env_name("secret_env", "WEBHOOK_SECRET")
            raise ChannelConfigError(
                f"{name} must hold a Standard Webhooks secret: whsec_ followed by base64"
            ) from None
        return cls(
            secret=secret,
            timeout=config.number("timeout", 10.0, minimum=0.1),
            retry=RetryPolicy.from_config(config, attempts=4, retry_timeouts=True),
        )

    def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        body = webhook_body(message)
        message_id = f"msg_{message.id.hex}"
        where = display_url(message.recipient)

        def request() -> dict[str, Any]:
            # Signed afresh per attempt: the timestamp is the attempt's.
            timestamp = int(self._clock())
            return {
                "content": body,
                "headers": {
                    "content-type": "application/json",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(self._key, message_id, timestamp, body),
                },
            }

        response = post_with_retries(
            self._client,
            message.recipient,
            request,
            policy=self.retry,
            where=where,
            down_when_unreachable=False,  # each message may go to another endpoint
            sleep=self._sleep,
        )
        if 200 <= response.status_code < 300:
            return DeliveryReceipt(self.name, message_id)
        reason = error_text(response, "error", "message", "detail")
        if 300 <= response.status_code < 400:
            reason = "a redirect (not followed: point the step at the final URL)"
        raise DeliveryError(f"{where} answered {response.status_code}: {reason}")

    def close(self) -> None:
        self._client.close()
