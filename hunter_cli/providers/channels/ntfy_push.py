"""Push notifications through an ntfy-compatible server.

POST {server}/{topic} with the message as the body and the headers Title, Priority (1-5 or
min/low/default/high/max/urgent), Tags (comma-separated), Click (a link) and, for protected
topics, `Authorization: Bearer <token>`. ntfy answers with the published message as JSON;
its `id` is the provider message id.
"""

from __future__ import annotations

from email.header import Header
from typing import Any
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

PRIORITIES = ("1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent")


def _priority(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if text not in PRIORITIES:
        raise ValueError(f"priority must be 1-5 or one of {', '.join(PRIORITIES[5:])}")
    return text


def _tags(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(tag).strip() for tag in items if str(tag).strip()]


def _header_text(text: str) -> str:
    """HTTP headers are ASCII: anything else goes RFC 2047-encoded, which ntfy decodes."""
    text = " ".join(text.split())
    return text if text.isascii() else Header(text, "utf-8").encode()


class NtfyPushProvider:
    name = "ntfy"
    # The keys its [channels.*] table may hold; any other is a typo.
    config_keys = frozenset(
        (
            "server",
            "token_env",
            "priority",
            "tags",
            "timeout",
            "max_attempts",
            "backoff",
            "max_backoff",
        )
    )

    def __init__(
        self,
        *,
        server: str = "https://ntfy.sh",
        token: str | None = None,
        priority: str | None = None,
        tags: list[str] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._token = token
        self.priority = priority
        self.tags = tags or []
        self.retry = retry or RetryPolicy()
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    @classmethod
    def from_config(cls, config: ChannelConfig) -> NtfyPushProvider:
        try:
            priority = _priority(config.values.get("priority"))
            tags = _tags(config.values.get("tags"))
        except (ValueError, TypeError) as exc:
            raise ChannelConfigError(f"[channels.push]: {exc}") from None
        return cls(
            server=config.text("server", "https://ntfy.sh") or "https://ntfy.sh",
            token=config.secret(
                "token_env", "NTFY_TOKEN", required=False, purpose="an ntfy access token"
            ),
            priority=priority,
            tags=tags,
            timeout=config.number("timeout", 10.0, minimum=0.1),
            retry=RetryPolicy.from_config(config, attempts=3, retry_timeouts=False),
        )

    def send(self, message: OutgoingMessage) -> DeliveryReceipt:
        payload = message.payload or {}
        topic = str(payload.get("topic") or message.recipient)
        try:
            priority = _priority(payload.get("priority")) or self.priority
            tags = _tags(payload.get("tags")) or self.tags
        except (ValueError, TypeError) as exc:
            raise DeliveryError(str(exc)) from None
        headers = {"content-type": "text/plain; charset=utf-8"}
        if message.subject:
            headers["Title"] = _header_text(message.subject)
        if priority:
            headers["Priority"] = priority
        if tags:
            headers["Tags"] = _header_text(",".join(tags))
        if payload.get("url"):
            headers["Click"] = str(payload["url"])
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        body = (message.body or "").encode()
        url = f"{self.server}/{quote(topic, safe='')}"
        try:
            response = post_with_retries(
                self._client,
                url,
                lambda: {"content": body, "headers": headers},
                policy=self.retry,
                where=f"the ntfy server {self.server}",
                down_when_unreachable=True,
            )
        except DeliveryError as exc:
            exc.message = self._clean(exc.message)
            raise
        if 200 <= response.status_code < 300:
            try:
                found = response.json().get("id")
            except (ValueError, AttributeError):
                found = None
            return DeliveryReceipt(self.name, str(found) if found else None)
        reason = self._clean(error_text(response, "error", "message"))
        if response.status_code == 401:  # 403 is per topic: other messages may still go
            raise DeliveryError(
                f"the ntfy server refused the credentials (401): {reason}; "
                "check the token variable named by [channels.push] token_env",
                channel_down=True,
            )
        raise DeliveryError(f"the ntfy server answered {response.status_code}: {reason}")

    def close(self) -> None:
        self._client.close()

    def _clean(self, text: str) -> str:
        return scrub(text, [self._token])
