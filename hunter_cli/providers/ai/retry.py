"""The one retry policy AI providers share: a 429, a 5xx, a timeout or a lost connection is
tried again (honouring Retry-After), within the step's deadline; nothing else is.

We retry per request, inside the provider, rather than failing the step for the runner to
retry: an `ai` step with `items` makes one request per item, and a runner retry would ask
again for every item already answered (and paid for). As for lead providers, a request is
retried at one level only: once max_retries are used up the error is `exhausted` and the
step fails without its own `retry` asking again (tries would multiply); only when the
retries here stopped early (a Retry-After beyond max_retry_wait, the step's time running
out) may the step's `retry` take over. A 429 saying the quota is used up, with no
Retry-After, is not retried at all."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from hunter_cli.providers.ai.base import ProviderOptions, TransientAiProviderError
from hunter_cli.providers.retry_after import quota_used_up, retry_after_seconds

T = TypeVar("T")

# A request is not started with less time than this left before the step's deadline.
MIN_ATTEMPT_SECONDS = 0.05


def attempt_timeout(options: ProviderOptions, deadline: float | None) -> float:
    """One request's timeout: the configured one, cut to what is left of the step's time."""
    if deadline is None:
        return options.timeout
    return max(MIN_ATTEMPT_SECONDS, min(options.timeout, deadline - time.monotonic()))


def call_with_retries(
    attempt: Callable[[float], T],
    options: ProviderOptions,
    deadline: float | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call attempt(timeout) until it returns, retrying TransientAiProviderError at most
    options.max_retries times. The last error is raised with how many attempts were made."""
    retries = 0
    while True:
        try:
            return attempt(attempt_timeout(options, deadline))
        except TransientAiProviderError as exc:
            wait = exc.retry_after
            if wait is None:
                wait = options.retry_backoff * (2**retries)
            out_of_time = deadline is not None and (
                time.monotonic() + wait + MIN_ATTEMPT_SECONDS >= deadline
            )
            # A Retry-After beyond max_retry_wait (a daily limit, say) is not worth blocking
            # on here; the step's own `retry` control may still come back later.
            if retries >= options.max_retries or out_of_time or wait > options.max_retry_wait:
                tries = retries + 1
                exc.message = f"{exc.message} ({tries} attempt{'s' if tries > 1 else ''})"
                exc.args = (exc.message,)
                exc.exhausted = retries >= options.max_retries
                raise
            retries += 1
            sleep(wait)


# --- HTTP status -> error -----------------------------------------------------------------------

EXCERPT_LIMIT = 300


def server_message(body: object) -> str:
    """The error text of an OpenAI-shaped ({"error": {"message"}}) or Ollama-shaped
    ({"error": "..."}) body, on one line and short."""
    text = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            text = str(error.get("message") or "")
        elif error:
            text = str(error)
    elif isinstance(body, str | bytes):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text[:EXCERPT_LIMIT] + ("..." if len(text) > EXCERPT_LIMIT else "")


def error_for_status(
    options: ProviderOptions,
    status: int,
    headers: Mapping[str, str] | None,
    body: object,
    url: str | None = None,
) -> Exception:
    """The exception for an HTTP error answer (or a redirect, which is not followed; `url`
    is the request's, to resolve a relative Location). Messages name the key's variable,
    never the key; only 408, 429 and 5xx are worth another attempt."""
    from hunter_cli.providers.ai.base import AiProviderError, InvalidJsonAnswer

    name = options.name
    if 300 <= status < 400:
        from hunter_cli.providers.redirects import describe_redirect

        return AiProviderError(
            f"{name} answered {describe_redirect(status, headers, url or options.base_url)}, "
            "which is not followed (the prompt and the key would go with it): if that address "
            f"is the right one, set it as base_url under [ai] or [ai.{name}]",
            status=status,
        )
    said = server_message(body)
    suffix = f": {said}" if said else ""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if status == 429 and (
        code == "insufficient_quota" or quota_used_up(status, retry_after_seconds(headers), said)
    ):
        return AiProviderError(
            f"{name}: the account's quota is used up (HTTP 429){suffix}; not retried",
            status=status,
        )
    if status == 429:
        return TransientAiProviderError(
            f"{name} rate limit (HTTP 429){suffix}",
            status=status,
            retry_after=retry_after_seconds(headers),
        )
    if status == 408 or status >= 500:
        return TransientAiProviderError(
            f"{name} server error (HTTP {status}){suffix}",
            status=status,
            retry_after=retry_after_seconds(headers),
        )
    if status == 401:
        if options.api_key_env:
            message = f"{name} rejected the API key in {options.api_key_env} (HTTP 401){suffix}"
        else:
            message = (
                f"{name} asks for an API key (HTTP 401){suffix}; set api_key_env under "
                f"[ai.{name}] to the environment variable that holds it"
            )
        return AiProviderError(message, status=status)
    if status == 403:
        held = f" in {options.api_key_env}" if options.api_key_env else ""
        return AiProviderError(
            f"{name} refused the request (HTTP 403){suffix}; check that the key{held} may use "
            f"model {options.model}",
            status=status,
        )
    if status == 404:
        return AiProviderError(
            f"{name}: not found (HTTP 404){suffix}; check the model ({options.model}) and base_url",
            status=status,
        )
    if status == 400 and code == "json_validate_failed":
        failed = error.get("failed_generation") if isinstance(error, dict) else None
        return InvalidJsonAnswer(
            f"the model's answer is not valid JSON ({name}: {said or 'json_validate_failed'})",
            text=str(failed or ""),
            status=status,
        )
    return AiProviderError(f"{name} refused the request (HTTP {status}){suffix}", status=status)
