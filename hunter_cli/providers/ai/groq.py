"""Groq through its official SDK (`groq`), which POSTs {base_url}/openai/v1/chat/completions.

The SDK's own retries are switched off (max_retries=0): our policy in retry.py is the one
that runs, so a 429 is retried the same way for every provider and within the step's time.
Its redirects are switched off too (the SDK follows them by default): a 307 to another host
would send it the prompt, customer data and all; it is reported instead, as the openai
provider reports one."""

from __future__ import annotations

from typing import Any

from hunter_cli.providers.ai.base import (
    AiProviderError,
    ChatRequest,
    ChatResponse,
    ProviderOptions,
    TransientAiProviderError,
)
from hunter_cli.providers.ai.config import GROQ_DEFAULT_MODEL
from hunter_cli.providers.ai.retry import call_with_retries, error_for_status

# The SDK appends /openai/v1/...; people paste the documented endpoint with that suffix.
_API_SUFFIX = "/openai/v1"
# Reasoning models think before they answer, out of the same max_tokens budget: "low" keeps
# the short budgets recipes use (a subject line) for the answer.
_REASONING_PREFIXES = ("openai/gpt-oss",)


def sdk_base_url(base_url: str | None) -> str | None:
    """What the SDK wants: the host, without the /openai/v1 it adds itself."""
    if not base_url:
        return None  # the SDK's default (GROQ_BASE_URL, then https://api.groq.com)
    url = base_url.rstrip("/")
    return url[: -len(_API_SUFFIX)] if url.endswith(_API_SUFFIX) else url


class GroqProvider:
    name = "groq"

    def __init__(self, options: ProviderOptions) -> None:
        import groq

        if not options.api_key:
            raise AiProviderError(
                f"groq needs an API key: the environment variable {options.api_key_env} is not set"
            )
        self.options = options
        self._groq = groq
        self._client = groq.Groq(
            api_key=options.api_key,
            base_url=sdk_base_url(options.base_url),
            max_retries=0,
            timeout=options.timeout,
            # The SDK's own httpx client, with its defaults, but for following redirects.
            http_client=groq.DefaultHttpxClient(follow_redirects=False),
        )

    def complete(self, request: ChatRequest, *, deadline: float | None = None) -> ChatResponse:
        model = request.model or self.options.model or GROQ_DEFAULT_MODEL
        arguments: dict[str, Any] = {"model": model, "messages": request.messages}
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.max_tokens is not None:
            # max_tokens is deprecated at Groq in favour of max_completion_tokens.
            arguments["max_completion_tokens"] = request.max_tokens
        if request.json_mode and self.options.response_format == "json_object":
            arguments["response_format"] = {"type": "json_object"}
        effort = self.options.reasoning_effort
        if effort is None and model.startswith(_REASONING_PREFIXES):
            effort = "low"
        if effort and effort != "none":
            arguments["reasoning_effort"] = effort

        def attempt(timeout: float) -> Any:
            return self._create(arguments, timeout)

        completion = call_with_retries(attempt, self.options, deadline)
        if not completion.choices:
            raise AiProviderError(f"groq answered without a choice (model {model})")
        choice = completion.choices[0]
        usage = completion.usage
        return ChatResponse(
            text=(choice.message.content or "") if choice.message else "",
            provider=self.name,
            model=completion.model or model,
            usage={
                "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
                "total_tokens": int(getattr(usage, "total_tokens", 0) or 0),
            },
            finish_reason=choice.finish_reason,
        )

    def _create(self, arguments: dict[str, Any], timeout: float) -> Any:
        groq = self._groq
        try:
            completion = self._client.chat.completions.create(**arguments, timeout=timeout)
        except ValueError:  # a JSON content type over a body that is not JSON
            raise self._not_a_completion() from None
        except groq.APIStatusError as exc:
            raise error_for_status(
                self.options,
                exc.status_code,
                exc.response.headers,
                exc.body,
                str(exc.response.request.url),
            ) from None
        except groq.APITimeoutError:
            raise TransientAiProviderError(f"groq did not answer within {timeout:g} s") from None
        except groq.APIConnectionError as exc:
            cause = exc.__cause__
            # The SDK wraps whatever interrupted the request; a step timeout (the runner's
            # alarm) or an interrupt must reach the runner as itself, not as a lost connection.
            if cause is not None and not isinstance(cause, self._http_errors()):
                raise cause from None
            raise TransientAiProviderError(f"groq could not be reached: {cause or exc}") from None
        except groq.APIResponseValidationError:
            raise AiProviderError("groq's answer is not a chat completion") from None
        if not hasattr(completion, "choices"):
            # The SDK hands back the text of a body that is not JSON (a proxy's HTML page).
            raise self._not_a_completion()
        return completion

    def _not_a_completion(self) -> TransientAiProviderError:
        """HTTP 200 without a chat completion: a proxy or a cut connection, as a 5xx would be;
        transient, so it is retried."""
        where = self.options.base_url or "api.groq.com"
        return TransientAiProviderError(
            f"groq answered HTTP 200 without a JSON chat completion ({where})"
        )

    @staticmethod
    def _http_errors() -> tuple[type[BaseException], ...]:
        import httpx

        return (httpx.HTTPError, OSError)

    def close(self) -> None:
        self._client.close()
