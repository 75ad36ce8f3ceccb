"""The interface AI steps call: chat messages in, text (and usage) out, and the errors a
provider raises. Providers take plain values: they never see the database or a step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False
    task: str | None = None
    input: Any = None  # the structured data the prompt is about (the offline provider's input)


@dataclass(frozen=True)
class ChatResponse:
    text: str
    provider: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    offline: bool = False
    finish_reason: str | None = None


@dataclass(frozen=True)
class ProviderOptions:
    """One provider's settings, resolved from hunter.toml and the environment. The key is a
    value here (read from the variable `api_key_env` names) and is kept out of repr()."""

    name: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0  # seconds per request (the step's own timeout may cut it shorter)
    max_retries: int = 2  # further attempts after a 429, a 5xx, a timeout or a lost connection
    retry_backoff: float = 1.0  # seconds before the first retry; doubles on each further one
    max_retry_wait: float = 30.0  # a longer Retry-After is left to the step's `retry` control
    reasoning_effort: str | None = None
    response_format: str = "json_object"  # how JSON is asked for: json_object | none
    cache: bool = True


class AiProviderError(Exception):
    """A request that cannot succeed as asked: a rejected key, an unknown model, a 4xx."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientAiProviderError(AiProviderError):
    """A 429, a 5xx, a timeout or a lost connection that our own retries did not get past.
    `retry_after` is the server's Retry-After in seconds, when it sent one. `exhausted`: it
    was tried as often as max_retries allows, so the step's `retry` must not try again (see
    retry.py); otherwise the retries stopped early and the step may take over."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        exhausted: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.exhausted = exhausted


class InvalidJsonAnswer(AiProviderError):
    """The provider refused the model's answer as invalid JSON (Groq's json_validate_failed);
    `text` is the answer it refused, so the step can show it to the model and ask again."""

    def __init__(self, message: str, *, text: str = "", status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.text = text


class AiProvider(Protocol):
    name: str

    def complete(self, request: ChatRequest, *, deadline: float | None = None) -> ChatResponse:
        """Answer the conversation. `deadline` (time.monotonic()) bounds the whole call,
        retries included."""
        ...

    def close(self) -> None: ...
