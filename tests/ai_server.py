"""A fake Groq / OpenAI-compatible chat-completions server on 127.0.0.1, built on
tests/servers.py, for tests that drive the real `groq` SDK (and our httpx provider) at it.

It answers POST /openai/v1/chat/completions (where the groq SDK sends a request when
base_url is the server's root) and POST /v1/chat/completions (OpenAI-style base_url ending
in /v1) with the real response shape: id, object, created, model, choices[{index,
message{role, content}, logprobs, finish_reason}], usage{prompt_tokens, completion_tokens,
total_tokens, and Groq's timings}, system_fingerprint and x_groq.

    with LoopbackServer() as http:
        fake = FakeChatServer(http, api_key="gsk_test")
        fake.then(rate_limited(retry_after="0"), "plain answer", Completion("{}", 10, 2))
        ... point [ai] base_url at fake.url (groq) or fake.openai_base_url (openai) ...
        assert fake.bodies[0]["model"] == "openai/gpt-oss-120b"

Scripted replies are used in turn; after them every request gets `answer(body)`, which by
default writes sensible content for the bundled recipes (keywords JSON, a company summary
JSON, a subject line, an email body)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.servers import LoopbackServer, RecordedRequest, Reply

__all__ = [
    "CHAT_PATHS",
    "Completion",
    "FakeChatServer",
    "ai_server",
    "error_reply",
    "json_validate_failed",
    "rate_limited",
    "recipe_answer",
    "server_error",
]

GROQ_PATH = "/openai/v1/chat/completions"
OPENAI_PATH = "/v1/chat/completions"
CHAT_PATHS = (GROQ_PATH, OPENAI_PATH)


@dataclass
class Completion:
    """One successful answer; token counts default to word counts."""

    content: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    model: str | None = None


Scripted = Completion | Reply | str


def error_reply(status: int, message: str, *, code: str | None = None, **headers: str) -> Reply:
    """An error in Groq's / OpenAI's shape: {"error": {"message", "type", "code"}}."""
    error: dict[str, Any] = {"message": message, "type": "invalid_request_error"}
    if code:
        error["code"] = code
    return Reply(status=status, json={"error": error}, headers=dict(headers))


def rate_limited(retry_after: str | None = "0") -> Reply:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    reply = error_reply(429, "Rate limit reached for model: tokens per minute", code="rate_limit")
    reply.headers.update(headers)
    return reply


def server_error(status: int = 500) -> Reply:
    return error_reply(status, "Internal Server Error")


def json_validate_failed(failed_generation: str) -> Reply:
    """Groq's answer when JSON mode could not produce valid JSON."""
    reply = error_reply(
        400,
        "Failed to generate JSON. Please adjust your prompt. See 'failed_generation' for "
        "more details.",
        code="json_validate_failed",
    )
    reply.json["error"]["failed_generation"] = failed_generation
    return reply


class FakeChatServer:
    """Routes both chat paths of a LoopbackServer; checks the bearer key when given one."""

    def __init__(self, http: LoopbackServer, *, api_key: str | None = None) -> None:
        self.http = http
        self.api_key = api_key
        self.answer: Callable[[dict[str, Any]], Scripted] = recipe_answer
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        for path in CHAT_PATHS:
            http.route("POST", path, self._respond)

    # -- where to point a provider -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The groq SDK's base_url: it appends /openai/v1/chat/completions."""
        return self.http.url

    @property
    def openai_base_url(self) -> str:
        """An OpenAI-style base_url: our openai provider appends /chat/completions."""
        return self.http.url + "/v1"

    # -- scripting and inspection ------------------------------------------------------------
    def then(self, *replies: Scripted) -> FakeChatServer:
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        return [r for r in self.http.requests if r.path in CHAT_PATHS]

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests]

    # -- answering ---------------------------------------------------------------------------
    def _respond(self, request: RecordedRequest) -> Reply:
        if self.api_key is not None and request.headers.get("authorization") != (
            f"Bearer {self.api_key}"
        ):
            return error_reply(401, "Invalid API Key", code="invalid_api_key")
        body = request.json()
        with self._lock:
            scripted = self._script.pop(0) if self._script else None
        if scripted is None:
            scripted = self.answer(body)
        if isinstance(scripted, Reply):
            return scripted
        if isinstance(scripted, str):
            scripted = Completion(scripted)
        return Reply(json=completion_body(body, scripted))


def completion_body(request: dict[str, Any], answer: Completion) -> dict[str, Any]:
    """A chat.completion as Groq sends it."""
    words = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
    prompt = words if answer.prompt_tokens is None else answer.prompt_tokens
    completion = (
        len(answer.content.split())
        if answer.completion_tokens is None
        else answer.completion_tokens
    )
    return {
        "id": f"chatcmpl-{uuid.uuid4()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model or request.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.content},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": {
            "queue_time": 0.012,
            "prompt_tokens": prompt,
            "prompt_time": 0.002,
            "completion_tokens": completion,
            "completion_time": 0.031,
            "total_tokens": prompt + completion,
            "total_time": 0.033,
        },
        "usage_breakdown": None,
        "system_fingerprint": "fp_fake0001",
        "x_groq": {"id": f"req_{uuid.uuid4().hex}"},
        "service_tier": "on_demand",
    }


# --- content for the bundled recipes -------------------------------------------------------

_SYNONYMS = {
    "saas": ["software", "cloud", "b2b"],
    "founder": ["co-founder", "ceo", "owner"],
    "fintech": ["payments", "finance"],
}


def recipe_answer(body: dict[str, Any]) -> Scripted:
    """What a cooperative model would say to the bundled recipes' prompts."""
    messages = body.get("messages", [])
    system = " ".join(m["content"] for m in messages if m.get("role") == "system").lower()
    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    if "keywords" in system:
        query = prompt.split(":", 1)[-1].lower()
        keywords: list[str] = []
        for word in re.findall(r"[a-z0-9][a-z0-9-]*", query):
            single = word[:-1] if word.endswith("s") and len(word) > 3 else word
            for term in (word, single, *_SYNONYMS.get(single, [])):
                if term not in keywords:
                    keywords.append(term)
        return json.dumps({"keywords": keywords})
    if "summary" in system:
        lead = _embedded_json(prompt)
        company = lead.get("company") or "The company"
        data = lead.get("data") if isinstance(lead.get("data"), dict) else {}
        industry = data.get("industry") or "software"
        summary = (
            f"{company} ({lead.get('domain', 'unknown domain')}) is a {industry} company. "
            "It is hiring and growing."
        )
        return json.dumps(
            {"summary": summary, "industry": industry, "signals": ["hiring", "growing"]}
        )
    person = re.search(r"(?:for|to) (.+?) \((.*?)\) at (.+?) about", prompt, re.S)
    name, _title, company = person.groups() if person else ("there", "", "your team")
    if "subject line" in prompt.lower():
        return f"A faster pipeline for {company.strip()}"
    if "email to" in prompt.lower():
        first = name.split()[0] if name.split() else "there"
        return (
            f"Hi {first},\n\nI saw what {company.strip()} is building. We help teams like "
            "yours find the right customers faster.\n\nWorth a short call next week?\n\nBest,\n"
            "The team"
        )
    if body.get("response_format"):
        return json.dumps({"answer": prompt[:80]})
    return f"fake answer to: {prompt[:80]}"


def _embedded_json(text: str) -> dict[str, Any]:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return {}
    try:
        found = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


@pytest.fixture
def ai_server() -> Iterator[FakeChatServer]:
    """A started fake chat server (no key check unless the test sets `api_key`)."""
    with LoopbackServer() as http:
        yield FakeChatServer(http)
