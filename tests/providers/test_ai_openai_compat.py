"""The openai provider (any OpenAI-compatible chat-completions server) with httpx against a
fake server on 127.0.0.1: POST {base_url}/chat/completions, keys only when configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hunter_cli.providers.ai import get_provider
from hunter_cli.providers.ai.base import (
    AiProviderError,
    ChatRequest,
    ProviderOptions,
    TransientAiProviderError,
)
from tests.ai_server import OPENAI_PATH, FakeChatServer, rate_limited, server_error
from tests.servers import LoopbackServer, Reply

KEY = "sk-test-openai-secret-value"


@pytest.fixture
def fake() -> Iterator[FakeChatServer]:
    with LoopbackServer() as http:
        yield FakeChatServer(http)


def openai(fake: FakeChatServer, **options):
    values = {
        "name": "openai",
        "model": "llama3.2",
        "base_url": fake.openai_base_url,
        "retry_backoff": 0.0,
        **options,
    }
    return get_provider("openai", ProviderOptions(**values))


def ask(provider, **request):
    return provider.complete(ChatRequest(messages=[{"role": "user", "content": "Hi"}], **request))


def test_local_server_without_a_key(fake):
    response = ask(openai(fake), max_tokens=20, temperature=0, json_mode=True)
    assert response.provider == "openai" and response.model == "llama3.2"
    usage = response.usage
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    [request] = fake.requests
    assert request.path == OPENAI_PATH
    assert "authorization" not in request.headers  # no key configured, none sent
    assert request.json() == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": False,
        "temperature": 0,
        "max_tokens": 20,
        "response_format": {"type": "json_object"},
    }


def test_key_sent_as_bearer_when_configured(fake):
    fake.api_key = KEY
    ask(
        openai(fake, api_key=KEY, api_key_env="OPENAI_API_KEY", base_url=fake.openai_base_url + "/")
    )
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert fake.requests[0].path == OPENAI_PATH


def test_401_names_the_variable_or_says_how_to_configure_one(fake):
    fake.api_key = KEY
    with pytest.raises(AiProviderError) as raised:
        ask(openai(fake, api_key="sk-wrong", api_key_env="OPENAI_API_KEY"))
    assert raised.value.message == "openai rejected the API key in OPENAI_API_KEY (HTTP 401): " + (
        "Invalid API Key"
    )
    with pytest.raises(AiProviderError, match=r"set api_key_env under \[ai.openai\]"):
        ask(openai(fake))
    assert len(fake.requests) == 2


def test_ollama_style_error_body(fake):
    fake.then(Reply(status=404, json={"error": 'model "nope" not found, try pulling it first'}))
    with pytest.raises(AiProviderError) as raised:
        ask(openai(fake, model="nope"))
    assert raised.value.message == (
        'openai: not found (HTTP 404): model "nope" not found, try pulling it first; check the '
        "model (nope) and base_url"
    )


def test_5xx_and_429_are_retried(fake):
    fake.then(server_error(502), rate_limited("0"), "ok")
    assert ask(openai(fake)).text == "ok"
    assert len(fake.requests) == 3


def test_retries_exhausted(fake):
    fake.then(server_error(503), server_error(503), server_error(503), "never asked for")
    with pytest.raises(TransientAiProviderError, match=r"HTTP 503.*\(3 attempts\)"):
        ask(openai(fake, max_retries=2))
    assert len(fake.requests) == 3


def test_answer_without_usage_or_model(fake):
    fake.answer = lambda body: Reply(
        json={"choices": [{"index": 0, "message": {"role": "assistant", "content": "hey"}}]}
    )
    response = ask(openai(fake))
    assert response.text == "hey" and response.model == "llama3.2"
    assert response.usage == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body="<html>proxy login</html>", headers={"Content-Type": "text/html"}),
        Reply(json={"choices": []}),
    ],
)
def test_an_answer_that_is_not_a_completion(fake, reply):
    fake.then(reply)
    with pytest.raises(AiProviderError) as raised:
        ask(openai(fake))
    assert not isinstance(raised.value, TransientAiProviderError)
    assert "openai answered" in raised.value.message


def test_model_is_required():
    with pytest.raises(AiProviderError, match=r"needs a model: set model under \[ai.openai\]"):
        get_provider("openai", ProviderOptions(name="openai"))


def test_timeout(fake):
    fake.then(Reply(json={}, delay=1.5))
    with pytest.raises(TransientAiProviderError, match=r"did not answer within 0.2 s"):
        ask(openai(fake, timeout=0.2, max_retries=0))


def test_a_redirect_is_not_followed_and_is_reported(fake):
    fake.then(Reply(status=308, headers={"Location": "https://elsewhere.example/v1/chat"}))
    with pytest.raises(AiProviderError) as caught:
        ask(openai(fake, api_key_env="OPENAI_API_KEY", api_key=KEY))
    assert not isinstance(caught.value, TransientAiProviderError)
    assert caught.value.message.startswith(
        "openai answered HTTP 308, a redirect to elsewhere.example, which is not followed"
    )
    assert len(fake.requests) == 1
