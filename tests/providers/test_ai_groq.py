"""The groq provider through the real `groq` SDK against a fake Groq server on 127.0.0.1:
the request it sends, the answer it reads, and our retry policy (the SDK's is off)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from hunter_cli.providers.ai import get_provider
from hunter_cli.providers.ai.base import (
    AiProviderError,
    ChatRequest,
    InvalidJsonAnswer,
    ProviderOptions,
    TransientAiProviderError,
)
from hunter_cli.providers.ai.groq import sdk_base_url
from tests.ai_server import (
    GROQ_PATH,
    Completion,
    FakeChatServer,
    error_reply,
    json_validate_failed,
    rate_limited,
    server_error,
)
from tests.servers import LoopbackServer, Reply

KEY = "gsk_test_0123456789abcdef"


@pytest.fixture
def fake() -> Iterator[FakeChatServer]:
    with LoopbackServer() as http:
        yield FakeChatServer(http, api_key=KEY)


def groq(fake: FakeChatServer, **options):
    values = {
        "name": "groq",
        "model": "openai/gpt-oss-120b",
        "base_url": fake.url,
        "api_key_env": "GROQ_API_KEY",
        "api_key": KEY,
        "retry_backoff": 0.0,
        **options,
    }
    return get_provider("groq", ProviderOptions(**values))


def ask(provider, content="Say hello", **request):
    return provider.complete(
        ChatRequest(messages=[{"role": "user", "content": content}], **request)
    )


def test_success_sends_the_real_request_and_reads_the_answer(fake):
    fake.then(Completion("Hello!", prompt_tokens=12, completion_tokens=3))
    response = ask(groq(fake), max_tokens=50, temperature=0.2)
    assert response.text == "Hello!"
    assert response.provider == "groq" and response.model == "openai/gpt-oss-120b"
    assert response.usage == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert response.finish_reason == "stop" and response.offline is False
    [request] = fake.requests
    assert request.path == GROQ_PATH  # what the SDK asks for under base_url
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.json()
    assert body["model"] == "openai/gpt-oss-120b"
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert body["max_completion_tokens"] == 50 and body["temperature"] == 0.2
    assert body["reasoning_effort"] == "low"  # a reasoning model keeps its budget for the answer
    assert "response_format" not in body


def test_json_mode_and_a_non_reasoning_model(fake):
    ask(groq(fake), json_mode=True, model="llama-3.1-8b-instant")
    body = fake.bodies[0]
    assert body["response_format"] == {"type": "json_object"}
    assert body["model"] == "llama-3.1-8b-instant"
    assert "reasoning_effort" not in body


def test_configured_reasoning_effort_and_response_format_none(fake):
    ask(groq(fake, reasoning_effort="medium", response_format="none"), json_mode=True)
    body = fake.bodies[0]
    assert body["reasoning_effort"] == "medium" and "response_format" not in body


def test_documented_endpoint_as_base_url_is_accepted(fake):
    assert sdk_base_url("https://api.groq.com/openai/v1/") == "https://api.groq.com"
    assert sdk_base_url(None) is None
    ask(groq(fake, base_url=fake.url + "/openai/v1"))
    assert fake.requests[0].path == GROQ_PATH


def test_429_then_200_waits_as_long_as_retry_after_says(fake):
    fake.then(rate_limited(retry_after="1"), "ok")
    started = time.monotonic()
    response = ask(groq(fake, retry_backoff=5.0))  # Retry-After wins over our backoff
    elapsed = time.monotonic() - started
    assert response.text == "ok"
    assert len(fake.requests) == 2
    assert 0.9 <= elapsed < 3
    # The SDK's own retry loop is off: every request is its first.
    assert {r.headers["x-stainless-retry-count"] for r in fake.requests} == {"0"}


def test_500_then_200_is_retried(fake):
    fake.then(server_error(500), server_error(503), "fine")
    assert ask(groq(fake)).text == "fine"
    assert len(fake.requests) == 3


def test_a_200_that_is_not_a_chat_completion_is_transient_and_retried(fake):
    html = Reply(body="<html>502 Bad gateway</html>", headers={"Content-Type": "text/html"})
    cut = Reply(body="{not json", headers={"Content-Type": "application/json"})
    fake.then(html, cut, "fine")
    assert ask(groq(fake)).text == "fine"
    assert len(fake.requests) == 3

    fake.then(html, html, html)
    with pytest.raises(TransientAiProviderError) as raised:
        ask(groq(fake, max_retries=2))
    assert raised.value.message.startswith("groq answered HTTP 200 without a JSON chat completion")


def test_retries_are_bounded_and_keep_retry_after(fake):
    fake.then(rate_limited("0"), rate_limited("0"), rate_limited("0"))
    with pytest.raises(TransientAiProviderError) as raised:
        ask(groq(fake, max_retries=1))
    assert len(fake.requests) == 2
    assert raised.value.status == 429 and raised.value.retry_after == 0.0
    assert raised.value.message.startswith("groq rate limit (HTTP 429): Rate limit reached")
    assert raised.value.message.endswith("(2 attempts)")


def test_a_long_retry_after_is_left_to_the_step(fake):
    fake.then(rate_limited("120"))
    started = time.monotonic()
    with pytest.raises(TransientAiProviderError) as raised:
        ask(groq(fake, max_retry_wait=30))
    assert time.monotonic() - started < 1
    assert raised.value.retry_after == 120.0 and len(fake.requests) == 1


def test_no_retry_past_the_deadline(fake):
    fake.then(rate_limited("5"))
    provider = groq(fake, max_retry_wait=60)
    with pytest.raises(TransientAiProviderError):
        provider.complete(
            ChatRequest(messages=[{"role": "user", "content": "x"}]),
            deadline=time.monotonic() + 2,
        )
    assert len(fake.requests) == 1


def test_401_is_not_retried_and_names_the_variable(fake):
    provider = groq(fake, api_key="gsk_wrong_key_value")
    with pytest.raises(AiProviderError) as raised:
        ask(provider)
    assert not isinstance(raised.value, TransientAiProviderError)
    assert raised.value.message == (
        "groq rejected the API key in GROQ_API_KEY (HTTP 401): Invalid API Key"
    )
    assert "gsk_wrong_key_value" not in raised.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            error_reply(
                404, "The model `mixtral-8x7b-32768` does not exist", code="model_not_found"
            ),
            "groq: not found (HTTP 404): The model `mixtral-8x7b-32768` does not exist; check "
            "the model (openai/gpt-oss-120b) and base_url",
        ),
        (
            error_reply(400, "max_completion_tokens must be at least 1"),
            "groq refused the request (HTTP 400): max_completion_tokens must be at least 1",
        ),
        (
            error_reply(403, "Organization restricted"),
            "groq refused the request (HTTP 403): Organization restricted; check that the key "
            "in GROQ_API_KEY may use model openai/gpt-oss-120b",
        ),
    ],
)
def test_other_4xx_fail_at_once(fake, reply, expected):
    fake.then(reply)
    with pytest.raises(AiProviderError) as raised:
        ask(groq(fake))
    assert not isinstance(raised.value, TransientAiProviderError)
    assert raised.value.message == expected
    assert len(fake.requests) == 1


def test_json_validate_failed_hands_back_the_failed_generation(fake):
    fake.then(json_validate_failed('{"keywords": ["saas",'))
    with pytest.raises(InvalidJsonAnswer) as raised:
        ask(groq(fake), json_mode=True)
    assert raised.value.text == '{"keywords": ["saas",'
    assert len(fake.requests) == 1


def test_a_slow_server_times_out_and_is_retried(fake):
    fake.then(Reply(json={}, delay=1.5), "late but fine")
    started = time.monotonic()
    assert ask(groq(fake, timeout=0.3)).text == "late but fine"
    assert time.monotonic() - started < 1.4
    assert len(fake.requests) == 2


def test_timeout_after_the_last_attempt(fake):
    fake.then(Reply(json={}, delay=1.5))
    with pytest.raises(TransientAiProviderError, match=r"did not answer within 0.3 s"):
        ask(groq(fake, timeout=0.3, max_retries=0))


def test_connection_refused_is_transient():
    with LoopbackServer() as gone:
        url = gone.url
    provider = get_provider(
        "groq",
        ProviderOptions(
            name="groq", base_url=url, api_key=KEY, api_key_env="GROQ_API_KEY", max_retries=0
        ),
    )
    with pytest.raises(TransientAiProviderError, match="groq could not be reached"):
        ask(provider)


def test_missing_key_names_the_variable():
    with pytest.raises(AiProviderError, match="GROQ_API_KEY is not set"):
        get_provider("groq", ProviderOptions(name="groq", api_key_env="GROQ_API_KEY"))


def test_the_key_stays_out_of_the_sdk_logs(fake, caplog):
    with caplog.at_level(logging.DEBUG):
        ask(groq(fake))
    assert caplog.text  # the SDK and httpx did log the request
    assert KEY not in caplog.text


def test_a_redirect_is_not_followed_and_is_reported(fake):
    """Regression: the SDK followed a 307 to another host and sent it the prompt (customer
    data), dropping only the Authorization header."""
    with LoopbackServer() as elsewhere:
        elsewhere.route("POST", GROQ_PATH, Reply(json={}))
        fake.then(
            Reply(status=307, headers={"Location": elsewhere.url + GROQ_PATH}),
            Reply(status=302, headers={"Location": "/moved" + GROQ_PATH}),
        )
        with pytest.raises(AiProviderError) as caught:
            ask(groq(fake), content="Acme's customer list")
        assert not isinstance(caught.value, TransientAiProviderError)
        assert elsewhere.requests == [] and len(fake.requests) == 1
        assert caught.value.message == (
            f"groq answered HTTP 307, a redirect to 127.0.0.1:{elsewhere.port}, which is not "
            "followed (the prompt and the key would go with it): if that address is the right "
            "one, set it as base_url under [ai] or [ai.groq]"
        )
        with pytest.raises(
            AiProviderError, match=f"HTTP 302, a redirect to 127.0.0.1:{fake.http.port}"
        ):
            ask(groq(fake))  # a relative Location: the same host
        assert len(fake.requests) == 2
