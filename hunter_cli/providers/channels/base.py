"""What delivery providers share: the plain message they are handed, the receipt they hand
back, their errors, and reading their hunter.toml section (secrets only from the environment).

A provider never touches the database: it gets an `OutgoingMessage` and returns a
`DeliveryReceipt` or raises `DeliveryError`; the outbox records what happened.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from hunter_cli.errors import ConfigError


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to deliver: plain values copied from its outbox row."""

    id: uuid.UUID
    message_key: str
    channel: str
    recipient: str
    subject: str | None
    body: str | None
    html: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    customer: str | None = None  # the customer's slug, for unsubscribe link templates


@dataclass(frozen=True)
class DeliveryReceipt:
    """The provider accepted the message; `provider_message_id` is its id for it."""

    provider: str
    provider_message_id: str | None


class DeliveryError(Exception):
    """The provider did not take the message. The text never contains a secret.

    `outcome_unknown`: it may have: the request went out but no answer came back (a timeout,
    a dropped connection), so sending it again could deliver it twice.
    `channel_down`: nothing was sent and no other message will be either (the server is
    unreachable, the credentials are refused): the batch stops and the rest stay queued.
    `retry_later`: nothing was sent, and the provider said to try again later (an SMTP 4xx
    reply, still given after the retry policy's attempts): this message goes back to the
    queue for a later send, and the batch carries on.
    """

    def __init__(
        self,
        message: str,
        *,
        outcome_unknown: bool = False,
        channel_down: bool = False,
        retry_later: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.outcome_unknown = outcome_unknown
        self.channel_down = channel_down
        self.retry_later = retry_later


@dataclass(frozen=True)
class RetryPolicy:
    """How often a provider tries one message again after a refusal that says "later" (HTTP
    429 and 503, SMTP 4xx; other 5xx too where `retry_timeouts`), and how long it waits in
    between: [channels.<name>] max_attempts, backoff, max_backoff.

    `retry_timeouts`: the receiver recognises a repeat (a webhook's webhook-id), so an
    attempt whose outcome is unknown (a timeout, a 500/502/504) may be tried again."""

    attempts: int = 3
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_backoff: float = 30.0
    retry_timeouts: bool = False

    @classmethod
    def from_config(
        cls, config: ChannelConfig, *, attempts: int, retry_timeouts: bool
    ) -> RetryPolicy:
        return cls(
            attempts=config.integer("max_attempts", attempts, minimum=1) or 1,
            backoff=config.number("backoff", 1.0),
            max_backoff=config.number("max_backoff", 30.0),
            retry_timeouts=retry_timeouts,
        )

    def wait(self, attempt: int, hinted: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); `hinted` is what
        the server asked for (Retry-After), if anything."""
        wait = hinted if hinted is not None else self.backoff * (2 ** (attempt - 1))
        return max(0.0, min(self.max_backoff, wait))


class ChannelConfigError(ConfigError):
    """A channel cannot deliver as configured (no host, a missing credential...): raised before
    any message is touched, so nothing changes state."""

    code = "channel_config_error"


class ChannelProvider(Protocol):
    """A way to deliver one channel's messages. `close` ends any connection it keeps open."""

    name: str

    def send(self, message: OutgoingMessage) -> DeliveryReceipt: ...

    def close(self) -> None: ...


# --- reading a [channels.<name>] table -------------------------------------------------------


class ChannelConfig:
    """One [channels.<name>] table with typed getters whose errors name the key."""

    def __init__(self, channel: str, values: Mapping[str, Any], environ: Mapping[str, str]):
        self.channel = channel
        self.values = dict(values or {})
        self.environ = environ

    def where(self, key: str) -> str:
        return f"[channels.{self.channel}] {key}"

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.values.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ChannelConfigError(f"{self.where(key)} must be a string")
        return value.strip() or None

    def number(self, key: str, default: float, *, minimum: float = 0) -> float:
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ChannelConfigError(f"{self.where(key)} must be a number >= {minimum:g}")
        return float(value)

    def integer(self, key: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self.values.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ChannelConfigError(f"{self.where(key)} must be an integer >= {minimum}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ChannelConfigError(f"{self.where(key)} must be one of {', '.join(choices)}")
        return value

    def env_name(self, key: str, default: str | None) -> str | None:
        name = self.text(key, default)
        if name is not None and not name.replace("_", "").isalnum():
            raise ChannelConfigError(
                f"{self.where(key)} names an environment variable, e.g. {default or 'MY_SECRET'}"
                " (the secret itself never goes in hunter.toml)"
            )
        return name

    def secret(self, key: str, default: str | None, *, required: bool, purpose: str) -> str | None:
        """The value of the environment variable the `key` names (default name `default`).
        Errors name the variable, never a value."""
        name = self.env_name(key, default)
        value = self.environ.get(name, "") if name else ""
        if value:
            return value
        if required or key in self.values:  # named explicitly: its absence is a mistake
            raise ChannelConfigError(
                f"{self.channel} delivery needs {purpose}: set the environment variable "
                f"{name or '(none named)'} (named by {self.where(key)})"
            )
        return None


def scrub(text: str, secrets: list[str | None]) -> str:
    """Text fit for an error message: any secret that found its way in is replaced, in every
    form it takes on the wire, and a piece of one cut off at an end of the text too."""
    from hunter_cli.scrub import SecretScrubber

    return SecretScrubber([s for s in secrets if s]).text(text)


def display_url(url: str) -> str:
    """A URL fit to show and audit: no user:password, and query values hidden (webhook URLs
    often carry their token there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unparseable url)"
    if port:
        host = f"{host}:{port}"
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def pause_between_attempts(seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait before trying a message again. A Ctrl-C or SIGTERM here stops the delivery as
    anywhere, but marked `between_attempts`: the message was not taken (a 429, a 503, a 4xx
    or no connection came before), so it goes back to the queue, not to `unknown`."""
    try:
        sleep(seconds)
    except KeyboardInterrupt as exc:
        exc.between_attempts = True  # type: ignore[attr-defined]
        raise
