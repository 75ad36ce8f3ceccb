"""One POST with bounded retries, shared by the HTTP delivery providers.

Retried: 429 and 503 (honouring Retry-After), and failures to connect (nothing was sent).
Never retried: other 4xx. A timeout once the request went out, and any other 5xx (a 500,
502 or 504, from the service or a proxy in front of it, can come after the message was
taken), is retried only where the receiver can recognise a repeat (Standard Webhooks'
webhook-id); elsewhere (Twilio's Messages API has no idempotency key, nor has ntfy) its
outcome is unknown and the message must not be sent again automatically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from hunter_cli.providers.channels.base import DeliveryError, RetryPolicy, pause_between_attempts
from hunter_cli.providers.retry_after import describe_wait, parse_retry_after

__all__ = ["RetryPolicy", "error_text", "post_with_retries"]

_REASON_KEYS = ("message", "error", "detail")  # Twilio's, ntfy's, a proxy's JSON error


def post_with_retries(
    client: httpx.Client,
    url: str,
    request: Callable[[], dict[str, Any]],
    *,
    policy: RetryPolicy,
    where: str,
    down_when_unreachable: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """POST to url (request() gives the keyword arguments, made afresh per attempt) and
    return the last response; raise DeliveryError when no response came."""
    for attempt in range(1, policy.attempts + 1):
        last = attempt == policy.attempts
        try:
            response = client.post(url, **request())
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # The request never left: safe to try again, and safe to call it not sent.
            if last:
                raise DeliveryError(
                    f"cannot reach {where}: {_reason(exc)}", channel_down=down_when_unreachable
                ) from None
            pause_between_attempts(policy.wait(attempt), sleep)
            continue
        except httpx.TimeoutException as exc:
            if policy.retry_timeouts and not last:
                pause_between_attempts(policy.wait(attempt), sleep)
                continue
            raise DeliveryError(
                f"no answer from {where} ({_reason(exc)}): it may or may not have taken "
                "the message",
                outcome_unknown=not policy.retry_timeouts,
            ) from None
        except httpx.HTTPError as exc:
            if policy.retry_timeouts and not last:
                pause_between_attempts(policy.wait(attempt), sleep)
                continue
            raise DeliveryError(
                f"the connection to {where} failed ({_reason(exc)}): it may or may not have "
                "taken the message",
                outcome_unknown=not policy.retry_timeouts,
            ) from None
        status = response.status_code
        if status >= 500 and status != 503 and not policy.retry_timeouts:
            # Not a refusal of the message: the request may have been taken before it failed.
            raise DeliveryError(
                f"{where} answered {status} ({error_text(response, *_REASON_KEYS)}): it may or "
                "may not have taken the message",
                outcome_unknown=True,
            )
        if status in (429, 503):
            # "Not now": nothing was taken. Tried again within the policy; then, or when the
            # server asks to wait longer than max_backoff, left queued for a later send (as
            # an SMTP 4xx is), never failed for good.
            hinted = parse_retry_after(response.headers.get("retry-after"))
            if not last and (hinted is None or hinted <= policy.max_backoff):
                pause_between_attempts(policy.wait(attempt, hinted), sleep)
                continue
            asked = f", asking to wait {describe_wait(hinted)}" if hinted is not None else ""
            raise DeliveryError(
                f"{where} answered {status} ({error_text(response, *_REASON_KEYS)}{asked}) "
                f"after {attempt} attempt(s): nothing was sent, and the message stays queued "
                "for a later `hunter outbox send`",
                retry_later=True,
            )
        if status >= 500 and not last:
            pause_between_attempts(policy.wait(attempt), sleep)
            continue
        return response
    raise AssertionError("unreachable: the last attempt returns or raises")


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_text(response: httpx.Response, *keys: str) -> str:
    """A short reason from an error response: the first of keys in its JSON, or its text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in keys:
            if data.get(key):
                return str(data[key])[:300]
    return " ".join(response.text.split())[:300] or response.reason_phrase
