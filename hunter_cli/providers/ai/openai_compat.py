"""Any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, LM Studio,
llama.cpp): POST {base_url}/chat/completions with httpx. base_url includes the API version
(https://api.openai.com/v1, http://localhost:11434/v1)."""

from __future__ import annotations

from typing import Any

from hunter_cli.providers.ai.base import (
    AiProviderError,
    ChatRequest,
    ChatResponse,
    ProviderOptions,
    TransientAiProviderError,
)
from hunter_cli.providers.ai.retry import call_with_retries, error_for_status

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAICompatProvider:
    name = "openai"

    def __init__(self, options: ProviderOptions) -> None:
        import httpx

        if not options.model:
            raise AiProviderError(
                "the openai provider needs a model: set model under [ai.openai] (or on the step)"
            )
        self.options = options
        self._httpx = httpx
        self.url = (options.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        headers = {"Accept": "application/json"}
        # A key is sent only when one is configured: a local server must not receive the
        # OpenAI key a user happens to have in the environment.
        if options.api_key:
            headers["Authorization"] = f"Bearer {options.api_key}"
        # Redirects are not followed, so the Authorization header never travels elsewhere.
        self._client = httpx.Client(headers=headers, follow_redirects=False)

    def complete(self, request: ChatRequest, *, deadline: float | None = None) -> ChatResponse:
        model = request.model or self.options.model
        body: dict[str, Any] = {"model": model, "messages": request.messages, "stream": False}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            # max_tokens is what every compatible server accepts (OpenAI's newer
            # max_completion_tokens is not understood by Ollama or llama.cpp).
            body["max_tokens"] = request.max_tokens
        if request.json_mode and self.options.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        if self.options.reasoning_effort:
            body["reasoning_effort"] = self.options.reasoning_effort

        data = call_with_retries(lambda timeout: self._post(body, timeout), self.options, deadline)
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise AiProviderError(
                f"{self.name} answered without a chat completion choice ({self.url})"
            ) from None
        usage = data.get("usage") or {}
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        return ChatResponse(
            text=str(text),
            provider=self.name,
            model=str(data.get("model") or model),
            usage={
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": _int(usage.get("total_tokens")) or prompt + completion,
            },
            finish_reason=choice.get("finish_reason"),
        )

    def _post(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        httpx = self._httpx
        try:
            response = self._client.post(self.url, json=body, timeout=timeout)
        except httpx.TimeoutException:
            raise TransientAiProviderError(
                f"{self.name} did not answer within {timeout:g} s ({self.url})"
            ) from None
        except httpx.TransportError as exc:
            raise TransientAiProviderError(
                f"{self.name} could not be reached at {self.url}: {exc}"
            ) from None
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = response.text
        if response.status_code >= 300:  # a redirect too: it is not followed
            raise error_for_status(
                self.options, response.status_code, response.headers, parsed, self.url
            )
        if not isinstance(parsed, dict):
            raise AiProviderError(
                f"{self.name} answered HTTP {response.status_code} without a JSON chat "
                f"completion ({self.url})"
            )
        return parsed

    def close(self) -> None:
        self._client.close()


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
