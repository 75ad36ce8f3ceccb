"""The interface AI steps call: chat messages in, text (and usage) out."""

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
    input: Any = None  # the structured data the prompt is about


@dataclass(frozen=True)
class ChatResponse:
    text: str
    provider: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    offline: bool = False


class AiProvider(Protocol):
    name: str

    def complete(self, request: ChatRequest) -> ChatResponse: ...
