"""JSON-over-HTTP for the lead providers that call a vendor's API (hunter_io, apollo): the API
key from an environment variable, timeouts, bounded retries that honour Retry-After, one clear
error per failure, and the key scrubbed from every message and from httpx's log.

Retries happen here rather than in the runner because a search is several paged requests:
a 429 on page 4 should wait and ask for page 4 again, not start over at page 1 (and pay for
pages 1-3 twice). A request is retried at one level only: when the retries here are used up
the error is marked `exhausted`, and the step fails without its own `retry` control asking
again (3 tries here times 3 attempts there made 9). Only when this client stopped early (the
server asks for a longer wait than `max_wait` or the step has time left for) may the step's
`retry` take over, honouring `retry_after`; pages already answered are then kept in the
step's memo (see lead_search), not asked for again. A 429 saying the quota is used up, with
no Retry-After, is not retried at all.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hunter_cli.providers.leads.base import (
    LeadProviderError,
    MissingApiKeyError,
    TransientLeadProviderError,
)
from hunter_cli.providers.retry_after import describe_wait, parse_retry_after, quota_used_up

__all__ = [
    "ApiClient",
    "HttpOptions",
    "check_key_env",
    "parse_retry_after",
    "read_api_key",
]

REDACTED = "[REDACTED]"
EXCERPT_LIMIT = 200
# A status that means "not now" rather than "no": worth asking again after a wait.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_key_env(provider: str, value: Any, default: str) -> str:
    """api_key_env as a variable's name; LeadProviderError (never showing the value: it may
    be the key itself, pasted in the wrong place) for anything else."""
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise LeadProviderError(
            f"hunter.toml: providers.{provider}.api_key_env must name an environment variable "
            f"({default}), not hold a key"
        )
    return value


def read_api_key(provider: str, env: str, what: str) -> str:
    """The key from the environment variable `env`; MissingApiKeyError (naming the variable,
    and where to change it) when it is not set."""
    value = os.environ.get(env, "").strip()
    if not value:
        raise MissingApiKeyError(
            f"{provider}: environment variable {env} is not set; it must hold your {what} "
            f"(or name another in hunter.toml: providers.{provider}.api_key_env)",
            env=env,
        )
    return value


# --- keeping the key out of logs and messages ----------------------------------------------------


# --- the client ----------------------------------------------------------------------------------


# The settings every HTTP lead provider's [providers.NAME] table takes, besides its own.
HTTP_SETTINGS = ("base_url", "timeout", "max_retries", "backoff", "max_wait")


@dataclass(frozen=True)
class HttpOptions:
    """How patient to be with one vendor. From hunter.toml's [providers.NAME] table; tests
    set backoff to 0."""

    base_url: str
    timeout: float = 30.0  # seconds per request
    max_retries: int = 2  # further attempts of one request after a 429, 5xx or timeout
    backoff: float = 1.0  # seconds before the first retry when the server names no wait
    max_wait: float = 30.0  # longest Retry-After waited for here; longer goes to the step
    deadline: float | None = None  # time.monotonic() by which the step must be done

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        provider: str,
        default_base_url: str,
        own_settings: tuple[str, ...] = (),
    ) -> HttpOptions:
        """Options from a provider's settings; `own_settings` are the provider's other keys
        (named in the message about a misspelt one)."""
        known = HTTP_SETTINGS
        unknown = sorted(set(config) - {*known, "deadline"})
        if "api_key" in unknown:
            raise LeadProviderError(
                f"hunter.toml: providers.{provider}.api_key: a key never goes in hunter.toml; "
                "put it in an environment variable and name that variable with api_key_env"
            )
        if unknown:
            raise LeadProviderError(
                f"unknown setting providers.{provider}.{unknown[0]} in hunter.toml; known "
                "settings: " + ", ".join(sorted({*known, *own_settings}))
            )

        def number(name: str, default: float, *, whole: bool = False) -> Any:
            value = config.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise LeadProviderError(
                    f"hunter.toml: providers.{provider}.{name} must be a number of at least 0, "
                    f"not {value!r}"
                )
            return int(value) if whole else float(value)

        base_url = config.get("base_url") or default_base_url
        if not isinstance(base_url, str) or not base_url.lower().startswith(
            ("http://", "https://")
        ):
            raise LeadProviderError(
                f"hunter.toml: providers.{provider}.base_url must be an http:// or https:// URL, "
                f"not {base_url!r}"
            )
        deadline = config.get("deadline")
        return cls(
            base_url=base_url.rstrip("/"),
            timeout=number("timeout", 30.0) or 30.0,
            max_retries=number("max_retries", 2, whole=True),
            backoff=number("backoff", 1.0),
            max_wait=number("max_wait", 30.0),
            deadline=float(deadline) if isinstance(deadline, int | float) else None,
        )


def _tries(count: int) -> str:
    return "tried once" if count == 1 else f"tried {count} times"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(empty body)"
    return flat if len(flat) <= EXCERPT_LIMIT else flat[: EXCERPT_LIMIT - 3] + "..."


def error_detail(body: bytes) -> str:
    """What a vendor's error body says, in one line: Hunter's errors[].details, Apollo's
    error / message, or the start of the text."""
    text = body.decode("utf-8", errors="replace")
    try:
        document = json.loads(text) if text.strip() else None
    except ValueError:
        document = None
    if isinstance(document, dict):
        errors = document.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            detail = first.get("details") or first.get("message") or ""
            ident = first.get("id") or first.get("code")
            return _excerpt(f"{ident}: {detail}" if ident and detail else str(detail or ident))
        for key in ("error", "message", "error_message", "detail"):
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                code = document.get("error_code")
                return _excerpt(f"{code}: {value}" if isinstance(code, str) else value)
    return _excerpt(text)


class ApiClient:
    """One vendor's API. `auth` puts the key into a request's query or headers; `key_env`
    names the variable the key came from, for messages about a refused key."""

    def __init__(
        self,
        provider: str,
        options: HttpOptions,
        *,
        secret: str,
        key_env: str,
        auth: Callable[[dict[str, Any], dict[str, str]], None],
        answers: dict[str, Any] | None = None,
    ) -> None:
        self.provider = provider
        self.options = options
        self.key_env = key_env
        # Here, not at the top: hunter.toml's check builds providers, and needs none of it.
        from hunter_cli.scrub import SecretScrubber

        self._auth = auth
        self._scrub = SecretScrubber([secret])
        self.requests_made = 0  # answered requests, for the step's meta
        # Answers already received (and paid for) by the step's earlier attempts, by request;
        # a request found here is not made again. Filled as requests succeed.
        self.answers = answers

    # -- public -----------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, params=params, body=body)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        empty_statuses: frozenset[int] = frozenset(),
    ) -> Any:
        """The JSON answer of one request, retried within the limits of `options`; None for
        a status in `empty_statuses` (a vendor's way of saying "nothing to tell you")."""
        import httpx

        url = self.options.base_url + path
        target = self._target(method, url)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        # Made before the key is added to the query: the memo never holds it.
        asked = json.dumps([method, url, query, body], sort_keys=True, default=str)
        if self.answers is not None and asked in self.answers:
            return self.answers[asked]
        headers = {"Accept": "application/json"}
        self._auth(query, headers)
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        from hunter_cli.scrub import LOG_FILTER

        attempt = 0
        LOG_FILTER.add(self._scrub)
        try:
            while True:
                attempt += 1
                timeout = self._request_timeout(target)
                retry_after: float | None = None
                try:
                    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                        response = client.request(
                            method, url, params=query, headers=headers, content=content
                        )
                except httpx.TimeoutException:
                    problem = f"{target} timed out after {timeout:.3g} s"
                except httpx.TransportError as exc:
                    problem = f"{target} failed: {self._scrub.text(str(exc)) or type(exc).__name__}"
                else:
                    status = response.status_code
                    if status not in retry_statuses:
                        self.requests_made += 1
                        answer = (
                            None if status in empty_statuses else self._answer(response, target)
                        )
                        if self.answers is not None:
                            self.answers[asked] = answer
                        return answer
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    detail = self._scrub.text(error_detail(response.content))
                    if quota_used_up(status, retry_after, detail):
                        raise LeadProviderError(
                            f"{self.provider}: HTTP {status} from {target}: {detail} (the "
                            "account's quota is used up: not retried)"
                        )
                    wait_note = (
                        f" (retry after {describe_wait(retry_after)})"
                        if retry_after is not None
                        else ""
                    )
                    problem = f"HTTP {status} from {target}{wait_note}: {detail}"
                if attempt > self.options.max_retries:
                    raise TransientLeadProviderError(
                        f"{self.provider}: {problem} ({_tries(attempt)})",
                        retry_after=retry_after,
                        exhausted=True,
                    )
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if not self._can_wait(wait):
                    raise TransientLeadProviderError(
                        f"{self.provider}: {problem}", retry_after=retry_after
                    )
                time.sleep(wait)
        finally:
            LOG_FILTER.remove(self._scrub)

    # -- helpers ----------------------------------------------------------------------------
    def _target(self, method: str, url: str) -> str:
        """The request as messages show it: never the query string (Hunter's key is there)."""
        parts = urlsplit(url)
        return self._scrub.text(f"{method} {parts.scheme}://{parts.netloc}{parts.path}")

    def _remaining(self) -> float | None:
        deadline = self.options.deadline
        return None if deadline is None else deadline - time.monotonic()

    def _request_timeout(self, target: str) -> float:
        remaining = self._remaining()
        if remaining is None:
            return self.options.timeout
        if remaining <= 0:
            raise TransientLeadProviderError(f"{self.provider}: no time left to call {target}")
        return min(self.options.timeout, remaining)

    def _backoff(self, attempt: int) -> float:
        return self.options.backoff * (2 ** (attempt - 1))

    def _can_wait(self, wait: float) -> bool:
        if wait > self.options.max_wait:
            return False
        remaining = self._remaining()
        return remaining is None or wait < remaining

    def _answer(self, response: Any, target: str) -> Any:
        status = response.status_code
        if 300 <= status < 400:
            from hunter_cli.providers.redirects import describe_redirect

            # Not followed: the key (in Hunter's query string, Apollo's header) would go along.
            redirect = describe_redirect(status, response.headers, str(response.request.url))
            raise LeadProviderError(
                f"{self.provider}: {target} answered {self._scrub.text(redirect)}, which is not "
                f"followed (the API key would go with it): check providers.{self.provider}."
                "base_url in hunter.toml"
            )
        if status in (401, 403):
            raise LeadProviderError(
                f"{self.provider}: the API key in {self.key_env} was refused (HTTP {status} "
                f"from {target}: {self._detail(response)}); check the key and its permissions"
            )
        if status >= 400:
            raise LeadProviderError(
                f"{self.provider}: HTTP {status} from {target}: {self._detail(response)}"
            )
        try:
            return response.json() if response.content else None
        except ValueError:
            raise LeadProviderError(
                f"{self.provider}: {target} answered HTTP {status} with something other than "
                f"JSON: {self._scrub.text(_excerpt(response.text))}"
            ) from None

    def _detail(self, response: Any) -> str:
        return self._scrub.text(error_detail(response.content))
